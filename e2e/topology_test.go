package e2e

import (
	"strings"
	"testing"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// from asks name over UDP from source address src as a distinct client.
func from(t *testing.T, src, addr, name string, qtype uint16, edns uint16) *dns.Msg {
	t.Helper()
	r, err := testbed.ExchangeFrom(src, addr, name, qtype, false, edns)
	if err != nil {
		t.Fatalf("%s from %s: %v", name, src, err)
	}
	return r
}

// The custom build places the per-client step ahead of cache and
// loadbalance: each client gets its own order on every reply, cached or not.
func TestSampleTopology(t *testing.T) {
	bin := testbed.OurCoreDNS(t)
	cf := strings.Replace(sampleCorefile("cache 30\n    loadbalance"), "zonal\n", "zonal\n        topology\n        max_answers 2\n", 1)
	c := testbed.StartCoreDNS(t, bin, cf)
	web := "web.default.svc.cluster.local."
	zoneA := map[string]bool{"10.244.1.10": true, "10.244.1.12": true}
	for i := 0; i < 10; i++ {
		// a pod on node-b (zone-b): web-1 first; then one of zone-a (max_answers 2)
		r := from(t, "127.0.11.5", c.Addr, web, dns.TypeA, 1232)
		if len(r.Answer) != 2 || r.Answer[0].(*dns.A).A.String() != "10.244.2.11" || !zoneA[r.Answer[1].(*dns.A).A.String()] || r.Truncated {
			t.Fatalf("from node-b, reply %d: %v (TC %v), want 10.244.2.11 then a zone-a address", i, r.Answer, r.Truncated)
		}
		// a pod on node-a (zone-a): both zone-a endpoints, in either order
		r = from(t, "127.0.10.5", c.Addr, web, dns.TypeA, 0)
		if len(r.Answer) != 2 || !zoneA[r.Answer[0].(*dns.A).A.String()] || !zoneA[r.Answer[1].(*dns.A).A.String()] {
			t.Fatalf("from node-a, reply %d: %v, want the two zone-a addresses", i, r.Answer)
		}
	}
	// SRV from node-b: web-1 at priority 0, the kept other target at 1, glue for both
	r := from(t, "127.0.11.5", c.Addr, "_http._tcp."+web, dns.TypeSRV, 1232)
	if len(r.Answer) != 2 || len(r.Extra) != 3 { // two glue records and the OPT
		t.Fatalf("SRV: %v extra %v", r.Answer, r.Extra)
	}
	if s := r.Answer[0].(*dns.SRV); s.Priority != 0 || s.Target != "web-1."+web {
		t.Errorf("SRV first %v, want web-1 at priority 0", s)
	}
	if s := r.Answer[1].(*dns.SRV); s.Priority != 1 {
		t.Errorf("SRV second %v, want priority 1", s)
	}
}
