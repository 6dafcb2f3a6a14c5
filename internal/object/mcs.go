package object

import (
	"net/netip"
	"slices"
	"strconv"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

// Multi-cluster Services (KEP-1645): a ServiceImport, and the EndpointSlices
// an MCS controller writes for it, labelled with the imported Service's name
// and the cluster each slice's endpoints come from.
const (
	LabelMCSService    = mcsv1beta1.LabelServiceName   // multicluster.kubernetes.io/service-name
	LabelSourceCluster = mcsv1beta1.LabelSourceCluster // multicluster.kubernetes.io/source-cluster
)

// Import is what a ServiceImport adds to its Service: the clusterset IPs of
// a ClusterSetIP import and its ports (a headless import's ports are its
// slices').
type Import struct {
	IPs   []netip.Addr // spec.ips, valid ones only
	Ports []Port       // spec.ports
}

func (i *Import) same(o *Import) bool {
	if i == nil || o == nil {
		return i == o
	}
	return slices.Equal(i.IPs, o.IPs) && slices.Equal(i.Ports, o.Ports)
}

// importSpec is the part of a ServiceImport's spec read here, alike in
// v1alpha1 and v1beta1 (v1alpha1 has no trafficDistribution).
type importSpec struct {
	meta    meta.ObjectMeta
	typ     string
	ips     []string
	ports   []discovery.EndpointPort
	traffic *string
}

// TransformServiceImport reduces a ServiceImport of either version to a
// Service: headless when its type is Headless, with Import set.
func TransformServiceImport(obj any) (any, error) { return Counter(nil).TransformServiceImport(obj) }

// TransformServiceImport is TransformServiceImport, counting skipped parts.
func (c Counter) TransformServiceImport(obj any) (any, error) {
	var in importSpec
	switch s := obj.(type) {
	case *mcsv1beta1.ServiceImport:
		in = importSpec{meta: s.ObjectMeta, typ: string(s.Spec.Type), ips: s.Spec.IPs, traffic: s.Spec.TrafficDistribution}
		for _, p := range s.Spec.Ports {
			in.ports = append(in.ports, endpointPort(p.Name, p.Protocol, p.Port))
		}
	case *mcsv1alpha1.ServiceImport:
		in = importSpec{meta: s.ObjectMeta, typ: string(s.Spec.Type), ips: s.Spec.IPs}
		for _, p := range s.Spec.Ports {
			in.ports = append(in.ports, endpointPort(p.Name, p.Protocol, p.Port))
		}
	default:
		return obj, nil // tombstones and already transformed objects pass unchanged
	}
	m := &in.meta
	bad := &invalidParts{resource: "serviceimports", namespace: m.Namespace, name: m.Name, revision: m.ResourceVersion, count: c}
	out := &Service{
		ObjectMeta: meta.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, Labels: m.Labels, UID: m.UID},
		Headless:   in.typ == string(mcsv1beta1.Headless),
		Policy:     policyFrom(in.traffic, m.Annotations, bad),
		Import:     &Import{},
	}
	if len(in.ports) > 0 {
		out.Import.Ports = slicePorts(in.ports, bad)
	}
	if !out.Headless {
		for i, raw := range in.ips {
			a, err := netip.ParseAddr(raw)
			if err != nil || a.Zone() != "" || a.Is4In6() || a.IsUnspecified() {
				bad.add("ip", "ips["+strconv.Itoa(i)+"] "+strconv.Quote(raw), "not an IP address")
				continue
			}
			out.Import.IPs = append(out.Import.IPs, a)
		}
	}
	if problem := validServiceName(m.Name, m.Namespace); problem != "" {
		bad.add("name", "name", problem)
		out.Headless, out.Import.IPs = false, nil // kept as an object, never published
	}
	bad.report()
	return out, nil
}

func endpointPort(name string, proto core.Protocol, port int32) discovery.EndpointPort {
	p := discovery.EndpointPort{Port: &port}
	if name != "" {
		p.Name = &name
	}
	if proto != "" {
		p.Protocol = &proto
	}
	return p
}

// importedSlice reads the MCS labels of a slice into s: the imported
// Service's name and the source cluster, which must be a DNS label (it is one
// of the slice's endpoint names' labels). False when the cluster is not one.
func importedSlice(s *Slice, labels map[string]string, invalid *invalidParts) bool {
	svc, ok := labels[LabelMCSService]
	if !ok {
		return true
	}
	s.Imported, s.Service = true, svc
	s.Cluster = labels[LabelSourceCluster]
	if errs := validation.IsDNS1123Label(s.Cluster); len(errs) > 0 {
		invalid.add("source-cluster", "label "+LabelSourceCluster+" "+strconv.Quote(s.Cluster), errs[0])
		s.Service = ""
		return false
	}
	return true
}
