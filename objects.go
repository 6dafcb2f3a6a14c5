package headless

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Labels and values the Kubernetes controllers put on EndpointSlices.
const (
	labelHeadless     = "service.kubernetes.io/headless"
	labelManagedBy    = discovery.LabelManagedBy
	labelServiceName  = discovery.LabelServiceName
	managerController = "endpointslice-controller.k8s.io"
)

// Service is what the index keeps of a core/v1 Service: its identity, its
// labels (the labels option selects on them) and whether it is headless.
type Service struct {
	meta.TypeMeta
	meta.ObjectMeta
	Headless bool
	Selector bool   // has a pod selector (else its endpoints are written by hand or another manager)
	Policy   policy // from spec.trafficDistribution and headless.dns/* annotations
}

// DeepCopyObject implements runtime.Object.
func (s *Service) DeepCopyObject() runtime.Object {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// sameContent reports whether two revisions of a Service answer alike.
func (s *Service) sameContent(o *Service) bool {
	return s.Headless == o.Headless && s.Selector == o.Selector && s.Policy == o.Policy && maps.Equal(s.Labels, o.Labels)
}

// Slice is what the index keeps of a discovery/v1 EndpointSlice, validated:
// every address, hostname and port in it is one the API server would accept.
// Not-ready endpoints are kept with their conditions for publish policies.
type Slice struct {
	meta.TypeMeta
	meta.ObjectMeta
	Service   string // kubernetes.io/service-name
	Ports     []Port
	Endpoints []Endpoint
	sums      []epSum // read from the wire (wire.go): each endpoint's hash, in the slice's order
	family    int8    // 4 or 6: the address type its endpoints were read under; 0 none
}

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

// sameContent reports whether two revisions of a slice answer alike.
func (s *Slice) sameContent(o *Slice) bool {
	return s.Service == o.Service && slices.Equal(s.Ports, o.Ports) &&
		slices.EqualFunc(s.Endpoints, o.Endpoints, func(a, b Endpoint) bool { return sameEndpoint(&a, &b) })
}

// sameEndpoint reports whether two endpoints answer alike.
func sameEndpoint(a, b *Endpoint) bool {
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
	Loc         *epLoc // node, zone (lowercased, as the stock plugin compares zones) and hints: interned, never nil
	Ready       bool   // conditions.ready true or absent
	Serving     bool   // conditions.serving true or absent
	Terminating bool
}

// addrString is address i as written in the slice.
func (e *Endpoint) addrString(i int) string {
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

// transformService keeps only what answers need of a Service. A Service whose
// name the API server would reject is dropped (and reported).
func transformService(obj any) (any, error) {
	s, ok := obj.(*core.Service)
	if !ok {
		return obj, nil // tombstones and already transformed objects pass unchanged
	}
	out := &Service{
		ObjectMeta: meta.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion, Labels: s.Labels, UID: s.UID},
		Headless:   s.Spec.ClusterIP == core.ClusterIPNone,
		Selector:   len(s.Spec.Selector) > 0,
		Policy:     policyOf(s),
	}
	if problem := validServiceName(s.Name, s.Namespace); problem != "" {
		reportInvalid("services", s.Namespace, s.Name, s.ResourceVersion, "name", problem)
		out.Headless = false // kept as an object, never published
	}
	return out, nil
}

// transformSlice keeps only what answers need of an EndpointSlice.
func transformSlice(obj any) (any, error) {
	es, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return obj, nil
	}
	return sliceFromAPI(es), nil
}

