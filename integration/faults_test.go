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

	t.Run("APIServerStopped", func(t *testing.T) {
		qr := startQuerier(t, ours.Addr, lastKnown())
		c.APIServer.Stop()
		time.Sleep(5 * time.Second)
		if httpStatus(ours.ready) != http.StatusOK {
			t.Error("ready went down while serving the last known answers")
		}
		qr.finish(t, "kube-apiserver stopped 5 s")
		c.StartAPIServer()
		start := time.Now()
		pod(3, true)
		expect(t, ours.Addr, "web-3.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.13")
		t.Logf("CATCH-UP after kube-apiserver restart: pod created -> answer served in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("APIServerStopped60s", func(t *testing.T) {
		// An outage long enough for client-go's default backoff to reach its
		// 30 s cap; a change written the moment /readyz answers again.
		qr := startQuerier(t, ours.Addr, lastKnown())
		c.APIServer.Stop()
		time.Sleep(60 * time.Second)
		qr.finish(t, "kube-apiserver stopped 60 s")
		if httpStatus(ours.ready) != http.StatusOK {
			t.Error("ready went down while serving the last known answers")
		}
		if !strings.Contains(ours.Log(), "answering from the last known state") {
			t.Error("no log line for a watch failing longer than 10 s")
		}
		c.StartAPIServer() // returns when /readyz answers
		start := time.Now()
		pod(6, true)
		expect(t, ours.Addr, "web-6.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.16")
		t.Logf("CATCH-UP after a 60 s kube-apiserver outage: pod created at /readyz -> answer served in %s", time.Since(start).Round(time.Millisecond))
		eventually(t, 10*time.Second, "watches reported back", func() error {
			if !strings.Contains(ours.Log(), "is back after") {
				return fmt.Errorf("no recovery log line")
			}
			if v := metric(t, ours.metrics, "coredns_headless_watch_up"); v != 3 {
				return fmt.Errorf("watch_up sum %v, want 3", v)
			}
			return nil
		})
	})

	t.Run("ChangesWhileUnreachable", func(t *testing.T) {
		qr := startQuerier(t, ours.Addr, lastKnown())
		proxy.Down()
		// changes made while CoreDNS cannot reach the API server
		c.SetPodStatus(t, "app", "web-1", []string{"10.244.1.11"}, false)
		pod(4, true)
		time.Sleep(5 * time.Second)
		qr.finish(t, "API unreachable 5 s while pods changed")
		start := time.Now()
		if err := proxy.Up(); err != nil {
			t.Fatal(err)
		}
		d1 := expect(t, ours.Addr, "web-4.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.14")
		expect(t, ours.Addr, "web-1.web.app"+zone, dns.TypeA, "NXDOMAIN")
		t.Logf("CATCH-UP after API reachable again: changes made during the outage served in %s (first in %s)", time.Since(start).Round(time.Millisecond), d1.Round(time.Millisecond))
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
		expect(t, ours.Addr, "web-5.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.15")
		t.Logf("CATCH-UP after etcd restart: API usable and new pod served in %s", time.Since(start).Round(time.Millisecond))
	})

	t.Run("WatchExpiry", func(t *testing.T) {
		// across 24 s the watches expire at least once; each change still lands
		var worst time.Duration
		for i := 0; i < 8; i++ {
			ready := i%2 == 1
			start := time.Now()
			c.SetPodStatus(t, "app", "web-0", []string{"10.244.1.10"}, ready)
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
		t.Logf("CATCH-UP across watch expiries: worst change -> answer %s over 8 changes in 24 s", worst.Round(time.Millisecond))
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
		if !strings.Contains(d.Log(), "starting server with unsynced Kubernetes API") {
			t.Errorf("no start-up warning in log:\n%s", d.Log())
		}
		if s := httpStatus(d.ready); s != http.StatusServiceUnavailable {
			t.Errorf("ready: %d, want 503 while not synced", s)
		}
		for _, n := range []string{web, "web-0.web.app" + zone, "nope.web.app" + zone} {
			if got := answer(t, d.Addr, n, dns.TypeA, false); !strings.HasPrefix(got, "SERVFAIL") {
				t.Errorf("%s before sync: %q, want SERVFAIL (never a false NXDOMAIN)", n, got)
			}
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
		t.Logf("CATCH-UP start while unreachable: waited %s for startup_timeout, ready %s after API reachable", waited.Round(time.Millisecond), time.Since(up).Round(time.Millisecond))
	})
}
