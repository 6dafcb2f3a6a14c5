package topology

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
)

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

// locTable returns a loc function: 10.0.<zone>.<n> runs in zone z<zone>, node n<n>.
func locTable(t *testing.T) func(net.IP) *object.Loc {
	return func(ip net.IP) *object.Loc {
		b := ip.To4()
		if b[0] != 10 {
			return nil
		}
		return &object.Loc{Node: fmt.Sprintf("n%d", b[3]%4), Zone: fmt.Sprintf("z%d", b[2])}
	}
}

func TestShapeOrder(t *testing.T) {
	name := "web.ns.svc.cluster.local."
	addrs := []string{"10.0.1.1", "10.0.2.2", "10.0.1.3", "10.0.3.4", "10.0.2.5", "192.0.2.1"}
	for _, tc := range []struct {
		name   string
		mode   object.TrafficMode
		client ClientLoc
		want   []string
		match  string
	}{
		{"zone z2 first, stable within groups", object.TrafficSameZone, ClientLoc{Zone: "z2", Node: "n0"},
			[]string{"10.0.2.2", "10.0.2.5", "10.0.1.1", "10.0.1.3", "10.0.3.4", "192.0.2.1"}, MatchZone},
		{"node n1 then zone z1", object.TrafficSameNode, ClientLoc{Zone: "z1", Node: "n1"},
			[]string{"10.0.1.1", "10.0.2.5", "10.0.1.3", "10.0.2.2", "10.0.3.4", "192.0.2.1"}, MatchNode}, // n1: .1 and .5
		{"same node absent: zone", object.TrafficSameNode, ClientLoc{Zone: "z3", Node: "n9"},
			[]string{"10.0.3.4", "10.0.1.1", "10.0.2.2", "10.0.1.3", "10.0.2.5", "192.0.2.1"}, MatchZone},
		{"no endpoint near: stock order", object.TrafficSameZone, ClientLoc{Zone: "z7"}, addrs, MatchNone},
		{"unknown client: stock order", object.TrafficSameZone, ClientLoc{}, addrs, MatchNone},
		{"no mode: untouched", object.TrafficUnset, ClientLoc{Zone: "z2"}, addrs, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := addrMsg(name, addrs...)
			match, capped := Shape(m, Shaping{Mode: tc.mode, Client: tc.client, Loc: LocFunc(locTable(t))})
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
	client := ClientLoc{Zone: "z1", Node: "n0"}
	t.Run("at most N, preferred first, every endpoint in turn", func(t *testing.T) {
		seen := map[string]int{}
		for turn := uint64(0); turn < 40; turn++ {
			m := addrMsg(name, addrs...)
			m.Truncated = true
			_, capped := Shape(m, Shaping{Mode: object.TrafficSameZone, Client: client, Loc: LocFunc(locTable(t)), Limit: 8, Size: 512, Turn: turn})
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
		Shape(m, Shaping{Mode: object.TrafficSameZone, Client: client, Loc: LocFunc(locTable(t)), Limit: 5, Size: 512, Turn: 1})
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
			Shape(m, Shaping{Limit: 100, Size: tc.size, Turn: 3})
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
		if _, capped := Shape(m, Shaping{Limit: 8}); capped || len(m.Answer) != 100 {
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
	match, capped := Shape(m, Shaping{Mode: object.TrafficSameZone, Client: ClientLoc{Zone: "z1"}, Loc: LocFunc(locTable(t)), Limit: 1, Size: 512})
	if match != MatchZone || !capped || len(m.Answer) != 1 {
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
	Shape(m, Shaping{Mode: object.TrafficSameZone, Client: ClientLoc{Zone: "z1"}, Loc: LocFunc(locTable(t))})
	if p0, p1 := m.Answer[0].(*dns.SRV), m.Answer[1].(*dns.SRV); p0.Priority != 0 || p1.Priority != 1 || !strings.HasPrefix(p0.Target, "web-1.") {
		t.Errorf("priorities %v: want web-1 (same zone) at 0 first, web-0 at 1", m.Answer)
	}
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
	// the locations come from a published Service, as in a reply
	var eps []objecttest.EP
	for i := 0; i < 100; i++ {
		eps = append(eps, objecttest.EP{IP: addrs[i], Zone: fmt.Sprintf("z%d", i%3)})
	}
	ix := index.New(index.Options{Zones: []string{"cluster.local."}, TTL: 5})
	svc, _ := object.TransformService(objecttest.HeadlessService("ns", "hundred", nil))
	ix.UpdateService(svc.(*object.Service), false)
	ix.UpdateSlice(object.SliceFromAPI(objecttest.Slice("ns", "hundred-a", "hundred", discovery.AddressTypeIPv4, "", objecttest.HTTP80, eps...)), false, 0)
	ix.Flush()
	r := ix.Service("hundred.ns")
	answer := m.Answer
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Answer = answer
		Shape(m, Shaping{Mode: object.TrafficSameZone, Client: ClientLoc{Zone: "z1"}, Loc: r})
	}
}
func addrsOf(rrs []dns.RR) []string { return testbed.AddrsOf(rrs) }
