package headless

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/testbed"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func addrsOf(rrs []dns.RR) []string { return testbed.AddrsOf(rrs) }

func node(name, zone string, cidrs []string, addrs ...string) *core.Node {
	n := &core.Node{ObjectMeta: meta.ObjectMeta{Name: name, Labels: map[string]string{core.LabelTopologyZone: zone}}}
	n.Spec.PodCIDRs = cidrs
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, core.NodeAddress{Type: core.NodeInternalIP, Address: a})
	}
	return n
}

// topoSlice is a controller slice whose endpoints name their node and zone.
func topoSlice(ns, name, svc string, eps ...[3]string) *discovery.EndpointSlice {
	s := slice(ns, name, svc, discovery.AddressTypeIPv4, "", http80)
	for _, e := range eps {
		ready := true
		n, z := e[1], e[2]
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{e[0]}, NodeName: &n, Zone: &z,
			Conditions: discovery.EndpointConditions{Ready: &ready}})
	}
	return s
}

func withTraffic(s *core.Service, td string) *core.Service {
	s.Spec.TrafficDistribution = &td
	return s
}

func topologyCluster() []runtime.Object {
	return []runtime.Object{
		node("node-a", "zone-a", []string{"10.1.0.0/24"}, "192.168.0.1"),
		node("node-b", "zone-b", []string{"10.1.1.0/24"}, "192.168.0.2"),
		node("node-c", "zone-a", []string{"10.1.2.0/24"}, "192.168.0.3"),
		withTraffic(headlessSvc("ns", "db", nil), "PreferSameZone"),
		topoSlice("ns", "db-1", "db", [3]string{"10.1.1.10", "node-b", "zone-b"}, [3]string{"10.1.0.10", "node-a", "zone-a"},
			[3]string{"10.1.1.11", "node-b", "zone-b"}, [3]string{"10.1.2.10", "node-c", "zone-a"}),
		withTraffic(headlessSvc("ns", "near", nil), "PreferSameNode"),
		topoSlice("ns", "near-1", "near", [3]string{"10.1.1.20", "node-b", "zone-b"}, [3]string{"10.1.2.20", "node-c", "zone-a"},
			[3]string{"10.1.0.20", "node-a", "zone-a"}),
		headlessSvc("ns", "other", nil), // its endpoint 10.5.0.1 is a client outside every pod CIDR
		topoSlice("ns", "other-1", "other", [3]string{"10.5.0.1", "node-b", "zone-b"}),
		headlessSvc("ns", "plain", nil),
		topoSlice("ns", "plain-1", "plain", [3]string{"10.1.1.30", "node-b", "zone-b"}, [3]string{"10.1.0.30", "node-a", "zone-a"}),
	}
}

// chain is front -> cache -> a reversing shuffler (as loadbalance rewrites
// on the way out) -> headless, the order of a real Corefile.
func chain(h *Headless) plugin.Handler {
	c := cache.New()
	c.Next = reverser{next: h}
	h.Next = test.NextHandler(dns.RcodeNameError, nil)
	return &front{h: h, next: c}
}

type reverser struct{ next plugin.Handler }

func (r reverser) Name() string { return "reverser" }

func (r reverser) ServeDNS(ctx context.Context, w dns.ResponseWriter, m *dns.Msg) (int, error) {
	return r.next.ServeDNS(ctx, reverseWriter{w}, m)
}

type reverseWriter struct{ dns.ResponseWriter }

func (w reverseWriter) WriteMsg(m *dns.Msg) error {
	slices.Reverse(m.Answer)
	return w.ResponseWriter.WriteMsg(m)
}

func ask(t *testing.T, hd plugin.Handler, from string, tcp bool, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	w := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: from, TCP: tcp})
	if _, err := hd.ServeDNS(context.Background(), w, m); err != nil {
		t.Fatal(err)
	}
	if w.Msg == nil {
		t.Fatal("no reply")
	}
	return w.Msg
}

