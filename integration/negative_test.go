package integration

import (
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNegativeThroughCache: the Corefile's negative_ttl, through cache 30
// on the real control plane. Every negative reply of ours carries an SOA
// TTL of at most N, also from the cache (which rewrites it to its 5 s
// floor). A name denied and cached (NXDOMAIN below a Service, SRV, PTR, and
// NODATA of a Service name with only the other family) is answered through
// the cache as soon as its records reach us: each one replaced, not
// expired.
func TestNegativeThroughCache(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Namespace(t, "app")
	ours := startOursWith(t, c.Admin, "cache 30", "negative_ttl 1\n        startup_timeout 10s")
	c.Service(t, "app", "ext", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
	c.Service(t, "app", "dual", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
	handMadeSlice(t, c, "app", "dual", "192.0.2.20", "dual-0")
	const ext, dual = "ext.app" + zone, "dual.app" + zone
	untilRecords(t, 30*time.Second, ours.Addr, dual, dns.TypeA, "NOERROR A 192.0.2.20")

	type negative struct {
		name  string
		qtype uint16
		rcode string
		ours  bool   // our reply (the PTR of an unknown address is stock's)
		after string // once its records exist
	}
	cases := []negative{
		{"x-1." + ext, dns.TypeA, "NXDOMAIN", true, "NOERROR A 192.0.2.9"},
		{"_pg._tcp." + ext, dns.TypeSRV, "NXDOMAIN", true, "NOERROR SRV 0 100 5432 x-1." + ext},
		{"9.2.0.192.in-addr.arpa.", dns.TypePTR, "NXDOMAIN", false, "NOERROR PTR x-1." + ext},
		{dual, dns.TypeAAAA, "NOERROR", true, "NOERROR AAAA 2001:db8::20"},
	}
	for _, x := range cases {
		hits := metric(t, ours.metrics, "coredns_cache_hits_total")
		for _, from := range []string{"miss", "hit"} {
			rc, ttl, minttl := negativeSOA(t, ours.Addr, x.name, x.qtype)
			if rc != x.rcode {
				t.Fatalf("%s %s (%s): %s, want %s", x.name, dns.TypeToString[x.qtype], from, rc, x.rcode)
			}
			if x.ours && (ttl > 1 || minttl != 1) {
				t.Errorf("%s %s (%s): SOA TTL %d MINIMUM %d, want at most 1 and 1 (negative_ttl 1)", x.name, dns.TypeToString[x.qtype], from, ttl, minttl)
			}
		}
		if got := metric(t, ours.metrics, "coredns_cache_hits_total") - hits; got != 1 {
			t.Errorf("%s %s: %v cache hits, want 1", x.name, dns.TypeToString[x.qtype], got)
		}
	}

	// their records appear: ext's endpoint (A, SRV, PTR) and dual's IPv6 slice
	handMadeSlice(t, c, "app", "ext", "192.0.2.9", "x-1")
	port, proto, pname := int32(5432), core.ProtocolTCP, "pg"
	host := "dual-0"
	v6 := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: "dual-v6",
		Labels: map[string]string{discovery.LabelServiceName: "dual", discovery.LabelManagedBy: "manual.example.com"}},
		AddressType: discovery.AddressTypeIPv6, Ports: []discovery.EndpointPort{{Name: &pname, Protocol: &proto, Port: &port}},
		Endpoints: []discovery.Endpoint{{Addresses: []string{"2001:db8::20"}, Hostname: &host}}}
	if _, err := c.Client.DiscoveryV1().EndpointSlices("app").Create(bg, v6, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, x := range cases {
		before := metric(t, ours.metrics, "coredns_headless_negative_replaced_total")
		took := untilRecords(t, 4*time.Second, ours.Addr, x.name, x.qtype, x.after) // within cache's 5 s denial floor
		if got := metric(t, ours.metrics, "coredns_headless_negative_replaced_total") - before; got < 1 {
			t.Errorf("%s %s answered after %v without a replaced negative: expired, not replaced", x.name, dns.TypeToString[x.qtype], took)
		}
	}
}
