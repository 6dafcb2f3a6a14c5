package object

import (
	"maps"
	"net/netip"
	"slices"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Labels and values the Kubernetes controllers put on EndpointSlices.
const (
	LabelHeadless     = "service.kubernetes.io/headless"
	LabelManagedBy    = discovery.LabelManagedBy
	LabelServiceName  = discovery.LabelServiceName
	ManagerController = "endpointslice-controller.k8s.io"
)

// Service is what the index keeps of a core/v1 Service: its identity, its
// labels (the labels option selects on them) and whether it is headless.
type Service struct {
	meta.TypeMeta
	meta.ObjectMeta
	Headless bool
	Selector bool    // has a pod selector (else its endpoints are written by hand or another manager)
	Policy   Policy  // from spec.trafficDistribution and headless.dns/* annotations
	Import   *Import // a ServiceImport's (mcs.go); nil for a Service
}

// DeepCopyObject implements runtime.Object.
func (s *Service) DeepCopyObject() runtime.Object {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// SameContent reports whether two revisions of a Service answer alike.
func (s *Service) SameContent(o *Service) bool {
	return s.Headless == o.Headless && s.Selector == o.Selector && s.Policy == o.Policy && maps.Equal(s.Labels, o.Labels) &&
		s.Import.same(o.Import)
}

// Slice is what the index keeps of a discovery/v1 EndpointSlice, validated:
// every address, hostname and port in it is one the API server would accept.
// Not-ready endpoints are kept with their conditions for publish policies.
type Slice struct {
	meta.TypeMeta
	meta.ObjectMeta
	Service   string // kubernetes.io/service-name; of an imported slice, multicluster.kubernetes.io/service-name
	Imported  bool   // labelled multicluster.kubernetes.io/service-name: the endpoints of a ServiceImport (mcs.go)
	Cluster   string // of an imported slice: multicluster.kubernetes.io/source-cluster
	Ports     []Port
	Endpoints []Endpoint
	sums      []epSum // read from the watch stream (codec.go): each endpoint's hash, in the slice's order
	family    int8    // 4 or 6: the address type its endpoints were read under; 0 none
}

// Hashes is how many endpoint hashes the slice carries: as many as the
// endpoints of its protobuf when the codec read it, 0 otherwise.
func (s *Slice) Hashes() int { return len(s.sums) }

// epSum is the hash of one endpoint's protobuf and where it went: its index
// in Endpoints, or -1 when it was not kept (invalid, or no valid address).
type epSum struct {
	h  uint64
	ep int32
}

// DeepCopyObject implements runtime.Object. Slices are immutable once stored,
// so the endpoint and port slices are shared.
func (s *Slice) DeepCopyObject() runtime.Object {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// SameContent reports whether two revisions of a slice answer alike.
func (s *Slice) SameContent(o *Slice) bool {
	return s.Service == o.Service && s.Imported == o.Imported && s.Cluster == o.Cluster && slices.Equal(s.Ports, o.Ports) &&
		slices.EqualFunc(s.Endpoints, o.Endpoints, func(a, b Endpoint) bool { return SameEndpoint(&a, &b) })
}

// SameEndpoint reports whether two endpoints answer alike.
func SameEndpoint(a, b *Endpoint) bool {
	return slices.Equal(a.Addrs, b.Addrs) && (a.Raw == nil) == (b.Raw == nil) && (a.Raw == nil || slices.Equal(*a.Raw, *b.Raw)) &&
		a.Hostname == b.Hostname && a.TargetName == b.TargetName && (a.Loc == b.Loc || *a.Loc == *b.Loc) &&
		a.Ready == b.Ready && a.Serving == b.Serving && a.Terminating == b.Terminating
}

// Port is one EndpointSlice port; Port is -1 when the slice has no ports.
// Name and Protocol are lowercase, as names are matched.
type Port struct {
	Name     string
	Protocol string
	Port     int32
}

// Endpoint is one EndpointSlice endpoint.
type Endpoint struct {
	Addrs       []netip.Addr
	Raw         *[]string // the addresses as written, only when one is not canonical (stock builds dashed names from them)
	Hostname    string
	TargetName  string // targetRef name when shorter than 64 characters
	Loc         *Loc   // node, zone (lowercased, as the stock plugin compares zones) and hints: interned, never nil
	Ready       bool   // conditions.ready true or absent
	Serving     bool   // conditions.serving true or absent
	Terminating bool
}

// AddrString is address i as written in the slice.
func (e *Endpoint) AddrString(i int) string {
	if e.Raw != nil {
		return (*e.Raw)[i]
	}
	return e.Addrs[i].String()
}

func isNonCanonical(raw string) bool {
	a, err := netip.ParseAddr(raw)
	return err != nil || a.String() != raw
}

func condition(b *bool, absent bool) bool {
	if b == nil {
		return absent
	}
	return *b
}

// TransformService keeps only what answers need of a Service. A Service whose
// name the API server would reject is dropped (and reported).
func TransformService(obj any) (any, error) { return Counter(nil).TransformService(obj) }

// TransformSlice keeps only what answers need of an EndpointSlice.
func TransformSlice(obj any) (any, error) { return Counter(nil).TransformSlice(obj) }

// SliceFromAPI reduces and validates a slice decoded into its API type (a
// list, the manifests, a fake clientset in tests).
func SliceFromAPI(es *discovery.EndpointSlice) *Slice { return Counter(nil).SliceFromAPI(es) }

// TransformService is TransformService, counting skipped parts.
func (c Counter) TransformService(obj any) (any, error) {
	s, ok := obj.(*core.Service)
	if !ok {
		return obj, nil // tombstones and already transformed objects pass unchanged
	}
	bad := &invalidParts{resource: "services", namespace: s.Namespace, name: s.Name, revision: s.ResourceVersion, count: c}
	out := &Service{
		ObjectMeta: meta.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion, Labels: s.Labels, UID: s.UID},
		Headless:   s.Spec.ClusterIP == core.ClusterIPNone,
		Selector:   len(s.Spec.Selector) > 0,
		Policy:     policyOf(s, bad),
	}
	if problem := validServiceName(s.Name, s.Namespace); problem != "" {
		bad.add("name", "name", problem)
		out.Headless = false // kept as an object, never published
	}
	bad.report()
	return out, nil
}

// TransformSlice is TransformSlice, counting skipped parts.
func (c Counter) TransformSlice(obj any) (any, error) {
	es, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return obj, nil
	}
	return c.SliceFromAPI(es), nil
}

// SliceFromAPI is SliceFromAPI, counting skipped parts.
func (c Counter) SliceFromAPI(es *discovery.EndpointSlice) *Slice {
	r := rawSlice{meta: es.ObjectMeta, addressType: string(es.AddressType), ports: es.Ports,
		endpoints: make([]rawEndpoint, len(es.Endpoints))}
	for i, e := range es.Endpoints {
		re := &r.endpoints[i]
		re.addresses = e.Addresses
		re.ready, re.serving, re.terminating = e.Conditions.Ready, e.Conditions.Serving, e.Conditions.Terminating
		re.hostname, re.node, re.zone = deref(e.Hostname), deref(e.NodeName), deref(e.Zone)
		if e.TargetRef != nil {
			re.targetName = e.TargetRef.Name
		}
		if e.Hints != nil {
			for _, z := range e.Hints.ForZones {
				re.hintZones = append(re.hintZones, z.Name)
			}
			for _, n := range e.Hints.ForNodes {
				re.hintNodes = append(re.hintNodes, n.Name)
			}
		}
	}
	return sliceFromRaw(&r, false, c)
}

// familyOf is 4 or 6 for an IP address type, else 0.
func familyOf(t string) int {
	switch discovery.AddressType(t) {
	case discovery.AddressTypeIPv4:
		return 4
	case discovery.AddressTypeIPv6:
		return 6
	}
	return 0
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
