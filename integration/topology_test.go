package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// exchangeFrom asks name from source address src as a distinct client. A
// lost UDP packet says nothing of the answer: the query is asked again (3
// tries); the test fails on the answer, or when none comes.
func exchangeFrom(t testing.TB, src, addr, name string, qtype uint16, tcp bool, edns uint16) *dns.Msg {
	t.Helper()
	var err error
	for try := 0; try < 3; try++ {
		var r *dns.Msg
		if r, err = testbed.ExchangeFrom(src, addr, name, qtype, tcp, edns); err == nil {
			return r
		}
	}
	t.Fatalf("%s from %s: no reply in 3 tries: %v", name, src, err)
	return nil
}

func addrs(r *dns.Msg) []string { return testbed.AddrsOf(r.Answer) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestTopology: topology order, answer caps and per-Service annotations on
// the real control plane, through the Corefile users run (cache 30 and
// loadbalance in front of headless), clients told apart by source address.
func TestTopology(t *testing.T) {
	c := testbed.StartCluster(t)
	// node-a: zone-a, its pods in 127.0.10.0/24; node-b: zone-b, its own
	// address 127.0.0.3 (a query through NodeLocal DNSCache); node-c: zone-a.
	c.NodeWith(t, "node-a", "zone-a", "127.0.10.0/24", "127.0.0.2")
	c.NodeWith(t, "node-b", "zone-b", "127.0.11.0/24", "127.0.0.3")
	c.NodeWith(t, "node-c", "zone-a", "127.0.12.0/24", "127.0.0.4")
	c.Namespace(t, "app")
	svc := func(name, td string, ann map[string]string) {
		s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: name, Annotations: ann},
			Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone, Selector: map[string]string{"app": name}, Ports: []core.ServicePort{testbed.ServicePort("http", 80)}}}
		if td != "" {
			s.Spec.TrafficDistribution = &td
		}
		if _, err := c.Client.CoreV1().Services("app").Create(bg, s, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	nodes := []string{"node-a", "node-b", "node-c"}
	pods := func(app string, n, subnet int) map[string][]string { // node -> its pods' IPs
		on := map[string][]string{}
		for i := 0; i < n; i++ {
			ip := fmt.Sprintf("10.%d.%d.%d", subnet, i%3, 10+i)
			c.Pod(t, testbed.PodSpec{Namespace: "app", Name: fmt.Sprintf("%s-%d", app, i), Node: nodes[i%3], Labels: map[string]string{"app": app},
				Hostname: fmt.Sprintf("%s-%d", app, i), Subdomain: app, IPs: []string{ip}, Ready: true})
			on[nodes[i%3]] = append(on[nodes[i%3]], ip)
		}
		return on
	}
	svc("web", "PreferSameZone", nil)
	web := pods("web", 6, 1)
	svc("near", "PreferSameNode", nil)
	near := pods("near", 6, 2)
	svc("plain", "", nil)
	pods("plain", 3, 3)
	svc("big", "", nil)
	pods("big", 30, 4)
	svc("few", "", map[string]string{"headless.dns/max-answers": "3", "headless.dns/ttl": "17"})
	pods("few", 6, 5)
	svc("odd", "", map[string]string{"headless.dns/ttl": "forever"})
	pods("odd", 1, 6)

	ours := startOursWith(t, c.Kubeconfig(testbed.UserAdmin), "cache 30\n    loadbalance",
		"topology\n        client_zones zone-b 127.0.20.0/24\n        max_answers 8")
	name := func(s string) string { return s + ".app" + zone }
	expectCount := func(n string, want int) {
		eventually(t, 60*time.Second, n+" published", func() error {
			if got := len(addrs(exchangeFrom(t, "127.0.0.1", ours.Addr, n, dns.TypeA, true, 0))); got != want {
				return fmt.Errorf("%d addresses, want %d", got, want)
			}
			return nil
		})
	}
	for s, n := range map[string]int{"web": 6, "near": 6, "plain": 3, "big": 30, "few": 6, "odd": 1} {
		expectCount(name(s), n)
	}
	// the controller fills hints.forZones once trafficDistribution is set
	sl, err := c.Client.DiscoveryV1().EndpointSlices("app").List(bg, meta.ListOptions{LabelSelector: discovery.LabelServiceName + "=web"})
	if err != nil || len(sl.Items) == 0 {
		t.Fatal(err)
	}
	if h := sl.Items[0].Endpoints[0].Hints; h == nil || len(h.ForZones) == 0 {
		t.Logf("note: no hints.forZones on the web slice (%+v): order falls back to each endpoint's zone", h)
	}

	zoneA := append(slices.Clone(web["node-a"]), web["node-c"]...)
	for _, tc := range []struct {
		client, svc, why string
		first            []string
	}{
		{"127.0.10.5", "web", "pod on node-a (pod CIDR): zone-a first", zoneA},
		{"127.0.0.3", "web", "node-b's own address: zone-b first", web["node-b"]},
		{"127.0.20.9", "web", "client_zones: zone-b first", web["node-b"]},
		{"127.0.12.7", "near", "pod on node-c: node-c first", near["node-c"]},
		{"127.0.0.2", "near", "node-a's address: node-a first", near["node-a"]},
	} {
		// several replies each, interleaved with other clients: most come from cache
		for i := 0; i < 4; i++ {
			got := addrs(exchangeFrom(t, tc.client, ours.Addr, name(tc.svc), dns.TypeA, false, 1232))
			if len(got) != 6 || !slices.Equal(sorted(got[:len(tc.first)]), sorted(tc.first)) {
				t.Errorf("%s from %s (%s), reply %d: %v, want %v first", tc.svc, tc.client, tc.why, i, got, tc.first)
			}
			exchangeFrom(t, "127.0.0.9", ours.Addr, name(tc.svc), dns.TypeA, false, 1232)
		}
	}
	// PreferSameNode: same node, then the rest of the zone, then the others
	got := addrs(exchangeFrom(t, "127.0.12.7", ours.Addr, name("near"), dns.TypeA, false, 1232))
	if !slices.Equal(sorted(got[2:4]), sorted(near["node-a"])) {
		t.Errorf("near from node-c: %v, want node-c's %v, then zone-a's node-a %v", got, near["node-c"], near["node-a"])
	}
	// SRV: preferred targets at priority 0, the others at 1
	srv := exchangeFrom(t, "127.0.0.3", ours.Addr, "_http._tcp."+name("web"), dns.TypeSRV, false, 1232)
	for _, rr := range srv.Answer {
		s := rr.(*dns.SRV)
		want := uint16(1)
		if slices.ContainsFunc(web["node-b"], func(ip string) bool { return glueOf(srv, s.Target) == ip }) {
			want = 0
		}
		if s.Priority != want {
			t.Errorf("SRV %s from node-b: priority %d, want %d", s.Target, s.Priority, want)
		}
	}
	// unknown clients and Services that ask for nothing get every endpoint, no order
	if got := addrs(exchangeFrom(t, "127.0.0.1", ours.Addr, name("plain"), dns.TypeA, false, 1232)); len(got) != 3 {
		t.Errorf("plain: %v", got)
	}

	// max_answers 8 over plain UDP (512 bytes): 8 records, no TC, rotating
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		r := exchangeFrom(t, "127.0.0.5", ours.Addr, name("big"), dns.TypeA, false, 0)
		if len(r.Answer) != 8 || r.Truncated {
			t.Fatalf("big over UDP: %d records, TC %v; want 8, no TC", len(r.Answer), r.Truncated)
		}
		for _, a := range addrs(r) {
			seen[a] = true
		}
	}
	if len(seen) != 30 {
		t.Errorf("8 capped replies (cached after the first) gave out %d of 30 endpoints", len(seen))
	}
	if r := exchangeFrom(t, "127.0.0.5", ours.Addr, name("big"), dns.TypeA, true, 0); len(r.Answer) != 30 {
		t.Errorf("big over TCP: %d records, want 30", len(r.Answer))
	}
	// per-Service annotations: max-answers 3, ttl 17 (cache counts it down)
	// (a name not asked before: not in cache yet, so its TTL is the one headless wrote)
	r := exchangeFrom(t, "127.0.0.5", ours.Addr, "_http._tcp."+name("few"), dns.TypeA, false, 1232)
	if len(r.Answer) != 3 || r.Answer[0].Header().Ttl != 17 {
		t.Errorf("few: %v, want 3 records with TTL 17 (annotation; the Corefile's is 5)", r.Answer)
	}
	if !strings.Contains(ours.Log(), `headless.dns/ttl: "forever" is not a number`) {
		t.Errorf("no warning for the invalid annotation in the log")
	}
	if v := metric(t, ours.metrics, `coredns_headless_invalid_objects_total{reason="annotation",resource="services"}`); v < 1 {
		t.Errorf("invalid annotation not counted: %v", v)
	}
	if r := exchangeFrom(t, "127.0.0.5", ours.Addr, name("odd"), dns.TypeA, false, 0); len(r.Answer) != 1 || r.Answer[0].Header().Ttl > 5 {
		t.Errorf("odd (invalid ttl annotation): %v, want its record with the Corefile's TTL", r.Answer)
	}
	for _, m := range []string{"node", "zone", "none"} {
		if v := metric(t, ours.metrics, fmt.Sprintf(`coredns_headless_topology_answers_total{match=%q}`, m)); v < 1 {
			t.Errorf("topology_answers_total{match=%q} = %v", m, v)
		}
	}
	if v := metric(t, ours.metrics, "coredns_headless_capped_replies_total"); v < 9 {
		t.Errorf("capped_replies_total = %v, want at least 9", v)
	}
	testPublishServing(t, c, ours)
}