func TestTopologyThroughCache(t *testing.T) {
	var cz topology.PrefixTable
	cz.Add(netip.MustParsePrefix("172.16.0.0/16"), topology.ClientLoc{Zone: "zone-b"})
	h, _ := start(t, config{Topology: true, ClientZones: cz}, topologyCluster()...)
	waitFor(t, "nodes", func() bool { _, ok := h.nodes.Lookup(netip.MustParseAddr("10.1.0.5")); return ok })
	hd := chain(h)
	db := "db.ns.svc.cluster.local."
	for _, tc := range []struct {
		from, name string
		firstN     int
		first      []string
	}{
		{"10.1.0.5", db, 2, []string{"10.1.0.10", "10.1.2.10"}},    // pod on node-a (zone-a): by pod CIDR
		{"192.168.0.2", db, 2, []string{"10.1.1.10", "10.1.1.11"}}, // node-b's own address (NodeLocal DNSCache)
		{"172.16.3.3", db, 2, []string{"10.1.1.10", "10.1.1.11"}},  // client_zones zone-b
		{"10.1.2.10", db, 2, []string{"10.1.0.10", "10.1.2.10"}},   // an endpoint itself (node-c, zone-a) via CIDR
		{"10.5.0.1", db, 2, []string{"10.1.1.10", "10.1.1.11"}},    // an endpoint outside the pod CIDRs: its zone-b
		{"10.1.0.5", "near.ns.svc.cluster.local.", 1, []string{"10.1.0.20"}},
		{"10.1.2.7", "near.ns.svc.cluster.local.", 2, []string{"10.1.2.20", "10.1.0.20"}}, // node-c, then zone-a
	} {
		for i := 0; i < 3; i++ { // the first from headless, then from cache
			got := addrsOf(ask(t, hd, tc.from, false, tc.name, dns.TypeA).Answer)
			if !sameSet(got[:tc.firstN], tc.first) {
				t.Errorf("%s from %s (reply %d): %v, want %v first", tc.name, tc.from, i, got, tc.first)
			}
		}
	}
	// a Service without trafficDistribution and no default: as it comes
	got := addrsOf(ask(t, hd, "10.1.0.5", false, "plain.ns.svc.cluster.local.", dns.TypeA).Answer)
	if !slices.Equal(got, []string{"10.1.0.30", "10.1.1.30"}) { // reversed by the shuffler
		t.Errorf("plain: %v", got)
	}
	// an unknown client: as it comes (the order of one client never leaks into cache)
	got = addrsOf(ask(t, hd, "203.0.113.1", false, db, dns.TypeA).Answer)
	if !slices.Equal(got, []string{"10.1.2.10", "10.1.1.11", "10.1.0.10", "10.1.1.10"}) {
		t.Errorf("unknown client: %v", got)
	}
	// SRV priorities are per client: zone-b's 0/1 never reach another client through cache
	srv := "_http._tcp." + db
	for _, from := range []string{"192.168.0.2", "203.0.113.1", "10.1.0.5", "203.0.113.1"} {
		m := ask(t, hd, from, false, srv, dns.TypeSRV)
		var prio []uint16
		for _, rr := range m.Answer {
			prio = append(prio, rr.(*dns.SRV).Priority)
		}
		want := []uint16{0, 0, 1, 1}
		if from == "203.0.113.1" {
			want = []uint16{0, 0, 0, 0}
		}
		if !slices.Equal(prio, want) {
			t.Errorf("SRV from %s: priorities %v, want %v", from, prio, want)
		}
	}
}

func TestTopologyDefault(t *testing.T) {
	h, _ := start(t, config{Topology: true, DefaultMode: object.TrafficSameZone}, topologyCluster()...)
	waitFor(t, "nodes", func() bool { _, ok := h.nodes.Lookup(netip.MustParseAddr("10.1.0.5")); return ok })
	got := addrsOf(ask(t, chain(h), "10.1.1.5", false, "plain.ns.svc.cluster.local.", dns.TypeA).Answer)
	if !slices.Equal(got, []string{"10.1.1.30", "10.1.0.30"}) {
		t.Errorf("plain with default PreferSameZone, from zone-b: %v", got)
	}
}