// sliceFromAPI reduces and validates a slice decoded into its API type (a
// list, the manifests, a fake clientset in tests).
func sliceFromAPI(es *discovery.EndpointSlice) *Slice {
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
	return sliceFromRaw(&r, false, nil)
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

// rawSlice is an EndpointSlice as read, before validation: what answers
// need of it and nothing else. Its endpoints' strings may view a decode
// buffer (views): what the Slice keeps of them is copied.
type rawSlice struct {
	meta        meta.ObjectMeta
	addressType string
	ports       []discovery.EndpointPort
	endpoints   []rawEndpoint
	prev        *Slice // read from the wire: an earlier version (wire.go)
}

// rawEndpoint is one endpoint as read. An absent hostname, node, zone or
// targetRef reads as "", as the index treats them alike.
type rawEndpoint struct {
	addresses                   []string
	ready, serving, terminating *bool // nil when absent
	hostname, targetName        string
	node, zone                  string
	hintZones, hintNodes        []string
	sum                         uint64 // read from the wire: the hash of its protobuf
	reuse                       int32  // >= 0: the same bytes as prev's endpoint of that index (not read)
}

// sliceFromRaw reduces and validates a slice. What the API server would
// reject is skipped at the smallest unit that keeps the rest right (a port,
// an address, an endpoint) and reported once per revision.
//
// prev, when not nil, is an earlier Slice of the wire whose endpoints r's
// endpoints marked reuse stand for (the same bytes read under the same
// address type give the same Endpoint).
func sliceFromRaw(r *rawSlice, views bool, prev *Slice) *Slice {
	keep := func(s string) string { return s }
	if views {
		keep = strings.Clone
	}
	m := &r.meta
	s := &Slice{
		ObjectMeta: meta.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, Labels: m.Labels, UID: m.UID, Annotations: m.Annotations},
		Service:    m.Labels[labelServiceName],
	}
	bad := func(reason, problem string) {
		reportInvalid("endpointslices", m.Namespace, m.Name, m.ResourceVersion, reason, problem)
	}
	if s.Service != "" {
		if problem := validServiceName(s.Service, m.Namespace); problem != "" {
			bad("service-name", problem)
			s.Service = ""
			return s
		}
	}
	family := familyOf(r.addressType)
	if family == 0 {
		return s // FQDN slices carry no addresses to publish
	}
	s.family = int8(family)
	s.Ports = slicePorts(r.ports, bad)
	s.Endpoints = make([]Endpoint, 0, len(r.endpoints))
	n := 0
	for i := range r.endpoints {
		if e := &r.endpoints[i]; e.reuse >= 0 && prev != nil {
			n += len(prev.Endpoints[e.reuse].Addrs)
		} else {
			n += len(e.addresses)
		}
	}
	pool := make([]netip.Addr, 0, n) // one array for the slice's addresses
	var recent recentLocs            // a slice's endpoints run on few places
	if views {
		s.sums = make([]epSum, len(r.endpoints))
	}
	for i := range r.endpoints {
		e := &r.endpoints[i]
		if views {
			s.sums[i] = epSum{h: e.sum, ep: int32(len(s.Endpoints))}
		}
		if e.reuse >= 0 && prev != nil {
			ep := prev.Endpoints[e.reuse]
			first := len(pool)
			pool = append(pool, ep.Addrs...) // not prev's array: it would stay alive for one endpoint
			ep.Addrs = pool[first:len(pool):len(pool)]
			s.Endpoints = append(s.Endpoints, ep)
			continue
		}
		if views {
			s.sums[i].ep = -1 // until kept, below
		}
		ep := Endpoint{
			Ready:       condition(e.ready, true),
			Serving:     condition(e.serving, condition(e.ready, true)),
			Terminating: condition(e.terminating, false),
		}
		if e.hostname != "" {
			if problem := validLabel(e.hostname); problem != "" {
				bad("hostname", problem)
				continue // never published under another name than the one asked for
			}
			ep.Hostname = keep(e.hostname)
		}
		first := len(pool)
		var raws []string
		nonCanonical := false
		for _, raw := range e.addresses {
			addr, problem := validAddress(raw, family)
			if problem != "" {
				bad("address", problem)
				continue
			}
			pool = append(pool, addr)
			// an IPv4 address that parses is written canonically (netip
			// refuses leading zeros); IPv6 may not be (case, zeros)
			if family == 6 {
				raws = append(raws, raw)
				nonCanonical = nonCanonical || isNonCanonical(raw)
			}
		}
		ep.Addrs = pool[first:len(pool):len(pool)]
		if len(ep.Addrs) == 0 {
			continue
		}
		if nonCanonical {
			kept := make([]string, len(raws)) // (&raws would put a variable on the heap per endpoint)
			for i, raw := range raws {
				kept[i] = keep(raw)
			}
			ep.Raw = &kept // every address as written, when one is not canonical
		}
		if len(e.targetName) < 64 && validLabel(e.targetName) == "" {
			if e.targetName == ep.Hostname {
				ep.TargetName = ep.Hostname // a StatefulSet's pods: one copy
			} else {
				ep.TargetName = keep(e.targetName)
			}
		}
		l := epLoc{node: e.node, zone: strings.ToLower(e.zone)}
		l.hintZones, l.hintNodes = hintsOf(e.hintZones, e.hintNodes)
		ep.Loc = recent.intern(l) // the interner keeps copies of its own
		if views {
			s.sums[i].ep = int32(len(s.Endpoints))
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// slicePorts validates ports as the API server does (and defaults a missing
// protocol to TCP as its defaulting does). A slice without ports gets the
// stock plugin's sentinel port -1: addresses, but no SRV.
func slicePorts(in []discovery.EndpointPort, bad func(reason, problem string)) []Port {
	if len(in) == 0 {
		return []Port{{Port: -1}}
	}
	out := make([]Port, 0, len(in))
	for _, p := range in {
		port := Port{Port: -1, Protocol: "tcp"}
		if p.Port != nil {
			if *p.Port < 1 || *p.Port > 65535 {
				bad("port", "port number out of 1-65535")
				continue
			}
			port.Port = *p.Port
		}
		if p.Name != nil && *p.Name != "" {
			if problem := validLabel(*p.Name); problem != "" {
				bad("port", problem)
				continue
			}
			port.Name = *p.Name
		}
		if p.Protocol != nil {
			switch *p.Protocol {
			case core.ProtocolTCP, core.ProtocolUDP, core.ProtocolSCTP:
				port.Protocol = strings.ToLower(string(*p.Protocol))
			default:
				bad("port", "unsupported protocol")
				continue
			}
		}
		if slices.ContainsFunc(out, func(o Port) bool { return o.Name == port.Name }) {
			bad("port", "duplicate port name")
			continue
		}
		out = append(out, port)
	}
	if len(out) == 0 {
		return nil // every port was invalid: nothing to answer on any port
	}
	return out
}
