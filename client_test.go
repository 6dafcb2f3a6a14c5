package headless

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestRank(t *testing.T) {
	a := &epLoc{node: "n1", zone: "za"}
	b := &epLoc{node: "n2", zone: "za"}
	c := &epLoc{node: "n3", zone: "zb"}
	hinted := &epLoc{node: "n3", zone: "zb", hintZones: "za,zc"} // the controller lends it to za
	client := clientLoc{node: "n1", zone: "za"}
	for _, tc := range []struct {
		m    trafficMode
		e    *epLoc
		c    clientLoc
		want int
	}{
		{trafficSameZone, a, client, 0},
		{trafficSameZone, b, client, 0},
		{trafficSameZone, c, client, 1},
		{trafficSameZone, hinted, client, 0},
		{trafficSameZone, &epLoc{zone: "za", hintZones: "zb"}, client, 1}, // hints win over the zone
		{trafficSameZone, nil, client, 1},
		{trafficSameZone, a, clientLoc{node: "n1"}, 1}, // a client without zone matches no zone
		{trafficSameNode, a, client, 0},
		{trafficSameNode, b, client, 1},
		{trafficSameNode, c, client, 2},
		{trafficSameNode, &epLoc{node: "n9", hintNodes: "n1"}, client, 0},
		{trafficSameNode, nil, client, 2},
		{trafficSameNode, b, clientLoc{zone: "za"}, 1}, // client_zones knows a zone, no node
	} {
		if got := rank(tc.m, tc.e, tc.c); got != tc.want {
			t.Errorf("rank(%v, %+v, %+v) = %d, want %d", tc.m, tc.e, tc.c, got, tc.want)
		}
	}
}

// addrMsg is a reply with one A record per address, in order.
func addrMsg(name string, addrs ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	m.Response = true
	for _, a := range addrs {
		m.Answer = append(m.Answer, test.A(fmt.Sprintf("%s 5 IN A %s", name, a)))
	}
	return m
}

func addrsOf(rrs []dns.RR) []string { return testbed.AddrsOf(rrs) }

// locTable returns a loc function: 10.0.<zone>.<n> runs in zone z<zone>, node n<n>.
func locTable(t *testing.T) func(net.IP) *epLoc {
	return func(ip net.IP) *epLoc {
		b := ip.To4()
		if b[0] != 10 {
			return nil
		}
		return &epLoc{node: fmt.Sprintf("n%d", b[3]%4), zone: fmt.Sprintf("z%d", b[2])}
	}
}

func TestShapeOrder(t *testing.T) {
	name := "web.ns.svc.cluster.local."
	addrs := []string{"10.0.1.1", "10.0.2.2", "10.0.1.3", "10.0.3.4", "10.0.2.5", "192.0.2.1"}
	for _, tc := range []struct {
		name   string
		mode   trafficMode
		client clientLoc
		want   []string
		match  string
	}{
		{"zone z2 first, stable within groups", trafficSameZone, clientLoc{zone: "z2", node: "n0"},
			[]string{"10.0.2.2", "10.0.2.5", "10.0.1.1", "10.0.1.3", "10.0.3.4", "192.0.2.1"}, matchZone},
		{"node n1 then zone z1", trafficSameNode, clientLoc{zone: "z1", node: "n1"},
			[]string{"10.0.1.1", "10.0.2.5", "10.0.1.3", "10.0.2.2", "10.0.3.4", "192.0.2.1"}, matchNode}, // n1: .1 and .5
		{"same node absent: zone", trafficSameNode, clientLoc{zone: "z3", node: "n9"},
			[]string{"10.0.3.4", "10.0.1.1", "10.0.2.2", "10.0.1.3", "10.0.2.5", "192.0.2.1"}, matchZone},
		{"no endpoint near: stock order", trafficSameZone, clientLoc{zone: "z7"}, addrs, matchNone},
		{"unknown client: stock order", trafficSameZone, clientLoc{}, addrs, matchNone},
		{"no mode: untouched", trafficUnset, clientLoc{zone: "z2"}, addrs, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := addrMsg(name, addrs...)
			match, capped := shape(m, shaping{mode: tc.mode, client: tc.client, loc: locFunc(locTable(t))})
			if got := addrsOf(m.Answer); !slices.Equal(got, tc.want) {
				t.Errorf("order %v, want %v", got, tc.want)
			}
			if match != tc.match || capped {
				t.Errorf("match %q capped %v, want %q false", match, capped, tc.match)
			}
		})
	}
}

