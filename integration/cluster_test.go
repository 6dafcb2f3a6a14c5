package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const zone = ".svc.cluster.local."

// TestCluster runs the functional scenarios on one real control plane, with
// our build (headless + kubernetes{noendpoints}) and stock CoreDNS side by side.
func TestCluster(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Node(t, "node-b", "zone-b")
	ours := startOurs(t, c.Admin, "reload 2s")
	stock := startStock(t, c.Admin)

	// First, before any headless object exists: ClusterIP Services with
	// endpoints never reach the headless plugin's watches.
	t.Run("ClusterIPNeverWatched", func(t *testing.T) {
		c.Namespace(t, "mixed")
		series := `coredns_headless_watch_events_total{resource="endpointslices"}`
		before := metric(t, ours.metrics, series)
		c.Service(t, "mixed", "api", "", map[string]string{"app": "api"}, false, testbed.ServicePort("http", 80))
		for i := 0; i < 5; i++ {
			c.Pod(t, testbed.PodSpec{Namespace: "mixed", Name: fmt.Sprintf("api-%d", i), Node: "node-a",
				Labels: map[string]string{"app": "api"}, IPs: []string{fmt.Sprintf("10.244.9.%d", i+1)}, Ready: true})
		}
		eventually(t, 30*time.Second, "controller wrote the api slice", func() error {
			l, err := c.Client.DiscoveryV1().EndpointSlices("mixed").List(bg, meta.ListOptions{LabelSelector: "kubernetes.io/service-name=api"})
			if err != nil || len(l.Items) != 1 || len(l.Items[0].Endpoints) != 5 {
				return fmt.Errorf("slices %v err %v", l, err)
			}
			return nil
		})
		svc, _ := c.Client.CoreV1().Services("mixed").Get(bg, "api", meta.GetOptions{})
		sameAsStock(t, ours.Addr, stock.Addr,
			q{"api.mixed" + zone, dns.TypeA, "NOERROR A " + svc.Spec.ClusterIP},
			q{"_http._tcp.api.mixed" + zone, dns.TypeSRV, "NOERROR SRV 0 100 80 api.mixed.svc.cluster.local."})
		time.Sleep(time.Second) // an absence cannot be polled for: give any event that was coming time to arrive
		if after := metric(t, ours.metrics, series); after != before {
			t.Fatalf("headless received %v EndpointSlice events for a ClusterIP Service", after-before)
		}
		// and the counter does count: a headless Service's slice moves it
		c.Service(t, "mixed", "hl", core.ClusterIPNone, map[string]string{"app": "hl"}, false, testbed.ServicePort("http", 80))
		c.Pod(t, testbed.PodSpec{Namespace: "mixed", Name: "hl-0", Node: "node-a", Labels: map[string]string{"app": "hl"}, IPs: []string{"10.244.9.100"}, Ready: true})
		expect(t, ours.Addr, "hl.mixed"+zone, dns.TypeA, "NOERROR A 10.244.9.100")
		if after := metric(t, ours.metrics, series); after <= before {
			t.Fatalf("watch event counter did not move for a headless slice: %v -> %v", before, after)
		}
	})

	t.Run("StatefulSet", func(t *testing.T) {
		c.Namespace(t, "sts")
		c.Service(t, "sts", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80), testbed.ServicePort("metrics", 9090))
		for i := 0; i < 3; i++ {
			c.Pod(t, testbed.PodSpec{Namespace: "sts", Name: fmt.Sprintf("web-%d", i), Node: []string{"node-a", "node-b"}[i%2],
				Labels: map[string]string{"app": "web"}, Hostname: fmt.Sprintf("web-%d", i), Subdomain: "web",
				IPs: []string{fmt.Sprintf("10.244.1.%d", 10+i)}, Ready: true})
		}
		expect(t, ours.Addr, "web.sts"+zone, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.11 | A 10.244.1.12")
		sameAsStock(t, ours.Addr, stock.Addr,
			q{"web.sts" + zone, dns.TypeA, "NOERROR A"},
			q{"web-0.web.sts" + zone, dns.TypeA, "NOERROR A 10.244.1.10"},
			q{"web.sts" + zone, dns.TypeSRV, "NOERROR SRV"},
			q{"_http._tcp.web.sts" + zone, dns.TypeSRV, "NOERROR SRV"},
			q{"_metrics._tcp.web.sts" + zone, dns.TypeSRV, "NOERROR SRV"},
			q{"web-1.web.sts" + zone, dns.TypeSRV, "NOERROR SRV"},
			q{"web-1.web.sts" + zone, dns.TypeAAAA, "NOERROR"},
			q{"web.sts" + zone, dns.TypeTXT, "NOERROR"},
			q{"nope.web.sts" + zone, dns.TypeA, "NXDOMAIN"},
			q{"_nope._tcp.web.sts" + zone, dns.TypeSRV, "NXDOMAIN"},
			q{"Web-2.WEB.sts.svc.Cluster.Local.", dns.TypeA, "NOERROR A 10.244.1.12"},
			q{"10.1.244.10.in-addr.arpa.", dns.TypePTR, "NOERROR PTR web-0.web.sts.svc.cluster.local."},
		)
		// scale up, then down
		c.Pod(t, testbed.PodSpec{Namespace: "sts", Name: "web-3", Node: "node-a", Labels: map[string]string{"app": "web"},
			Hostname: "web-3", Subdomain: "web", IPs: []string{"10.244.1.13"}, Ready: true})
		expect(t, ours.Addr, "web-3.web.sts"+zone, dns.TypeA, "NOERROR A 10.244.1.13")
		sameAsStock(t, ours.Addr, stock.Addr, q{"web.sts" + zone, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.11 | A 10.244.1.12 | A 10.244.1.13"})
		c.DeletePod(t, "sts", "web-3")
		expect(t, ours.Addr, "web-3.web.sts"+zone, dns.TypeA, "NXDOMAIN")
		sameAsStock(t, ours.Addr, stock.Addr, q{"web.sts" + zone, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.11 | A 10.244.1.12"},
			q{"13.1.244.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN"})
		// a pod turns not-ready and ready again
		c.SetPodStatus(t, "sts", "web-1", []string{"10.244.1.11"}, false)
		expect(t, ours.Addr, "web-1.web.sts"+zone, dns.TypeA, "NXDOMAIN")
		sameAsStock(t, ours.Addr, stock.Addr, q{"web.sts" + zone, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.12"})
		c.SetPodStatus(t, "sts", "web-1", []string{"10.244.1.11"}, true)
		expect(t, ours.Addr, "web-1.web.sts"+zone, dns.TypeA, "NOERROR A 10.244.1.11")
		// publishNotReadyAddresses: not-ready pods are published
		c.Service(t, "sts", "peers", core.ClusterIPNone, map[string]string{"app": "peer"}, true, testbed.ServicePort("gossip", 7000))
		c.Pod(t, testbed.PodSpec{Namespace: "sts", Name: "peer-0", Node: "node-b", Labels: map[string]string{"app": "peer"},
			Hostname: "peer-0", Subdomain: "peers", IPs: []string{"10.244.2.20"}, Ready: false})
		expect(t, ours.Addr, "peer-0.peers.sts"+zone, dns.TypeA, "NOERROR A 10.244.2.20")
		sameAsStock(t, ours.Addr, stock.Addr, q{"peers.sts" + zone, dns.TypeA, "NOERROR A 10.244.2.20"},
			q{"_gossip._tcp.peers.sts" + zone, dns.TypeSRV, "NOERROR SRV 0 100 7000 peer-0.peers.sts.svc.cluster.local."})
		// a pod with hostname and subdomain outside a StatefulSet
		c.Pod(t, testbed.PodSpec{Namespace: "sts", Name: "solo-pod", Node: "node-b", Labels: map[string]string{"app": "web"},
			Hostname: "solo", Subdomain: "web", IPs: []string{"10.244.2.30"}, Ready: true})
		expect(t, ours.Addr, "solo.web.sts"+zone, dns.TypeA, "NOERROR A 10.244.2.30")
		sameAsStock(t, ours.Addr, stock.Addr, q{"solo.web.sts" + zone, dns.TypeA, "NOERROR A 10.244.2.30"},
			q{"30.2.244.10.in-addr.arpa.", dns.TypePTR, "NOERROR PTR solo.web.sts.svc.cluster.local."})
	})

	t.Run("SelectorLess", func(t *testing.T) {
		c.Namespace(t, "ext")
		c.Service(t, "ext", "db", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
		// hand-written Endpoints: the mirroring controller turns them into a slice
		eps := &core.Endpoints{ObjectMeta: meta.ObjectMeta{Namespace: "ext", Name: "db"}, Subsets: []core.EndpointSubset{{
			Addresses: []core.EndpointAddress{{IP: "192.0.2.10", Hostname: "primary"}, {IP: "192.0.2.11", Hostname: "replica"}},
			Ports:     []core.EndpointPort{{Name: "pg", Port: 5432, Protocol: core.ProtocolTCP}},
		}}}
		if _, err := c.Client.CoreV1().Endpoints("ext").Create(bg, eps, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		expect(t, ours.Addr, "primary.db.ext"+zone, dns.TypeA, "NOERROR A 192.0.2.10")
		sameAsStock(t, ours.Addr, stock.Addr,
			q{"db.ext" + zone, dns.TypeA, "NOERROR A 192.0.2.10 | A 192.0.2.11"},
			q{"_pg._tcp.db.ext" + zone, dns.TypeSRV, "NOERROR SRV"},
			q{"11.2.0.192.in-addr.arpa.", dns.TypePTR, "NOERROR PTR replica.db.ext.svc.cluster.local."})

		// hand-written EndpointSlices of another manager, several per Service, IPv4 and IPv6
		c.Service(t, "ext", "multi", core.ClusterIPNone, nil, false, testbed.ServicePort("http", 80))
		mk := func(name string, t6 bool, addrs ...string) {
			at := discovery.AddressTypeIPv4
			if t6 {
				at = discovery.AddressTypeIPv6
			}
			port, pname, proto := int32(80), "http", core.ProtocolTCP
			s := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: "ext", Name: name, Labels: map[string]string{
				discovery.LabelServiceName: "multi", discovery.LabelManagedBy: "my-controller.example.com"}},
				AddressType: at, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
			for _, a := range addrs {
				s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{a}})
			}
			if _, err := c.Client.DiscoveryV1().EndpointSlices("ext").Create(bg, s, meta.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		mk("multi-a", false, "192.0.2.20", "192.0.2.21")
		mk("multi-b", false, "192.0.2.22")
		mk("multi-6", true, "fd00::20", "fd00:10::")
		expect(t, ours.Addr, "multi.ext"+zone, dns.TypeAAAA, "NOERROR AAAA fd00:10:: | AAAA fd00::20")
		sameAsStock(t, ours.Addr, stock.Addr,
			q{"multi.ext" + zone, dns.TypeA, "NOERROR A 192.0.2.20 | A 192.0.2.21 | A 192.0.2.22"},
			q{"multi.ext" + zone, dns.TypeAAAA, "NOERROR AAAA"},
			q{"_http._tcp.multi.ext" + zone, dns.TypeSRV, "NOERROR SRV 0 20 80"},
			q{"fd00-10--0.multi.ext" + zone, dns.TypeAAAA, "NOERROR AAAA fd00:10::"},
			q{"192-0-2-22.multi.ext" + zone, dns.TypeA, "NOERROR A 192.0.2.22"},
			q{"0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, "NOERROR PTR fd00--20.multi.ext.svc.cluster.local."})
	})

	t.Run("Deletes", func(t *testing.T) {
		// a pod
		c.DeletePod(t, "sts", "web-2")
		expect(t, ours.Addr, "web-2.web.sts"+zone, dns.TypeA, "NXDOMAIN")
		expect(t, ours.Addr, "12.1.244.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN")
		// a Service: every name passes to kubernetes, which says NXDOMAIN
		if err := c.Client.CoreV1().Services("ext").Delete(bg, "multi", meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		expect(t, ours.Addr, "multi.ext"+zone, dns.TypeA, "NXDOMAIN")
		expect(t, ours.Addr, "20.2.0.192.in-addr.arpa.", dns.TypePTR, "NXDOMAIN")
		sameAsStock(t, ours.Addr, stock.Addr, q{"multi.ext" + zone, dns.TypeA, "NXDOMAIN"}, q{"192-0-2-22.multi.ext" + zone, dns.TypeA, "NXDOMAIN"})
		// a namespace: the namespace and garbage-collector controllers remove its contents
		svcs := metric(t, ours.metrics, "coredns_headless_services")
		if err := c.Client.CoreV1().Namespaces().Delete(bg, "sts", meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "pods of sts reaped", func() error {
			if n := c.ReapPods(t, "sts"); n > 0 {
				return fmt.Errorf("%d pods left", n)
			}
			return nil
		})
		expect(t, ours.Addr, "web.sts"+zone, dns.TypeA, "NXDOMAIN")
		expect(t, ours.Addr, "peers.sts"+zone, dns.TypeA, "NXDOMAIN")
		expect(t, ours.Addr, "10.1.244.10.in-addr.arpa.", dns.TypePTR, "NXDOMAIN")
		eventually(t, 60*time.Second, "index holds no sts Service", func() error {
			if got := metric(t, ours.metrics, "coredns_headless_services"); got != svcs-2 {
				return fmt.Errorf("services gauge %v, want %v", got, svcs-2)
			}
			return nil
		})
		eventually(t, 60*time.Second, "namespace gone", func() error {
			if _, err := c.Client.CoreV1().Namespaces().Get(bg, "sts", meta.GetOptions{}); err == nil {
				return fmt.Errorf("still there")
			}
			return nil
		})
	})

	t.Run("ReloadLeavesNothing", func(t *testing.T) {
		watches := func() int { return apiWatches(t, c) }
		goroutines := func() float64 { return metric(t, ours.metrics, "go_goroutines") }
		reload(t, ours, 3)
		g0 := testbed.Settled(t, 30*time.Second, "goroutines", goroutines)
		w0 := int(testbed.Settled(t, 30*time.Second, "API watches", func() float64 { return float64(watches()) }))
		reload(t, ours, 20)
		g1 := testbed.Settled(t, 30*time.Second, "goroutines", goroutines)
		w1 := int(testbed.Settled(t, 30*time.Second, "API watches", func() float64 { return float64(watches()) }))
		t.Logf("after 3 reloads: %v goroutines, %d API watches; after 20 more: %v goroutines, %d API watches", g0, w0, g1, w1)
		if g1 > g0+10 {
			t.Errorf("goroutines grew over 20 reloads: %v -> %v", g0, g1)
		}
		if w1 > w0 {
			t.Errorf("API server watches grew over 20 reloads: %d -> %d", w0, w1)
		}
		expect(t, ours.Addr, "primary.db.ext"+zone, dns.TypeA, "NOERROR A 192.0.2.10")
	})
}

// reload sends SIGUSR1 n times, waiting for each reload to complete.
func reload(t *testing.T, d *dut, n int) {
	t.Helper()
	testbed.Reload(t, d.Proc, n)
}

// apiWatches counts the WATCH requests the API server is serving.
func apiWatches(t *testing.T, c *testbed.Cluster) int {
	t.Helper()
	b, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "apiserver_longrunning_requests{") && strings.Contains(line, `verb="WATCH"`) {
			var v float64
			f := strings.Fields(line)
			fmt.Sscan(f[len(f)-1], &v)
			n += int(v)
		}
	}
	return n
}
