package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var metaGet = meta.GetOptions{}

// TestFaults: API outages, etcd restarts and watch expiry. CoreDNS reaches the
// API server through a proxy that can cut it off; the API server's watches
// time out every 8-16 s (--min-request-timeout=8), so informers re-watch often.
func TestFaults(t *testing.T) {
	c := testbed.StartCluster(t, "--min-request-timeout=8")
	c.Node(t, "node-a", "zone-a")
	proxy := testbed.StartProxy(t, strings.TrimPrefix(c.URL, "https://"))
	kc := c.KubeconfigAt(testbed.UserAdmin, "https://"+proxy.Addr)
	ours := startOurs(t, kc, "")

	c.Namespace(t, "app")
	c.Service(t, "app", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80))
	pod := func(i int, ready bool) {
		c.Pod(t, testbed.PodSpec{Namespace: "app", Name: fmt.Sprintf("web-%d", i), Node: "node-a", Labels: map[string]string{"app": "web"},
			Hostname: fmt.Sprintf("web-%d", i), Subdomain: "web", IPs: []string{fmt.Sprintf("10.244.1.%d", 10+i)}, Ready: ready})
	}
	for i := 0; i < 3; i++ {
		pod(i, true)
	}
	web := "web.app" + zone
	expect(t, ours.Addr, web, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.11 | A 10.244.1.12")
	lastKnown := func() map[string]string {
		m := map[string]string{}
		for _, n := range []string{web, "web-0.web.app" + zone, "web-1.web.app" + zone} {
			m[n] = answer(t, ours.Addr, n, dns.TypeA, false)
		}
		return m
	}

	// A selector-less Service whose slice the test writes itself: the time
	// from /readyz to the answer is ours alone (a pod change waits for
	// kube-controller-manager's own reconnect, with client-go's backoff).
	c.Service(t, "app", "ext", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
	extSlice := func(ips ...string) {
		port, name, proto := int32(5432), "pg", core.ProtocolTCP
		s := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: "ext-manual", Labels: map[string]string{
			discovery.LabelServiceName: "ext", discovery.LabelManagedBy: "test.example.com"}},
			AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &name, Port: &port, Protocol: &proto}}}
		for _, ip := range ips {
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{ip}})
		}
		cur, err := c.Client.DiscoveryV1().EndpointSlices("app").Get(bg, s.Name, metaGet)
		if err == nil {
			s.ResourceVersion = cur.ResourceVersion
			_, err = c.Client.DiscoveryV1().EndpointSlices("app").Update(bg, s, meta.UpdateOptions{})
		} else {
			_, err = c.Client.DiscoveryV1().EndpointSlices("app").Create(bg, s, meta.CreateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	extSlice("192.0.2.1")
	expect(t, ours.Addr, "ext.app"+zone, dns.TypeA, "NOERROR A 192.0.2.1")

	// stopAPIServer stops kube-apiserver for d under query load, restarts it,
	// writes a slice the moment /readyz answers and logs when it is served.
	stopAPIServer := func(t *testing.T, d time.Duration, newIP string) {
		qr := startQuerier(t, ours.Addr, lastKnown())
		c.APIServer.Stop()
		time.Sleep(d)
		if httpStatus(ours.ready) != http.StatusOK {
			t.Error("ready went down while serving the last known answers")
		}
		qr.finish(t, fmt.Sprintf("kube-apiserver stopped %s", d))
		c.StartAPIServer() // returns when /readyz answers
		start := time.Now()
		extSlice("192.0.2.1", newIP)
		expect(t, ours.Addr, "ext.app"+zone, dns.TypeA, "NOERROR A 192.0.2.1 | A "+newIP)
		t.Logf("CATCH-UP after a %s kube-apiserver outage: EndpointSlice written at /readyz -> answer served in %s", d, time.Since(start).Round(time.Millisecond))
	}

	t.Run("APIServerStopped", func(t *testing.T) {
		stopAPIServer(t, 5*time.Second, "192.0.2.2")
		start := time.Now()
		pod(3, true)
		expect(t, ours.Addr, "web-3.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.13")
		t.Logf("and a pod created then -> answer served in %s (includes kube-controller-manager's catch-up)", time.Since(start).Round(time.Millisecond))
	})

	t.Run("ChangesWhileUnreachable", func(t *testing.T) {
		qr := startQuerier(t, ours.Addr, lastKnown())
		proxy.Down()
		// changes made while CoreDNS cannot reach the API server: a slice the
		// test writes itself (a pod change would also wait for
		// kube-controller-manager's own reconnect)
		extSlice("192.0.2.1", "192.0.2.9")
		time.Sleep(5 * time.Second)
		qr.finish(t, "API unreachable 5 s while a slice changed")
		if err := proxy.Up(); err != nil {
			t.Fatal(err)
		}
		d := expect(t, ours.Addr, "ext.app"+zone, dns.TypeA, "NOERROR A 192.0.2.1 | A 192.0.2.9")
		t.Logf("CATCH-UP after API reachable again: a change made during the outage served in %s", d.Round(time.Millisecond))
	})

	t.Run("DeletionsWhileUnreachable", func(t *testing.T) {
		// a Service, a slice and a pod deleted while CoreDNS cannot reach the
		// API server, which then restarts (its new watch cache answers the
		// re-watch with 410 Gone: a relist). Nothing of them may be left.
		c.Service(t, "app", "gone", core.ClusterIPNone, map[string]string{"app": "gone"}, false, testbed.ServicePort("http", 80))
		c.Pod(t, testbed.PodSpec{Namespace: "app", Name: "gone-0", Node: "node-a", Labels: map[string]string{"app": "gone"},
			Hostname: "gone-0", Subdomain: "gone", IPs: []string{"10.244.3.10"}, Ready: true})
		c.Service(t, "app", "ext2", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
		port, pname, proto := int32(5432), "pg", core.ProtocolTCP
		if _, err := c.Client.DiscoveryV1().EndpointSlices("app").Create(bg, &discovery.EndpointSlice{
			ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: "ext2-manual", Labels: map[string]string{
				discovery.LabelServiceName: "ext2", discovery.LabelManagedBy: "test.example.com"}},
			AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
			Endpoints: []discovery.Endpoint{{Addresses: []string{"192.0.2.30"}}}}, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		names := map[string]string{ // name -> its answer before
			"gone-0.gone.app" + zone: "NOERROR A 10.244.3.10", "10.3.244.10.in-addr.arpa.": "NOERROR PTR gone-0.gone.app" + zone,
			"ext2.app" + zone: "NOERROR A 192.0.2.30", "30.2.0.192.in-addr.arpa.": "NOERROR PTR 192-0-2-30.ext2.app" + zone,
			"web-1.web.app" + zone: "NOERROR A 10.244.1.11", "11.1.244.10.in-addr.arpa.": "NOERROR PTR web-1.web.app" + zone,
		}
		for n, want := range names {
			qt := dns.TypeA
			if strings.HasSuffix(n, ".arpa.") {
				qt = dns.TypePTR
			}
			expect(t, ours.Addr, n, qt, want)
		}
		svcs, addrs := metric(t, ours.metrics, "coredns_headless_services"), metric(t, ours.metrics, "coredns_headless_addresses")
		proxy.Down()
		if err := c.Client.CoreV1().Services("app").Delete(bg, "gone", meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.DiscoveryV1().EndpointSlices("app").Delete(bg, "ext2-manual", meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.DeletePod(t, "app", "web-1")
		time.Sleep(2 * time.Second)
		c.APIServer.Stop()
		c.StartAPIServer()
		if err := proxy.Up(); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		for n := range names {
			qt := dns.TypeA
			if strings.HasSuffix(n, ".arpa.") {
				qt = dns.TypePTR
			}
			expect(t, ours.Addr, n, qt, "NXDOMAIN")
		}
		t.Logf("CATCH-UP after deletions while unreachable and a relist: every deleted name gone %s after the API was back", time.Since(start).Round(time.Millisecond))
		eventually(t, 30*time.Second, "gauges decremented", func() error {
			s, a := metric(t, ours.metrics, "coredns_headless_services"), metric(t, ours.metrics, "coredns_headless_addresses")
			if s != svcs-1 || a != addrs-3 {
				return fmt.Errorf("services %v (was %v, want one fewer), addresses %v (was %v, want 3 fewer)", s, svcs, a, addrs)
			}
			return nil
		})
	})

	t.Run("EtcdRestart", func(t *testing.T) {
		qr := startQuerier(t, ours.Addr, lastKnown())
		c.Etcd.Stop()
		time.Sleep(3 * time.Second)
		c.StartEtcd()
		qr.finish(t, "etcd stopped 3 s")
		start := time.Now()
		eventually(t, 60*time.Second, "pod write after etcd restart", func() error {
			_, err := c.Client.CoreV1().Pods("app").Get(bg, "web-0", metaGet)
			return err
		})
		pod(5, true)
		// the slice waits for kube-controller-manager's own reconnect, whose
		// client-go backoff reaches ~30 s after the outages before: a bound
		// for the controller, not for us
		eventually(t, 90*time.Second, "web-5 served", func() error {
			if got := answer(t, ours.Addr, "web-5.web.app"+zone, dns.TypeA, false); got != "NOERROR A 10.244.1.15" {
				return fmt.Errorf("%q", got)
			}
			return nil
		})
		t.Logf("CATCH-UP after etcd restart: API usable and new pod served in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("WatchExpiry", func(t *testing.T) {
		// across 24 s the watches expire at least once; each change still lands
		var worst time.Duration
		for i := 0; i < 8; i++ {
			ready := i%2 == 1
			c.SetPodStatus(t, "app", "web-0", []string{"10.244.1.10"}, ready)
			// kube-controller-manager writes the slice when its own watches
			// and retry backoff allow (after the etcd restart above, up to
			// ~30 s and more on 2 cores): time ours from the slice written
			eventually(t, 90*time.Second, fmt.Sprintf("slice shows web-0 ready=%v", ready), func() error {
				return sliceShows(c, "app", "web", "web-0", ready)
			})
			start := time.Now()
			want := "NXDOMAIN"
			if ready {
				want = "NOERROR A 10.244.1.10"
			}
			expect(t, ours.Addr, "web-0.web.app"+zone, dns.TypeA, want)
			if d := time.Since(start); d > worst {
				worst = d
			}
			time.Sleep(3 * time.Second)
		}
		t.Logf("CATCH-UP across watch expiries: worst slice written -> answer %s over 8 changes in 24 s", worst.Round(time.Millisecond))
	})

	t.Run("StartWhileUnreachable", func(t *testing.T) {
		p2 := testbed.StartProxy(t, strings.TrimPrefix(c.URL, "https://"))
		p2.Down()
		start := time.Now()
		d := startOursWith(t, c.KubeconfigAt(testbed.UserAdmin, "https://"+p2.Addr), "", "startup_timeout 3s")
		waited := time.Since(start)
		if waited < 3*time.Second {
			t.Errorf("served after %s, before startup_timeout 3s", waited)
		}
		// The stock plugin next to ours waits, logs and SERVFAILs the same
		// way: what is checked here is ours alone.
		if !strings.Contains(d.Log(), "plugin/headless: starting server with unsynced Kubernetes API after 3s") {
			t.Errorf("no start-up warning of headless in log:\n%s", d.Log())
		}
		if s, body := httpGet(d.ready); s != http.StatusServiceUnavailable || !strings.Contains(body, "headless") {
			t.Errorf("ready: %d %q, want 503 naming headless while not synced", s, body)
		}
		// after startup_timeout ours passes Service names on (the next
		// plugin, unsynced too, SERVFAILs them), says so once and shows it
		passes := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`)
		names := []string{web, "web-0.web.app" + zone, "nope.web.app" + zone}
		for _, n := range names {
			if got := answer(t, d.Addr, n, dns.TypeA, false); !strings.HasPrefix(got, "SERVFAIL") {
				t.Errorf("%s before sync: %q, want SERVFAIL (never a false NXDOMAIN)", n, got)
			}
		}
		if got := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`) - passes; got != float64(len(names)) {
			t.Errorf("headless passed %v of the %d names on while unsynced, want all", got, len(names))
		}
		if got := metric(t, d.metrics, "coredns_headless_sync_fallback"); got != 1 {
			t.Errorf("sync_fallback %v while unsynced past startup_timeout, want 1", got)
		}
		if n := strings.Count(d.Log(), "plugin/headless: the Service watch has not synced 3s after start-up"); n != 1 {
			t.Errorf("the fallback logged %d times, want once:\n%s", n, d.Log())
		}
		up := time.Now()
		if err := p2.Up(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 60*time.Second, "ready after API reachable", func() error {
			if s := httpStatus(d.ready); s != http.StatusOK {
				return fmt.Errorf("ready %d", s)
			}
			return nil
		})
		expect(t, d.Addr, "web-0.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.10")
		if got := metric(t, d.metrics, "coredns_headless_sync_fallback"); got != 0 || !strings.Contains(d.Log(), "plugin/headless: the Service watch has synced: answering Service names again") {
			t.Errorf("after sync: sync_fallback %v, want 0, and the log line of the end of the fallback", got)
		}
		t.Logf("CATCH-UP start while unreachable: waited %s for startup_timeout, ready %s after API reachable", waited.Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	})

	t.Run("APIServerStopped60s", func(t *testing.T) {
		// An outage long enough for client-go's default backoff to reach its
		// 30 s cap; a change written the moment /readyz answers again.
		stopAPIServer(t, 60*time.Second, "192.0.2.3")
		// Observed, not asserted (see the closing note of issue 9): whether
		// the watches' failure showed in the log during a process stop.
		t.Logf("log during the outage: failing line %v, back line %v",
			strings.Contains(ours.Log(), "answering from the last known state"), strings.Contains(ours.Log(), "is back after"))
		eventually(t, 20*time.Second, "watches up again", func() error {
			if v := metric(t, ours.metrics, "coredns_headless_watch_up"); v != 3 {
				return fmt.Errorf("watch_up sum %v, want 3", v)
			}
			return nil
		})
	})
}

// sliceShows reports (as an error) whether the API server's slices of
// Service svc do not yet show the endpoint of pod with ready.
func sliceShows(c *testbed.Cluster, ns, svc, pod string, ready bool) error {
	l, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(bg, meta.ListOptions{LabelSelector: discovery.LabelServiceName + "=" + svc})
	if err != nil {
		return err
	}
	for _, s := range l.Items {
		for _, e := range s.Endpoints {
			if e.TargetRef != nil && e.TargetRef.Name == pod {
				if got := e.Conditions.Ready != nil && *e.Conditions.Ready; got != ready {
					return fmt.Errorf("ready=%v", got)
				}
				return nil
			}
		}
	}
	return fmt.Errorf("no endpoint of pod %s", pod)
}