func TestShapeCap(t *testing.T) {
	name := "big.ns.svc.cluster.local."
	var addrs []string
	for i := 0; i < 100; i++ {
		addrs = append(addrs, fmt.Sprintf("10.0.%d.%d", 1+i%3, i+1))
	}
	client := clientLoc{zone: "z1", node: "n0"}
	t.Run("at most N, preferred first, every endpoint in turn", func(t *testing.T) {
		seen := map[string]int{}
		for turn := uint64(0); turn < 40; turn++ {
			m := addrMsg(name, addrs...)
			m.Truncated = true
			_, capped := shape(m, shaping{mode: trafficSameZone, client: client, loc: locFunc(locTable(t)), limit: 8, size: 512, turn: turn})
			got := addrsOf(m.Answer)
			if len(got) != 8 || !capped || m.Truncated {
				t.Fatalf("turn %d: %d records capped %v TC %v, want 8 true false", turn, len(got), capped, m.Truncated)
			}
			for _, a := range got {
				if !strings.HasPrefix(a, "10.0.1.") {
					t.Fatalf("turn %d: %s is not in the client's zone (34 are)", turn, a)
				}
				seen[a]++
			}
		}
		if len(seen) != 34 {
			t.Errorf("%d of the 34 same-zone endpoints given out over 40 replies", len(seen))
		}
	})
	t.Run("preferred group smaller than N: the rest rotate behind it", func(t *testing.T) {
		m := addrMsg(name, addrs[:9]...) // z1: 3 endpoints
		shape(m, shaping{mode: trafficSameZone, client: client, loc: locFunc(locTable(t)), limit: 5, size: 512, turn: 1})
		got := addrsOf(m.Answer)
		if len(got) != 5 || !strings.HasPrefix(got[0], "10.0.1.") || !strings.HasPrefix(got[2], "10.0.1.") || strings.HasPrefix(got[3], "10.0.1.") {
			t.Errorf("got %v: want the 3 of zone z1, then 2 others", got)
		}
	})
	for _, tc := range []struct {
		name string
		size int
	}{{"no EDNS: 512 bytes", 512}, {"EDNS 1232", 1232 - 11}, {"EDNS 4096", 4096 - 11}} {
		t.Run("never more than fits: "+tc.name, func(t *testing.T) {
			m := addrMsg(name, addrs...)
			shape(m, shaping{limit: 100, size: tc.size, turn: 3})
			if l := m.Len(); l > tc.size || m.Truncated {
				t.Errorf("%d bytes (TC %v) for a %d-byte buffer", l, m.Truncated, tc.size)
			}
			// and it is full: one more record would not fit (or all are there)
			if n := len(m.Answer); n < 100 {
				m.Answer = append(m.Answer, test.A(name+" 5 IN A 10.9.9.9"))
				if fits(m, tc.size) {
					t.Errorf("%d records, but %d fit", n, n+1)
				}
			}
		})
	}
	t.Run("over TCP (size 0) nothing is left out", func(t *testing.T) {
		m := addrMsg(name, addrs...)
		if _, capped := shape(m, shaping{limit: 8}); capped || len(m.Answer) != 100 {
			t.Errorf("%d records capped %v", len(m.Answer), capped)
		}
	})
}