func TestMaxAnswersThroughCache(t *testing.T) {
	var eps [][3]string
	for i := 0; i < 100; i++ {
		eps = append(eps, [3]string{fmt.Sprintf("10.2.%d.%d", i/200, i+1), "node-a", "zone-a"})
	}
	big := headlessSvc("ns", "big", nil)
	capped := headlessSvc("ns", "capped", nil)
	capped.Annotations = map[string]string{object.AnnotationMaxAnswers: "3"}
	uncapped := headlessSvc("ns", "uncapped", nil)
	uncapped.Annotations = map[string]string{object.AnnotationMaxAnswers: "0"}
	h, _ := start(t, config{MaxAnswers: 8}, big, topoSlice("ns", "big-1", "big", eps...),
		capped, topoSlice("ns", "capped-1", "capped", eps[:10]...), uncapped, topoSlice("ns", "uncapped-1", "uncapped", eps[:40]...))
	hd := chain(h)
	seen := map[string]bool{}
	for i := 0; i < 13; i++ {
		m := ask(t, hd, "10.9.0.1", false, "big.ns.svc.cluster.local.", dns.TypeA)
		if len(m.Answer) != 8 || m.Truncated {
			t.Fatalf("big over UDP: %d records TC %v, want 8, no TC", len(m.Answer), m.Truncated)
		}
		for _, a := range addrsOf(m.Answer) {
			seen[a] = true
		}
	}
	if len(seen) != 100 {
		t.Errorf("13 capped replies gave out %d of 100 endpoints", len(seen))
	}
	if m := ask(t, hd, "10.9.0.1", true, "big.ns.svc.cluster.local.", dns.TypeA); len(m.Answer) != 100 {
		t.Errorf("big over TCP: %d records, want 100", len(m.Answer))
	}
	if m := ask(t, hd, "10.9.0.1", false, "capped.ns.svc.cluster.local.", dns.TypeA); len(m.Answer) != 3 {
		t.Errorf("annotation max-answers 3: %d records", len(m.Answer))
	}
	m := ask(t, hd, "10.9.0.1", false, "uncapped.ns.svc.cluster.local.", dns.TypeA)
	if len(m.Answer) != 40 {
		t.Errorf("annotation max-answers 0: %d records, want all 40 (the server truncates)", len(m.Answer))
	}
	// SRV: capped with their glue, to 8 or what fits 512 bytes
	srv := ask(t, hd, "10.9.0.1", false, "_http._tcp.big.ns.svc.cluster.local.", dns.TypeSRV)
	if n := len(srv.Answer); n < 1 || n > 8 || len(srv.Extra) != n || srv.Len() > 512 || srv.Truncated {
		t.Errorf("SRV without EDNS: %d records, %d glue, %d bytes, TC %v", n, len(srv.Extra), srv.Len(), srv.Truncated)
	}
	q := new(dns.Msg)
	q.SetQuestion("_http._tcp.big.ns.svc.cluster.local.", dns.TypeSRV)
	q.SetEdns0(1232, false)
	w := dnstest.NewRecorder(&test.ResponseWriter{RemoteIP: "10.9.0.1"})
	if _, err := hd.ServeDNS(context.Background(), w, q); err != nil || len(w.Msg.Answer) != 8 || len(w.Msg.Extra) != 8 {
		t.Errorf("SRV with EDNS 1232: %v, want 8 records and 8 glue", w.Msg)
	}
}

