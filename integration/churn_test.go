package integration

import (
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
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
	ip := func(i int) string { return fmt.Sprintf("10.250.%d.%d", i/200, i%200+1) }
	pod := func(i int, ready bool) {
		c.Pod(t, testbed.PodSpec{Namespace: "churn", Name: fmt.Sprintf("db-%d", i), Node: "node-" + string(rune('a'+i%3)),
			Labels: map[string]string{"app": "db"}, Hostname: fmt.Sprintf("db-%d", i), Subdomain: "db", IPs: []string{ip(i)}, Ready: ready})
	}
	parallelDo(churnPods, 8, func(i int) { pod(i, true) })
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
	slices, _ := c.Client.DiscoveryV1().EndpointSlices("churn").List(bg, meta.ListOptions{})
	t.Logf("%d pods in %d slices", churnPods, len(slices.Items))

	// Pods 0-99 stay ready throughout: their names must always answer.
	const stable = 100
	var bad [2]atomic.Int64
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for si, addr := range []string{ours.Addr, stock.Addr} {
		for worker := 0; worker < 2; worker++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := worker; ; i = (i + 2) % stable {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("db-%d.db.churn%s", i, zone)
					r, err := testbed.Exchange(addr, name, dns.TypeA, false)
					if err != nil {
						continue // a lost UDP packet says nothing of the answer
					}
					if si == 0 {
						total.Add(1)
					}
					if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != ip(i) {
						if bad[si].Add(1) <= 5 {
							t.Logf("%s: false negative for %s: %s %v", []string{"ours", "stock"}[si], name, dns.RcodeToString[r.Rcode], r.Answer)
						}
					}
				}
			}()
		}
	}

	rng := rand.New(rand.NewSource(1))
	start := time.Now()
	// readiness flips and delete-recreate of the unstable pods
	for round := 0; round < 6; round++ {
		for k := 0; k < 20; k++ {
			i := stable + rng.Intn(churnPods-stable)
			c.SetPodStatus(t, "churn", fmt.Sprintf("db-%d", i), []string{ip(i)}, rng.Intn(2) == 0)
		}
		for k := 0; k < 5; k++ {
			i := stable + rng.Intn(churnPods-stable-30)
			name := fmt.Sprintf("db-%d", i)
			if err := deletePodNow(c, name); err == nil {
				eventually(t, 30*time.Second, "pod gone", func() error {
					if _, err := c.Client.CoreV1().Pods("churn").Get(bg, name, meta.GetOptions{}); err == nil {
						return fmt.Errorf("still there")
					}
					return nil
				})
				pod(i, true)
			}
		}
	}
	// scale down 10 %, then up again
	for i := churnPods - 30; i < churnPods; i++ {
		_ = deletePodNow(c, fmt.Sprintf("db-%d", i))
	}
	time.Sleep(2 * time.Second)
	for i := churnPods - 30; i < churnPods; i++ {
		for {
			if _, err := c.Client.CoreV1().Pods("churn").Get(bg, fmt.Sprintf("db-%d", i), meta.GetOptions{}); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		pod(i, true)
	}
	time.Sleep(3 * time.Second) // keep querying while the controller settles
	close(stop)
	wg.Wait()
	after, _ := c.Client.DiscoveryV1().EndpointSlices("churn").List(bg, meta.ListOptions{})
	t.Logf("churn for %s: %d queries per server on %d stable names; false negatives: ours %d, stock %d; slices before %d, after %d (%s)",
		time.Since(start).Round(time.Second), total.Load(), stable, bad[0].Load(), bad[1].Load(), len(slices.Items), len(after.Items), sliceSizes(after.Items))
	if total.Load() < 1000 {
		t.Errorf("only %d queries made", total.Load())
	}
	if bad[0].Load() > 0 {
		t.Errorf("ours answered %d queries for always-ready pods with a false negative", bad[0].Load())
	}
}

func deletePodNow(c *testbed.Cluster, name string) error {
	zero := int64(0)
	return c.Client.CoreV1().Pods("churn").Delete(bg, name, meta.DeleteOptions{GracePeriodSeconds: &zero})
}

func sliceSizes(items []discovery.EndpointSlice) string {
	s := ""
	for _, it := range items {
		s += fmt.Sprintf(" %d", len(it.Endpoints))
	}
	return "endpoints per slice:" + s
}

// parallelDo runs f(0..n-1) on workers goroutines.
func parallelDo(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
}
