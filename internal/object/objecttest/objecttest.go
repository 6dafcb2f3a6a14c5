// Package objecttest builds the API objects tests feed the plugin: headless
// and ClusterIP Services and EndpointSlices as the endpointslice controller
// or another manager writes them.
package objecttest

import (
	"bytes"
	"testing"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

// HeadlessService is a Service with clusterIP None.
func HeadlessService(ns, name string, lbls map[string]string) *core.Service {
	return &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone}}
}

// ClusterIPService is a Service with a cluster IP.
func ClusterIPService(ns, name, ip string) *core.Service {
	return &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name}, Spec: core.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}}}
}

// EP is one endpoint of a slice: an address, and optionally a hostname, a
// target pod, a zone; ready unless NotReady.
type EP struct {
	IP, Host, Target, Zone string
	NotReady               bool
	Terminating            bool // terminating and still serving (not ready)
}

// PT is one port of a slice.
type PT struct {
	Name, Proto string
	Port        int32
}

// HTTP80 is the ports of a slice serving http on 80/TCP.
var HTTP80 = []PT{{"http", "TCP", 80}}

// Slice builds an EndpointSlice; manager "" means the endpointslice
// controller (with the headless label), anything else a selector-less
// Service's slice.
func Slice(ns, name, svc string, t discovery.AddressType, manager string, ports []PT, eps ...EP) *discovery.EndpointSlice {
	lbls := map[string]string{discovery.LabelServiceName: svc}
	if manager == "" {
		lbls[discovery.LabelManagedBy] = "endpointslice-controller.k8s.io" // as object.ManagerController
		lbls["service.kubernetes.io/headless"] = ""                        // as object.LabelHeadless (object's own tests use this package)
	} else {
		lbls[discovery.LabelManagedBy] = manager
	}
	s := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, AddressType: t}
	for _, p := range ports {
		proto := core.Protocol(p.Proto)
		s.Ports = append(s.Ports, discovery.EndpointPort{Name: &p.Name, Protocol: &proto, Port: &p.Port})
	}
	for _, e := range eps {
		ready := !e.NotReady && !e.Terminating
		d := discovery.Endpoint{Addresses: []string{e.IP}, Conditions: discovery.EndpointConditions{Ready: &ready}}
		if e.Terminating {
			d.Conditions.Serving, d.Conditions.Terminating = &e.Terminating, &e.Terminating
		}
		if e.Host != "" {
			d.Hostname = &e.Host
		}
		if e.Target != "" {
			d.TargetRef = &core.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.Target}
		}
		if e.Zone != "" {
			d.Zone = &e.Zone
		}
		s.Endpoints = append(s.Endpoints, d)
	}
	return s
}

// Protobuf encodes o as the API server sends it (an EndpointSlice, a list
// of them, or a Status).
func Protobuf(t testing.TB, o runtime.Object) []byte {
	t.Helper()
	var b bytes.Buffer
	gv := discovery.SchemeGroupVersion
	if _, ok := o.(*meta.Status); ok {
		gv = core.SchemeGroupVersion
	}
	enc := scheme.Codecs.EncoderForVersion(protobuf.NewSerializer(scheme.Scheme, scheme.Scheme), gv)
	if err := enc.Encode(o, &b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
