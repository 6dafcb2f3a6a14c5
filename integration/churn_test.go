package integration

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// churnPods is the size of the churned Service: several slices (the
// controller puts at most 100 endpoints in one), small enough for CI.
const churnPods = 300

// TestNoFalseNegativeUnderChurn: while the real endpointslice controller
// reshuffles a large headless Service (pods deleted and recreated, others
// flipping readiness, a 10 % scale-down and scale-up), the names of the pods
// that stay ready the whole time are queried continuously on ours and on
// stock. Ours must never answer them NXDOMAIN, NODATA or without their
// address, nor fail to answer (a timeout counts); stock's count is logged
// for comparison. Once the churn ends and the API's ready set is stable,
// the Service's A and SRV answers of both must equal it within the
// freshness bound: nothing stale left.
func TestNoFalseNegativeUnderChurn(t *testing.T) {
	c := testbed.StartCluster(t)
	for _, z := range []string{"a", "b", "c"} {
		c.Node(t, "node-"+z, "zone-"+z)
	}
	c.Namespace(t, "churn")
	c.Service(t, "churn", "db", core.ClusterIPNone, map[string]string{"app": "db"}, false, testbed.ServicePort("pg", 5432))
	pod := func(i int) testbed.PodSpec {
		return testbed.PodSpec{Namespace: "churn", Name: fmt.Sprintf("db-%d", i), Node: "node-" + string(rune('a'+i%3)),
			Labels: map[string]string{"app": "db"}, Hostname: fmt.Sprintf("db-%d", i), Subdomain: "db",
			IPs: []string{fmt.Sprintf("10.250.%d.%d", i/200, i%200+1)}, Ready: true}
	}
	if err := testbed.Parallel(churnPods, 8, func(i int) error { return c.CreatePod(pod(i)) }); err != nil {
		t.Fatal(err)
	}
	ours := startOurs(t, c.Admin, "")
	stock := startStock(t, c.Admin)
	for _, addr := range []string{ours.Addr, stock.Addr} {
		eventually(t, 120*time.Second, "all pods served by "+addr, func() error {
			r, err := testbed.Exchange(addr, "db.churn"+zone, dns.TypeA, true)
			if err != nil {
				return err
			}
			if len(r.Answer) != churnPods {
				return fmt.Errorf("%d answers", len(r.Answer))
			}
			return nil
		})
	}
	before, _ := c.Client.DiscoveryV1().EndpointSlices("churn").List(bg, meta.ListOptions{})
	t.Logf("%d pods in %d slices", churnPods, len(before.Items))

	// Pods 0-99 stay ready throughout: their names must always answer.
	res := c.Churn(t, testbed.ChurnSpec{
		Namespace: "churn", Pods: churnPods, Stable: 100, Pod: pod,
		Name:   func(i int) string { return fmt.Sprintf("db-%d.db.churn%s", i, zone) },
		Rounds: 6, Flips: 20, Recreates: 5, ScaleDown: churnPods / 10,
		Servers: map[string]string{"ours": ours.Addr, "stock": stock.Addr}, Workers: 2, Seed: 1,
	})
	after, _ := c.Client.DiscoveryV1().EndpointSlices("churn").List(bg, meta.ListOptions{})
	t.Logf("churn: %s; slices before %d, after %d (%s)", res, len(before.Items), len(after.Items), sliceSizes(after.Items))
	for _, server := range []string{"ours", "stock"} {
		if res.Queries[server] < 1000 {
			t.Errorf("%s: only %d queries made", server, res.Queries[server])
		}
	}
	if n := res.Failed("ours"); n > 0 {
		t.Errorf("ours: %d queries for always-ready pods failed (false negatives %d, failed exchanges %d)", n, res.Bad["ours"], res.Timeouts["ours"])
	}
	addrs, hosts := stableReadySet(t, c, "churn", "db")
	t.Logf("after the churn: %d ready endpoints", len(addrs))
	for name, addr := range map[string]string{"ours": ours.Addr, "stock": stock.Addr} {
		took := eventually(t, freshness, name+" serves the API's ready set", func() error {
			return sameSet("db.churn"+zone, addr, addrs, hosts)
		})
		t.Logf("%s matched the ready set %v after it was stable", name, took.Round(time.Millisecond))
	}
}

// freshness bounds how long after the API's state is stable the answers may
// still show an older one.
const freshness = 10 * time.Second

// stableReadySet waits until the ready addresses and hostnames of a
// Service's EndpointSlices are the same in two reads a second apart, and
// returns them sorted.
func stableReadySet(t *testing.T, c *testbed.Cluster, ns, svc string) (addrs, hosts []string) {
	t.Helper()
	read := func() ([]string, []string) {
		l, err := c.Client.DiscoveryV1().EndpointSlices(ns).List(bg, meta.ListOptions{LabelSelector: discovery.LabelServiceName + "=" + svc})
		if err != nil {
			t.Fatal(err)
		}
		var a, h []string
		for _, s := range l.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready == nil || *e.Conditions.Ready {
					a = append(a, e.Addresses...)
					if e.Hostname != nil {
						h = append(h, *e.Hostname+"."+svc+"."+ns+zone)
					}
				}
			}
		}
		return sorted(a), sorted(h)
	}
	addrs, hosts = read()
	eventually(t, 60*time.Second, "a stable ready set", func() error {
		time.Sleep(time.Second)
		a, h := read()
		if !slices.Equal(a, addrs) || !slices.Equal(h, hosts) {
			addrs, hosts = a, h
			return fmt.Errorf("%d ready addresses, still changing", len(a))
		}
		return nil
	})
	return addrs, hosts
}

// sameSet checks a Service name's A answer (its addresses) and SRV answer
// (its targets) over TCP against a ready set.
func sameSet(name, addr string, addrs, hosts []string) error {
	r, err := testbed.Exchange(addr, name, dns.TypeA, true)
	if err != nil {
		return err
	}
	if got := sorted(testbed.AddrsOf(r.Answer)); !slices.Equal(got, addrs) {
		return fmt.Errorf("A: %d addresses, want %d (stale or missing: %v)", len(got), len(addrs), symDiff(got, addrs))
	}
	r, err = testbed.Exchange(addr, name, dns.TypeSRV, true)
	if err != nil {
		return err
	}
	var targets []string
	for _, rr := range r.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			targets = append(targets, srv.Target)
		}
	}
	if got := sorted(targets); !slices.Equal(got, hosts) {
		return fmt.Errorf("SRV: %d targets, want %d (stale or missing: %v)", len(got), len(hosts), symDiff(got, hosts))
	}
	return nil
}

// symDiff is what one of two sorted sets has and the other lacks (at most 5).
func symDiff(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, ok := slices.BinarySearch(b, x); !ok {
			out = append(out, "+"+x)
		}
	}
	for _, x := range b {
		if _, ok := slices.BinarySearch(a, x); !ok {
			out = append(out, "-"+x)
		}
	}
	return out[:min(len(out), 5)]
}

func sliceSizes(items []discovery.EndpointSlice) string {
	s := ""
	for _, it := range items {
		s += fmt.Sprintf(" %d", len(it.Endpoints))
	}
	return "endpoints per slice:" + s
}