// testPublishServing: a terminating pod that still serves keeps its own
// name under headless.dns/publish: serving, and leaves the Service name.
func testPublishServing(t *testing.T, c *testbed.Cluster, ours *dut) {
	for _, s := range []string{"drain", "strict"} {
		ann := map[string]string{"headless.dns/publish": "serving"}
		if s == "strict" {
			ann = nil
		}
		sv := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: s, Annotations: ann},
			Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone, Selector: map[string]string{"app": s}, Ports: []core.ServicePort{testbed.ServicePort("http", 80)}}}
		if _, err := c.Client.CoreV1().Services("app").Create(bg, sv, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ {
			c.Pod(t, testbed.PodSpec{Namespace: "app", Name: fmt.Sprintf("%s-%d", s, i), Node: "node-a", Labels: map[string]string{"app": s},
				Hostname: fmt.Sprintf("%s-%d", s, i), Subdomain: s, IPs: []string{fmt.Sprintf("10.7.%d.%d", len(s), 10+i)}, Ready: true})
		}
		expect(t, ours.Addr, s+"-1."+s+".app"+zone, dns.TypeA, fmt.Sprintf("NOERROR A 10.7.%d.11", len(s)))
		grace := int64(600) // no kubelet finalizes it: it stays terminating, still Ready
		if err := c.Client.CoreV1().Pods("app").Delete(bg, s+"-1", meta.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
			t.Fatal(err)
		}
	}
	// the Service name drops the terminating endpoint in both
	expect(t, ours.Addr, "drain.app"+zone, dns.TypeA, "NOERROR A 10.7.5.10")
	expect(t, ours.Addr, "strict.app"+zone, dns.TypeA, "NOERROR A 10.7.6.10")
	// its own name: kept while serving under publish: serving, gone by default
	expect(t, ours.Addr, "drain-1.drain.app"+zone, dns.TypeA, "NOERROR A 10.7.5.11")
	expect(t, ours.Addr, "strict-1.strict.app"+zone, dns.TypeA, "NXDOMAIN")
	// the last ready one goes: the Service name falls back to the serving one
	grace := int64(600)
	if err := c.Client.CoreV1().Pods("app").Delete(bg, "drain-0", meta.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	expect(t, ours.Addr, "drain.app"+zone, dns.TypeA, "NOERROR A 10.7.5.10 | A 10.7.5.11")
}

// glueOf is the address of target in r's additional section.
func glueOf(r *dns.Msg, target string) string {
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok && strings.EqualFold(a.Hdr.Name, target) {
			return a.A.String()
		}
	}
	return ""
}