func TestServicePolicyAnnotations(t *testing.T) {
	svc := headlessSvc("ns", "db", nil)
	svc.Annotations = map[string]string{object.AnnotationTTL: "42", object.AnnotationPublish: "serving"}
	no, yes := false, true
	draining := discovery.Endpoint{Addresses: []string{"10.3.0.2"}, Hostname: ptrTo("db-1"),
		Conditions: discovery.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}}
	s := slice("ns", "db-1", "db", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.3.0.1", Host: "db-0"})
	s.Endpoints = append(s.Endpoints, draining)
	h, client := start(t, config{}, svc, s)
	runCases(t, h, []test.Case{
		{Qname: "db.ns.svc.cluster.local.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("db.ns.svc.cluster.local. 42 IN A 10.3.0.1")}},
		{Qname: "db-1.db.ns.svc.cluster.local.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("db-1.db.ns.svc.cluster.local. 42 IN A 10.3.0.2")}},
		{Qname: "2.0.3.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("2.0.3.10.in-addr.arpa. 42 IN PTR db-1.db.ns.svc.cluster.local.")}},
	})
	// the last ready endpoint goes: the Service name falls back to the serving one
	s2 := s.DeepCopy()
	s2.Endpoints = s2.Endpoints[1:]
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(context.Background(), s2, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fallback to serving", func() bool {
		m := query(h, "db.ns.svc.cluster.local.", dns.TypeA)
		return m != nil && slices.Equal(addrsOf(m.Answer), []string{"10.3.0.2"})
	})
	// back to the default policy: the draining endpoint's name goes
	svc2 := svc.DeepCopy()
	svc2.Annotations = nil
	if _, err := client.CoreV1().Services("ns").Update(context.Background(), svc2, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "publish ready again", func() bool { return rcodeOf(h, "db-1.db.ns.svc.cluster.local.") == dns.RcodeNameError })
	if m := query(h, "2.0.3.10.in-addr.arpa.", dns.TypePTR); m != nil && len(m.Answer) != 0 {
		t.Errorf("PTR of a not-ready endpoint under publish ready: %v", m)
	}
}

func ptrTo[T any](v T) *T { return &v }

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// BenchmarkFront is a 100-endpoint Service's A reply through the per-client
// step: off (passes through), topology on for a located client, and capped.
func BenchmarkFront(b *testing.B) {
	var eps [][3]string
	for i := 0; i < 100; i++ {
		eps = append(eps, [3]string{fmt.Sprintf("10.1.%d.%d", i%3, i+1), fmt.Sprintf("node-%d", i%3), fmt.Sprintf("zone-%d", i%3)})
	}
	objs := []runtime.Object{headlessSvc("ns", "hundred", nil), topoSlice("ns", "hundred-1", "hundred", eps...),
		node("node-0", "zone-0", []string{"10.9.0.0/24"})}
	for _, bc := range []struct {
		name      string
		cfg       config
		noPresort bool // as in a block with cache: the front step orders the reply itself
	}{{"off", config{}, false}, {"topology", config{Topology: true, DefaultMode: object.TrafficSameZone}, false},
		{"topology_not_presorted", config{Topology: true, DefaultMode: object.TrafficSameZone}, true},
		{"topology_unset", config{Topology: true}, false}, // the Service asks for no order: passes through
		{"max_answers_8", config{MaxAnswers: 8}, false}} {
		b.Run(bc.name, func(b *testing.B) {
			h, _ := start(b, bc.cfg, objs...)
			if bc.cfg.Topology {
				waitFor(b, "nodes", func() bool { _, ok := h.nodes.Lookup(netip.MustParseAddr("10.9.0.5")); return ok })
			}
			h.Next = test.NextHandler(dns.RcodeNameError, nil)
			f := &front{h: h, next: h, presort: !bc.noPresort}
			m := new(dns.Msg)
			m.SetQuestion("hundred.ns.svc.cluster.local.", dns.TypeA)
			m.SetEdns0(4096, false)
			rw := &test.ResponseWriter{}
			from := &net.UDPAddr{IP: net.IPv4(10, 9, 0, 5).To4(), Port: 40212}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				w := &discardWriter{ResponseWriter: rw, from: from}
				if _, err := f.ServeDNS(context.Background(), w, m); err != nil || w.n == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

// discardWriter packs the reply as the server would, then drops it.
type discardWriter struct {
	dns.ResponseWriter
	from net.Addr // the client, as a server's writer holds it
	n    int
}

func (w *discardWriter) RemoteAddr() net.Addr { return w.from }

func (w *discardWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.n = len(b)
	return err
}

func (w *discardWriter) Write(b []byte) (int, error) {
	w.n = len(b)
	return len(b), nil
}

// IPv6: AAAA answers ordered, the client located by a client_zones IPv6
// CIDR or by an IPv6 pod CIDR.
func TestTopologyIPv6(t *testing.T) {
	var cz topology.PrefixTable
	cz.Add(netip.MustParsePrefix("fd99::/64"), topology.ClientLoc{Zone: "zone-b"})
	svc := withTraffic(headlessSvc("ns", "v6", nil), "PreferSameZone")
	s := slice("ns", "v6-1", "v6", discovery.AddressTypeIPv6, "", http80)
	for _, e := range [][3]string{{"fd00::1", "node-a", "zone-a"}, {"fd00::2", "node-b", "zone-b"}, {"fd00::3", "node-a", "zone-a"}} {
		ready := true
		n, z := e[1], e[2]
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{e[0]}, NodeName: &n, Zone: &z,
			Conditions: discovery.EndpointConditions{Ready: &ready}})
	}
	h, _ := start(t, config{Topology: true, ClientZones: cz}, svc, s, node("node-a", "zone-a", []string{"fd10::/64"}))
	waitFor(t, "nodes", func() bool { _, ok := h.nodes.Lookup(netip.MustParseAddr("fd10::5")); return ok })
	hd := chain(h)
	for from, first := range map[string][]string{"fd99::7": {"fd00::2"}, "fd10::5": {"fd00::1", "fd00::3"}} {
		got := addrsOf(ask(t, hd, from, false, "v6.ns.svc.cluster.local.", dns.TypeAAAA).Answer)
		if len(got) != 3 || !sameSet(got[:len(first)], first) {
			t.Errorf("AAAA from %s: %v, want %v first", from, got, first)
		}
	}
}

// TestPresort: when headless writes the Service name's answer in the
// client's order itself (blocks without cache), every client gets exactly
// the reply the front step alone gives, also when a shuffler between the
// two undoes headless's order.
func TestPresort(t *testing.T) {
	h, _ := start(t, config{Topology: true, DefaultMode: object.TrafficSameZone}, topologyCluster()...)
	h.Next = test.NextHandler(dns.RcodeNameError, nil)
	waitFor(t, "nodes", func() bool { return h.locate(netip.MustParseAddr("10.1.0.5")).Known() })
	for _, between := range []string{"nothing", "a shuffler"} {
		var next plugin.Handler = h
		if between != "nothing" {
			next = reverser{next: h}
		}
		alone, pre := &front{h: h, next: next}, &front{h: h, next: next, presort: true}
		for _, from := range []string{"10.1.0.5", "10.1.2.7", "192.168.0.2", "172.16.3.3", "203.0.113.1"} {
			for _, name := range []string{"db.ns.svc.cluster.local.", "near.ns.svc.cluster.local.", "plain.ns.svc.cluster.local."} {
				for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV} {
					if qt == dns.TypeSRV {
						name = "_http._tcp." + name
					}
					want := ask(t, alone, from, false, name, qt)
					got := ask(t, pre, from, false, name, qt)
					if w, g := rrStrings(want.Answer), rrStrings(got.Answer); !slices.Equal(w, g) {
						t.Errorf("%s between, %s from %s: presorted %v, want %v", between, name, from, g, w)
					}
				}
			}
		}
	}
	// the presorted path really ran: from zone-a, db's zone-a endpoints first
	got := addrsOf(ask(t, &front{h: h, next: h, presort: true}, "10.1.0.5", false, "db.ns.svc.cluster.local.", dns.TypeA).Answer)
	if !sameSet(got[:2], []string{"10.1.0.10", "10.1.2.10"}) {
		t.Errorf("presorted from zone-a: %v", got)
	}
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

// writerFunc is a next plugin made of a function.
type writerFunc func(w dns.ResponseWriter, r *dns.Msg) (int, error)

func (f writerFunc) Name() string { return "writer" }
func (f writerFunc) ServeDNS(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return f(w, r)
}

// logWriter records what reaches the client, in order.
type logWriter struct {
	test.ResponseWriter
	got  []string
	fail bool
}

func (w *logWriter) WriteMsg(m *dns.Msg) error {
	if w.fail {
		return errors.New("connection gone")
	}
	w.got = append(w.got, "msg:"+dns.RcodeToString[m.Rcode])
	return nil
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.got = append(w.got, "raw")
	return len(b), nil
}

// TestFrontHeldWrites: the front step holds a reply until the plugins below
// return; what they write still reaches the client, once each and in order,
// and a failed write is an error of the query.
func TestFrontHeldWrites(t *testing.T) {
	h, _ := start(t, config{MaxAnswers: 2}, topologyCluster()...)
	q := new(dns.Msg)
	q.SetQuestion("db.ns.svc.cluster.local.", dns.TypeA)
	reply := func(rcode int) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, rcode)
		return m
	}
	var late dns.ResponseWriter
	for _, tc := range []struct {
		name  string
		next  writerFunc
		fail  bool
		want  []string
		wantE bool
	}{
		{"one", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) { return 0, w.WriteMsg(reply(dns.RcodeSuccess)) },
			false, []string{"msg:NOERROR"}, false},
		{"two", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) {
			w.WriteMsg(reply(dns.RcodeSuccess))
			return 0, w.WriteMsg(reply(dns.RcodeNameError))
		}, false, []string{"msg:NOERROR", "msg:NXDOMAIN"}, false},
		{"then raw", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) {
			w.WriteMsg(reply(dns.RcodeSuccess))
			_, err := w.Write([]byte{0})
			return 0, err
		}, false, []string{"msg:NOERROR", "raw"}, false},
		{"failed write", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) { return 0, w.WriteMsg(reply(dns.RcodeSuccess)) },
			true, nil, true},
		{"after return", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) { late = w; return 0, nil },
			false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lw := &logWriter{fail: tc.fail}
			rc, err := (&front{h: h, next: tc.next}).ServeDNS(context.Background(), lw, q)
			if (err != nil) != tc.wantE || (tc.wantE && rc != dns.RcodeServerFailure) {
				t.Errorf("rcode %d, err %v; want an error: %v", rc, err, tc.wantE)
			}
			if !slices.Equal(lw.got, tc.want) {
				t.Errorf("written %v, want %v", lw.got, tc.want)
			}
			if tc.name == "after return" {
				if err := late.WriteMsg(reply(dns.RcodeSuccess)); err != nil || !slices.Equal(lw.got, []string{"msg:NOERROR"}) {
					t.Errorf("late write: %v, written %v", err, lw.got)
				}
			}
		})
	}
}
