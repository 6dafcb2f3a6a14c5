package headless

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestFallthrough(t *testing.T) {
	cases := []struct {
		zones []string // nil: fallthrough off
		pass  bool     // the NXDOMAIN below the Service passes on
	}{
		{nil, false},
		{[]string{}, true}, // every zone
		{[]string{"cluster.local."}, true},
		{[]string{"example.org."}, false},
	}
	for _, c := range cases {
		cfg := config{}
		if c.zones != nil {
			cfg.fall.SetZonesFromArgs(c.zones)
		}
		h, _ := start(t, cfg, xfrFixture()...)
		h.Next = test.NextHandler(nextRcode, nil)
		m := query(h, "web-9.web.a.svc.cluster.local.", dns.TypeA)
		if passed := m == nil; passed != c.pass {
			t.Errorf("fallthrough %v: passed %v, want %v (%v)", c.zones, passed, c.pass, m)
		}
		// answers and NODATA never pass
		if m := query(h, "web-0.web.a.svc.cluster.local.", dns.TypeA); m == nil || len(m.Answer) != 1 {
			t.Errorf("fallthrough %v: web-0 not answered: %v", c.zones, m)
		}
		if m := query(h, "web-0.web.a.svc.cluster.local.", dns.TypeTXT); m == nil || m.Rcode != dns.RcodeSuccess {
			t.Errorf("fallthrough %v: NODATA passed or wrong: %v", c.zones, m)
		}
		// with no next plugin, the NXDOMAIN stands
		h.Next = nil
		if m := query(h, "web-9.web.a.svc.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
			t.Errorf("fallthrough %v without next: %v", c.zones, m)
		}
	}
}

// ptrsOf are the PTR targets answered for a reverse name.
func ptrsOf(h *Headless, name string) []string {
	m := query(h, name, dns.TypePTR)
	if m == nil {
		return nil
	}
	var out []string
	for _, rr := range m.Answer {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	slices.Sort(out)
	return out
}

func TestSinglePTR(t *testing.T) {
	fixture := []runtime.Object{
		// 10.0.0.1: a StatefulSet member of web (named), also selected by two
		// other headless Services
		headlessSvc("a", "web", nil),
		slice("a", "web-x", "web", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.0.1", Host: "web-0"}),
		slice("a", "web-6", "web", discovery.AddressTypeIPv6, "", http80, ep{IP: "fd00::1", Host: "web-0"}),
		headlessSvc("a", "all", nil),
		slice("a", "all-x", "all", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.0.1"}, ep{IP: "10.0.0.2"}),
		slice("a", "all-6", "all", discovery.AddressTypeIPv6, "", http80, ep{IP: "fd00::1"}),
		headlessSvc("0", "zz", nil),
		slice("0", "zz-x", "zz", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.0.1"}, ep{IP: "10.0.0.2"}),
	}
	for _, single := range []bool{false, true} {
		h, _ := start(t, config{singlePTR: single}, fixture...)
		h.Next = test.NextHandler(nextRcode, nil)
		got1 := ptrsOf(h, "1.0.0.10.in-addr.arpa.")
		got2 := ptrsOf(h, "2.0.0.10.in-addr.arpa.")
		got6 := ptrsOf(h, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.")
		want1 := []string{"10-0-0-1.all.a.svc.cluster.local.", "10-0-0-1.zz.0.svc.cluster.local.", "web-0.web.a.svc.cluster.local."}
		want2 := []string{"10-0-0-2.all.a.svc.cluster.local.", "10-0-0-2.zz.0.svc.cluster.local."}
		want6 := []string{"fd00--1.all.a.svc.cluster.local.", "web-0.web.a.svc.cluster.local."}
		if single {
			// the named endpoint; else the first Service by namespace ("0" < "a"); each family alone
			want1, want2, want6 = []string{"web-0.web.a.svc.cluster.local."}, []string{"10-0-0-2.zz.0.svc.cluster.local."}, []string{"web-0.web.a.svc.cluster.local."}
		}
		if !slices.Equal(got1, want1) || !slices.Equal(got2, want2) || !slices.Equal(got6, want6) {
			t.Errorf("single_ptr %v: PTRs %q, %q, %q; want %q, %q, %q", single, got1, got2, got6, want1, want2, want6)
		}
		// explain names the winner and those left out
		if single {
			c := h.ptrChoice(netip.MustParseAddr("10.0.0.1"))
			if c == nil {
				t.Fatal("no single_ptr choice for 10.0.0.1")
			}
			slices.Sort(c.LeftOut)
			if c.Answered != "a/web" || !slices.Equal(c.LeftOut, []string{"0/zz", "a/all"}) {
				t.Errorf("choice %+v, want a/web over 0/zz and a/all", c)
			}
			if h.ptrChoice(netip.MustParseAddr("10.0.0.9")) != nil {
				t.Error("a choice for an address nobody publishes")
			}
		}
		// forward names are untouched
		if m := query(h, "10-0-0-1.zz.0.svc.cluster.local.", dns.TypeA); m == nil || len(m.Answer) != 1 {
			t.Errorf("single_ptr %v: forward name changed: %v", single, m)
		}
	}
}

func TestNamespaceLabels(t *testing.T) {
	nsA := &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: "a", Labels: map[string]string{"team": "dns"}}}
	nsB := &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: "b"}}
	sel, _ := labels.Parse("team=dns")
	h, client := start(t, config{nsLabels: "team=dns", nsSelector: sel}, append(xfrFixture(), nsA, nsB)...)
	h.Next = test.NextHandler(nextRcode, nil)
	served := func(name string) bool { m := query(h, name, dns.TypeA); return m != nil && len(m.Answer) > 0 }
	if !served("web.a.svc.cluster.local.") || served("db.b.svc.cluster.local.") {
		t.Fatal("namespace a must be served, b passed on")
	}
	if ptrsOf(h, "1.1.0.10.in-addr.arpa.") != nil {
		t.Error("the PTR of an address of a namespace out of scope is answered")
	}
	ctx := context.Background()
	nsB.Labels = map[string]string{"team": "dns"}
	if _, err := client.CoreV1().Namespaces().Update(ctx, nsB, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b in scope", func() bool { return served("db.b.svc.cluster.local.") })
	nsA.Labels = nil
	if _, err := client.CoreV1().Namespaces().Update(ctx, nsA, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a out of scope", func() bool { return query(h, "web.a.svc.cluster.local.", dns.TypeA) == nil })
	if err := client.CoreV1().Namespaces().Delete(ctx, "b", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b deleted", func() bool { return query(h, "db.b.svc.cluster.local.", dns.TypeA) == nil })
}