func TestShapeSRV(t *testing.T) {
	name := "_http._tcp.web.ns.svc.cluster.local."
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeSRV)
	for i, a := range []string{"10.0.2.1", "10.0.1.2", "10.0.2.3", "10.0.1.4"} {
		target := fmt.Sprintf("web-%d.web.ns.svc.cluster.local.", i)
		m.Answer = append(m.Answer, test.SRV(fmt.Sprintf("%s 5 IN SRV 0 25 80 %s", name, target)))
		m.Extra = append(m.Extra, test.A(fmt.Sprintf("%s 5 IN A %s", strings.ToUpper(target), a)))
	}
	m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}})
	match, capped := shape(m, shaping{mode: trafficSameZone, client: clientLoc{zone: "z1"}, loc: locFunc(locTable(t)), limit: 1, size: 512})
	if match != matchZone || !capped || len(m.Answer) != 1 {
		t.Fatalf("match %q capped %v answers %v", match, capped, m.Answer)
	}
	srv := m.Answer[0].(*dns.SRV)
	if srv.Priority != 0 || (srv.Target != "web-1.web.ns.svc.cluster.local." && srv.Target != "web-3.web.ns.svc.cluster.local.") {
		t.Errorf("kept %v: want a same-zone target with priority 0", srv)
	}
	if len(m.Extra) != 2 || !strings.EqualFold(m.Extra[0].Header().Name, srv.Target) || m.Extra[1].Header().Rrtype != dns.TypeOPT {
		t.Errorf("extra %v: want the kept target's glue and the OPT record", m.Extra)
	}

	m.Answer, m.Extra = nil, nil
	for i, a := range []string{"10.0.2.1", "10.0.1.2"} {
		target := fmt.Sprintf("web-%d.web.ns.svc.cluster.local.", i)
		m.Answer = append(m.Answer, test.SRV(fmt.Sprintf("%s 5 IN SRV 0 50 80 %s", name, target)))
		m.Extra = append(m.Extra, test.A(fmt.Sprintf("%s 5 IN A %s", target, a)))
	}
	shape(m, shaping{mode: trafficSameZone, client: clientLoc{zone: "z1"}, loc: locFunc(locTable(t))})
	if p0, p1 := m.Answer[0].(*dns.SRV), m.Answer[1].(*dns.SRV); p0.Priority != 0 || p1.Priority != 1 || !strings.HasPrefix(p0.Target, "web-1.") {
		t.Errorf("priorities %v: want web-1 (same zone) at 0 first, web-0 at 1", m.Answer)
	}
}

