package headless

import (
	"context"
	"testing"

	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// negative-ttl bounds the SOA of negative answers below its Service; the
// Corefile's negative_ttl bounds the others; neither raises a TTL.
func TestNegativeTTL(t *testing.T) {
	objs := append(bootCluster(),
		annotated(headlessSvc("ns", "neg", nil), object.AnnotationNegTTL, "1"),
		slice("ns", "neg-a", "neg", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.4.0.1", Host: "neg-0"}),
		annotated(headlessSvc("ns", "long", nil), object.AnnotationNegTTL, "60"),
		slice("ns", "long-a", "long", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.5.0.1", Host: "long-0"}),
		annotated(headlessSvc("ns", "bad", nil), object.AnnotationNegTTL, "soon"),
		slice("ns", "bad-a", "bad", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.6.0.1", Host: "bad-0"}))
	soaTTL := func(h *Headless, name string, qtype uint16) (int, uint32, uint32) {
		m := query(h, name, qtype)
		if m == nil || len(m.Ns) != 1 {
			t.Fatalf("%s: no SOA in %v", name, m)
		}
		s := m.Ns[0].(*dns.SOA)
		return m.Rcode, s.Hdr.Ttl, s.Minttl
	}
	const svc = ".ns.svc.cluster.local."
	type want struct {
		name  string
		qtype uint16
		rcode int
		ttl   uint32
	}
	for _, tc := range []struct {
		cfg   config
		cases []want
	}{
		{config{}, []want{
			{"neg-9.neg" + svc, dns.TypeA, dns.RcodeNameError, 1},
			{"neg-0.neg" + svc, dns.TypeAAAA, dns.RcodeSuccess, 1},
			{"_nope._tcp.neg" + svc, dns.TypeSRV, dns.RcodeNameError, 1},
			{"long-9.long" + svc, dns.TypeA, dns.RcodeNameError, 5}, // at most: never raised
			{"bad-9.bad" + svc, dns.TypeA, dns.RcodeNameError, 5},   // invalid: ignored
			{"db-9.db" + svc, dns.TypeA, dns.RcodeNameError, 5},     // stock
			{"9.9.9.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, 5},
		}},
		{config{NegativeTTL: 2, HasNegTTL: true}, []want{
			{"neg-9.neg" + svc, dns.TypeA, dns.RcodeNameError, 1},
			{"long-9.long" + svc, dns.TypeA, dns.RcodeNameError, 5},
			{"db-9.db" + svc, dns.TypeA, dns.RcodeNameError, 2},
			{"db" + svc, dns.TypeAAAA, dns.RcodeSuccess, 2},
			{"9.9.9.10.in-addr.arpa.", dns.TypePTR, dns.RcodeNameError, 2},
		}},
	} {
		h, _ := start(t, tc.cfg, objs...)
		h.Next = nil // reverse names are ours to deny
		for _, c := range tc.cases {
			rc, ttl, minttl := soaTTL(h, c.name, c.qtype)
			if rc != c.rcode || ttl != c.ttl || minttl != c.ttl {
				t.Errorf("negative_ttl %d: %s %s: rcode %s, SOA TTL %d MINIMUM %d; want %s, %d", tc.cfg.NegativeTTL, c.name, dns.TypeToString[c.qtype],
					dns.RcodeToString[rc], ttl, minttl, dns.RcodeToString[c.rcode], c.ttl)
			}
		}
		if m := query(h, "neg-0.neg"+svc, dns.TypeA); len(m.Answer) != 1 || m.Answer[0].Header().Ttl != 5 {
			t.Errorf("a positive answer's TTL changed: %v", m)
		}
	}
}

// A negative answer cached before the member existed is replaced by the
// index's answer as soon as the member's endpoint reaches us, through the
// block's cache; without a negative TTL the cache keeps it (stock).
func TestCachedNegativeReplaced(t *testing.T) {
	objs := append(bootCluster(),
		annotated(headlessSvc("ns", "neg", nil), object.AnnotationNegTTL, "0"),
		slice("ns", "neg-a", "neg", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.4.0.1", Host: "neg-0"}))
	h, client := start(t, config{Explain: true}, objs...)
	hd := cached(h)
	const svc = ".ns.svc.cluster.local."
	for _, name := range []string{"neg-3.neg" + svc, "plain-3.plain" + svc} {
		if m, _ := edeOf(t, hd, name, dns.TypeA); m.Rcode != dns.RcodeNameError {
			t.Fatalf("%s before it exists: %s", name, dns.RcodeToString[m.Rcode])
		}
	}
	before := counter(staleNegatives)
	for _, s := range []*discovery.EndpointSlice{
		slice("ns", "neg-b", "neg", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.4.0.3", Host: "neg-3"}),
		slice("ns", "plain-b", "plain", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.2.0.33", Host: "plain-3"}),
	} {
		if _, err := client.DiscoveryV1().EndpointSlices("ns").Create(context.Background(), s, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "neg-3 and plain-3 in the index", func() bool {
		return len(query(h, "neg-3.neg"+svc, dns.TypeA).Answer) == 1 && len(query(h, "plain-3.plain"+svc, dns.TypeA).Answer) == 1
	})
	h.Next = nxNext{} // query above set it to nothing
	m, texts := edeOf(t, hd, "neg-3.neg"+svc, dns.TypeA)
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.4.0.3" || len(texts) != 0 {
		t.Errorf("neg-3 through cache after it appeared: %v (EDE %q)", m, texts)
	}
	if got := counter(staleNegatives) - before; got != 1 {
		t.Errorf("replaced negatives: %v, want 1", got)
	}
	if m, _ := edeOf(t, hd, "plain-3.plain"+svc, dns.TypeA); m.Rcode != dns.RcodeNameError {
		t.Errorf("plain-3 (no negative TTL) through cache: %s, want the cached NXDOMAIN", dns.RcodeToString[m.Rcode])
	}
}

// Through a real cache, the header TTL of a negative reply's SOA is at most
// the negative TTL, on the miss and on the hit (cache rewrites it to what
// is left of its 5 s denial floor): the annotation's, else the Corefile's;
// a name no negative TTL covers keeps what cache writes.
func TestNegativeTTLThroughCache(t *testing.T) {
	objs := append(bootCluster(),
		annotated(headlessSvc("ns", "neg", nil), object.AnnotationNegTTL, "1"),
		slice("ns", "neg-a", "neg", discovery.AddressTypeIPv4, "", peer, ep{IP: "10.4.0.1", Host: "neg-0"}))
	const svc = ".ns.svc.cluster.local."
	for _, tc := range []struct {
		cfg   config
		name  string
		qtype uint16
		max   uint32 // the header TTL a client may see
	}{
		{config{}, "neg-9.neg" + svc, dns.TypeA, 1},
		{config{}, "neg-0.neg" + svc, dns.TypeAAAA, 1},
		{config{}, "_nope._tcp.neg" + svc, dns.TypeSRV, 1},
		{config{NegativeTTL: 2, HasNegTTL: true}, "db-9.db" + svc, dns.TypeA, 2},
		{config{NegativeTTL: 2, HasNegTTL: true}, "9.9.9.10.in-addr.arpa.", dns.TypePTR, 2},
		{config{NegativeTTL: 0, HasNegTTL: true}, "db" + svc, dns.TypeAAAA, 0},
		{config{}, "db-9.db" + svc, dns.TypeA, 5}, // no negative TTL: cache's floor
	} {
		h, _ := start(t, tc.cfg, objs...)
		hd := cached(h)
		h.Next = nil // reverse names are ours to deny
		for _, from := range []string{"miss", "hit"} {
			m, _ := edeOf(t, hd, tc.name, tc.qtype)
			if len(m.Answer) != 0 || len(m.Ns) != 1 {
				t.Fatalf("%s %s: not a negative reply with an SOA: %v", tc.name, from, m)
			}
			s := m.Ns[0].(*dns.SOA)
			if s.Hdr.Ttl > tc.max || (tc.max < 5 && s.Minttl > tc.max) {
				t.Errorf("%s %s (%s): SOA TTL %d MINIMUM %d, want at most %d", tc.name, dns.TypeToString[tc.qtype], from, s.Hdr.Ttl, s.Minttl, tc.max)
			}
			if tc.max == 5 && s.Hdr.Ttl < 4 {
				t.Errorf("%s %s (%s): SOA TTL %d lowered without a negative TTL", tc.name, dns.TypeToString[tc.qtype], from, s.Hdr.Ttl)
			}
		}
	}
}
