package object

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// rawSlice is an EndpointSlice as read, before validation: what answers
// need of it and nothing else. Its endpoints' strings may view a decode
// buffer (views): what the Slice keeps of them is copied.
type rawSlice struct {
	meta        meta.ObjectMeta
	addressType string
	ports       []discovery.EndpointPort
	endpoints   []rawEndpoint
	prev        *Slice // read from the wire: an earlier version (codec.go)
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
// wire: r was read from the watch stream by the codec. Its strings view the
// event's bytes (what the Slice keeps of them is copied), each endpoint
// carries the hash of its bytes, and an endpoint marked reuse stands for
// one of r.prev's (see codec.go).
func sliceFromRaw(r *rawSlice, wire bool, count Counter) *Slice {
	m := &r.meta
	s := &Slice{
		ObjectMeta: meta.ObjectMeta{Name: m.Name, Namespace: m.Namespace, ResourceVersion: m.ResourceVersion, Labels: m.Labels, UID: m.UID, Annotations: triggerOnly(m.Annotations)},
		Service:    m.Labels[LabelServiceName],
	}
	red := reducer{meta: m, keep: func(s string) string { return s },
		invalid: invalidParts{resource: "endpointslices", namespace: m.Namespace, name: m.Name, revision: m.ResourceVersion, count: count}}
	defer red.invalid.report()
	if wire {
		red.keep = strings.Clone
	}
	if !importedSlice(s, m.Labels, &red.invalid) {
		return s
	}
	if s.Service != "" {
		if problem := validServiceName(s.Service, m.Namespace); problem != "" {
			red.invalid.add("service-name", "label "+LabelServiceName+" "+strconv.Quote(s.Service), problem)
			s.Service = ""
			return s
		}
	}
	red.family = familyOf(r.addressType)
	if red.family == 0 {
		return s // FQDN slices carry no addresses to publish
	}
	s.family = int8(red.family)
	s.Ports = slicePorts(r.ports, &red.invalid)
	s.Endpoints = make([]Endpoint, 0, len(r.endpoints))
	red.pool = make([]netip.Addr, 0, r.addressCount()) // one array for the slice's addresses
	if wire {
		s.sums = make([]epSum, len(r.endpoints))
	}
	for i := range r.endpoints {
		e := &r.endpoints[i]
		var ep Endpoint
		ok := false
		if e.reuse >= 0 && r.prev != nil {
			ep, ok = red.reused(r.prev.Endpoints[e.reuse]), true
		} else {
			ep, ok = red.endpoint(i, e)
		}
		if wire {
			s.sums[i] = epSum{h: e.sum, ep: -1}
			if ok {
				s.sums[i].ep = int32(len(s.Endpoints))
			}
		}
		if ok {
			s.Endpoints = append(s.Endpoints, ep)
		}
	}
	return s
}

// addressCount is how many addresses the slice's endpoints hold.
func (r *rawSlice) addressCount() int {
	n := 0
	for i := range r.endpoints {
		if e := &r.endpoints[i]; e.reuse >= 0 && r.prev != nil {
			n += len(r.prev.Endpoints[e.reuse].Addrs)
		} else {
			n += len(e.addresses)
		}
	}
	return n
}

// reducer is the working state of one slice's reduction.
type reducer struct {
	meta    *meta.ObjectMeta
	family  int                 // 4 or 6
	keep    func(string) string // what a kept string goes through: a copy when it views a buffer
	pool    []netip.Addr        // the slice's addresses, one array
	recent  recentLocs          // a slice's endpoints run on few places
	invalid invalidParts        // what was skipped, reported once the slice is reduced
}

// endpoint reduces and validates endpoint i; false when nothing of it is
// published (an invalid hostname, no valid address).
func (red *reducer) endpoint(i int, e *rawEndpoint) (Endpoint, bool) {
	ep := Endpoint{
		Ready:       condition(e.ready, true),
		Serving:     condition(e.serving, condition(e.ready, true)),
		Terminating: condition(e.terminating, false),
	}
	if e.hostname != "" {
		if problem := validLabel(e.hostname); problem != "" {
			red.invalid.add("hostname", "endpoint "+strconv.Itoa(i)+" (hostname "+strconv.Quote(e.hostname)+")", problem)
			return ep, false // never published under another name than the one asked for
		}
		ep.Hostname = red.keep(e.hostname)
	}
	if !red.addresses(i, e, &ep) {
		return ep, false
	}
	if len(e.targetName) < 64 && validLabel(e.targetName) == "" {
		if e.targetName == ep.Hostname {
			ep.TargetName = ep.Hostname // a StatefulSet's pods: one copy
		} else {
			ep.TargetName = red.keep(e.targetName)
		}
	}
	l := Loc{Node: e.node, Zone: strings.ToLower(e.zone)}
	l.HintZones, l.HintNodes = hintsOf(e.hintZones, e.hintNodes)
	ep.Loc = red.recent.intern(l) // the interner keeps copies of its own
	return ep, true
}

// addresses validates e's addresses into ep (in the slice's pool); false
// when none is valid.
func (red *reducer) addresses(i int, e *rawEndpoint, ep *Endpoint) bool {
	first := len(red.pool)
	var raws []string
	nonCanonical := false
	for _, raw := range e.addresses {
		addr, problem := validAddress(raw, red.family)
		if problem != "" {
			red.invalid.add("address", "endpoint "+strconv.Itoa(i)+" address "+strconv.Quote(raw), problem)
			continue
		}
		red.pool = append(red.pool, addr)
		// an IPv4 address that parses is written canonically (netip
		// refuses leading zeros); IPv6 may not be (case, zeros)
		if red.family == 6 {
			raws = append(raws, raw)
			nonCanonical = nonCanonical || isNonCanonical(raw)
		}
	}
	ep.Addrs = red.pool[first:len(red.pool):len(red.pool)]
	if len(ep.Addrs) == 0 {
		return false
	}
	if nonCanonical {
		kept := make([]string, len(raws)) // (&raws would put a variable on the heap per endpoint)
		for i, raw := range raws {
			kept[i] = red.keep(raw)
		}
		ep.Raw = &kept // every address as written, when one is not canonical
	}
	return true
}

// slicePorts validates ports as the API server does (and defaults a missing
// protocol to TCP as its defaulting does). A slice without ports gets the
// stock plugin's sentinel port -1: addresses, but no SRV.
func slicePorts(in []discovery.EndpointPort, invalid *invalidParts) []Port {
	if len(in) == 0 {
		return []Port{{Port: -1}}
	}
	out := make([]Port, 0, len(in))
	for i, p := range in {
		port := Port{Port: -1, Protocol: "tcp"}
		bad := func(reason, problem string) { invalid.add(reason, portPart(i, p), problem) }
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

// portPart names a slice's port i: by its name, else by its place.
func portPart(i int, p discovery.EndpointPort) string {
	if p.Name != nil && *p.Name != "" {
		return "port " + strconv.Quote(*p.Name)
	}
	return "port " + strconv.Itoa(i)
}

// AnnotationTriggerTime is when the change a slice carries began (the
// endpointslice controller sets it from the pod change it reacts to): the
// one annotation of a slice that is kept, for programming latency.
const AnnotationTriggerTime = "endpoints.kubernetes.io/last-change-trigger-time"

// triggerOnly keeps of a slice's annotations AnnotationTriggerTime and the
// API server's mark of the end of a watch-list's initial events (on the
// bookmark that ends them: without it the reflector never syncs).
func triggerOnly(a map[string]string) map[string]string {
	var out map[string]string
	for _, k := range [...]string{AnnotationTriggerTime, meta.InitialEventsAnnotationKey} {
		if v, ok := a[k]; ok {
			if out == nil {
				out = make(map[string]string, 2)
			}
			out[k] = v
		}
	}
	return out
}
