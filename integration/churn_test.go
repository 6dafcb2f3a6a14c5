package integration

import (
	"fmt"
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
// address; stock's count is logged for comparison.
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
	testbed.Parallel(churnPods, 8, func(i int) { c.Pod(t, pod(i)) })
	ours := startOurs(t, c.Admin, "")
	stock := startStock(t, c.Admin)
	for _, addr := range []string{ours.Addr, stock.Addr} {
		eventually(t, 120*time.Second, "all pods served by "+addr, func() error {
			r, err := testbed.Exchange(addr, "db.churn"+zone, dns.TypeA, true)
			if err != nil || len(r.Answer) != churnPods {
				return fmt.Errorf("%d answers, err %v", len(r.Answer), err)
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
	if res.Queries < 1000 {
		t.Errorf("only %d queries made", res.Queries)
	}
	if res.Bad["ours"] > 0 {
		t.Errorf("ours answered %d queries for always-ready pods with a false negative", res.Bad["ours"])
	}
}

func sliceSizes(items []discovery.EndpointSlice) string {
	s := ""
	for _, it := range items {
		s += fmt.Sprintf(" %d", len(it.Endpoints))
	}
	return "endpoints per slice:" + s
}