func TestPolicyOf(t *testing.T) {
	svc := func(td string, ann map[string]string) *core.Service {
		s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "ns", Name: "svc", Annotations: ann}}
		if td != "" {
			s.Spec.TrafficDistribution = &td
		}
		return s
	}
	for _, tc := range []struct {
		svc  *core.Service
		want policy
	}{
		{svc("", nil), defaultPolicy},
		{svc("PreferClose", nil), policy{traffic: trafficSameZone, ttl: -1, maxAnswers: -1}},
		{svc("PreferSameZone", nil), policy{traffic: trafficSameZone, ttl: -1, maxAnswers: -1}},
		{svc("PreferSameNode", nil), policy{traffic: trafficSameNode, ttl: -1, maxAnswers: -1}},
		{svc("SomethingNew", nil), defaultPolicy},
		{svc("", map[string]string{annotationTTL: "30", annotationMaxAnswers: "8", annotationPublish: "serving"}), policy{ttl: 30, maxAnswers: 8, serving: true}},
		{svc("", map[string]string{annotationTTL: "0", annotationMaxAnswers: "0", annotationPublish: "ready"}), policy{ttl: 0, maxAnswers: 0}},
		{svc("", map[string]string{annotationTTL: "3601", annotationMaxAnswers: "-1", annotationPublish: "all"}), defaultPolicy},
		{svc("", map[string]string{annotationTTL: "5s", annotationMaxAnswers: "lots"}), defaultPolicy},
	} {
		if got := policyOf(tc.svc); got != tc.want {
			t.Errorf("%v %v: policy %+v, want %+v", tc.svc.Spec.TrafficDistribution, tc.svc.Annotations, got, tc.want)
		}
	}
}

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
	var cz prefixTable
	cz.add(netip.MustParsePrefix("172.16.0.0/16"), clientLoc{zone: "zone-b"})
	h, _ := start(t, config{topology: true, clientZones: cz}, topologyCluster()...)
	waitFor(t, "nodes", func() bool { _, ok := h.index.LocateByNode(netip.MustParseAddr("10.1.0.5")); return ok })
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
	h, _ := start(t, config{topology: true, defaultMode: trafficSameZone}, topologyCluster()...)
	waitFor(t, "nodes", func() bool { _, ok := h.index.LocateByNode(netip.MustParseAddr("10.1.0.5")); return ok })
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
	capped.Annotations = map[string]string{annotationMaxAnswers: "3"}
	uncapped := headlessSvc("ns", "uncapped", nil)
	uncapped.Annotations = map[string]string{annotationMaxAnswers: "0"}
	h, _ := start(t, config{maxAnswers: 8}, big, topoSlice("ns", "big-1", "big", eps...),
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
	svc.Annotations = map[string]string{annotationTTL: "42", annotationPublish: "serving"}
	no, yes := false, true
	draining := discovery.Endpoint{Addresses: []string{"10.3.0.2"}, Hostname: ptrTo("db-1"),
		Conditions: discovery.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}}
	s := slice("ns", "db-1", "db", discovery.AddressTypeIPv4, "", http80, ep{ip: "10.3.0.1", host: "db-0"})
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
		name string
		cfg  config
	}{{"off", config{}}, {"topology", config{topology: true, defaultMode: trafficSameZone}},
		{"topology_unset", config{topology: true}}, // the Service asks for no order: passes through
		{"max_answers_8", config{maxAnswers: 8}}} {
		b.Run(bc.name, func(b *testing.B) {
			h, _ := start(b, bc.cfg, objs...)
			if bc.cfg.topology {
				waitFor(b, "nodes", func() bool { _, ok := h.index.LocateByNode(netip.MustParseAddr("10.9.0.5")); return ok })
			}
			h.Next = test.NextHandler(dns.RcodeNameError, nil)
			f := &front{h: h, next: h, presort: true}
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

// BenchmarkShape is the per-client step alone on a 100-record A reply.
func BenchmarkShape(b *testing.B) {
	var addrs []string
	for i := 0; i < 100; i++ {
		addrs = append(addrs, fmt.Sprintf("10.0.%d.%d", i%3, i+1))
	}
	m := addrMsg("hundred.ns.svc.cluster.local.", addrs...)
	for _, rr := range m.Answer {
		rr.(*dns.A).A = rr.(*dns.A).A.To4() // as headless builds them
	}
	locs := map[string]*epLoc{}
	for i := 0; i < 3; i++ {
		locs[fmt.Sprint(i)] = &epLoc{zone: fmt.Sprintf("z%d", i), node: fmt.Sprintf("n%d", i)}
	}
	r := &svcRecords{}
	r.locOnce.Do(func() {
		r.loc4, r.loc6 = newLoc4Table(100), map[[16]byte]*epLoc{}
		for i := 0; i < 100; i++ {
			r.loc4.add(uint32(10<<24|(i%3)<<8|(i+1)), locs[fmt.Sprint(i%3)])
		}
	})
	answer := m.Answer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Answer = answer
		shape(m, shaping{mode: trafficSameZone, client: clientLoc{zone: "z1"}, loc: r})
	}
}

func TestLoc4Table(t *testing.T) {
	tab := newLoc4Table(1000)
	want := map[uint32]*epLoc{}
	for i := uint32(1); i <= 1000; i++ {
		k := i * 2654435761
		if k == 0 {
			continue
		}
		l := &epLoc{node: fmt.Sprint(i)}
		tab.add(k, l)
		tab.add(k, &epLoc{}) // the first stays
		want[k] = l
	}
	for k, l := range want {
		if tab.get(k) != l {
			t.Fatalf("get(%d) wrong", k)
		}
	}
	if tab.get(12345) != nil {
		t.Error("absent key found")
	}
}

// IPv6: AAAA answers ordered, the client located by a client_zones IPv6
// CIDR or by an IPv6 pod CIDR.
func TestTopologyIPv6(t *testing.T) {
	var cz prefixTable
	cz.add(netip.MustParsePrefix("fd99::/64"), clientLoc{zone: "zone-b"})
	svc := withTraffic(headlessSvc("ns", "v6", nil), "PreferSameZone")
	s := slice("ns", "v6-1", "v6", discovery.AddressTypeIPv6, "", http80)
	for _, e := range [][3]string{{"fd00::1", "node-a", "zone-a"}, {"fd00::2", "node-b", "zone-b"}, {"fd00::3", "node-a", "zone-a"}} {
		ready := true
		n, z := e[1], e[2]
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{e[0]}, NodeName: &n, Zone: &z,
			Conditions: discovery.EndpointConditions{Ready: &ready}})
	}
	h, _ := start(t, config{topology: true, clientZones: cz}, svc, s, node("node-a", "zone-a", []string{"fd10::/64"}))
	waitFor(t, "nodes", func() bool { _, ok := h.index.LocateByNode(netip.MustParseAddr("fd10::5")); return ok })
	hd := chain(h)
	for from, first := range map[string][]string{"fd99::7": {"fd00::2"}, "fd10::5": {"fd00::1", "fd00::3"}} {
		got := addrsOf(ask(t, hd, from, false, "v6.ns.svc.cluster.local.", dns.TypeAAAA).Answer)
		if len(got) != 3 || !sameSet(got[:len(first)], first) {
			t.Errorf("AAAA from %s: %v, want %v first", from, got, first)
		}
	}
}
