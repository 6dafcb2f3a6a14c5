package testbed

import (
	"context"
	"fmt"
	"math/rand"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChurnSpec is a churn of a headless Service of pods 0..Pods-1 (made by
// Pod) whose first Stable pods stay ready throughout: while the churn runs,
// their names are queried on every server and each answer that is not
// NOERROR with exactly the pod's address counts as a false negative.
type ChurnSpec struct {
	Namespace string
	Pods      int
	Stable    int
	Pod       func(i int) PodSpec // pod i, ready
	Name      func(i int) string  // the DNS name of pod i
	Rounds    int                 // rounds of readiness flips and delete-recreates
	Flips     int                 // readiness flips a round
	Recreates int                 // pods deleted and created again a round
	ScaleDown int                 // the highest pods, deleted at the end and created again
	Servers   map[string]string   // name -> address
	Workers   int                 // querying goroutines per server
	Seed      int64
}

// ChurnResult is what the churn found.
type ChurnResult struct {
	Queries int64            // answered queries per server (the first one's)
	Bad     map[string]int64 // false negatives per server
	Took    time.Duration
}

// Churn runs s on the cluster: pods of the unstable part flip readiness and
// are deleted and created again (the endpointslice controller moves them
// between slices), then the highest ScaleDown pods go and come back.
func (c *Cluster) Churn(t TB, s ChurnSpec) ChurnResult {
	t.Helper()
	res := ChurnResult{Bad: map[string]int64{}}
	bad := map[string]*atomic.Int64{}
	for name := range s.Servers {
		bad[name] = &atomic.Int64{}
	}
	var total atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	first := ""
	for name := range s.Servers {
		if first == "" || name < first {
			first = name
		}
	}
	for name, addr := range s.Servers {
		for w := 0; w < max(s.Workers, 1); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w % s.Stable; ; i = (i + max(s.Workers, 1)) % s.Stable {
					select {
					case <-stop:
						return
					default:
					}
					r, err := Exchange(addr, s.Name(i), dns.TypeA, false)
					if err != nil {
						continue // a lost UDP packet says nothing of the answer
					}
					if name == first {
						total.Add(1)
					}
					want := s.Pod(i).IPs[0]
					if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != want {
						if bad[name].Add(1) <= 5 {
							t.Logf("%s: false negative for %s: %s %v", name, s.Name(i), dns.RcodeToString[r.Rcode], r.Answer)
						}
					}
				}
			}()
		}
	}
	rng := rand.New(rand.NewSource(s.Seed))
	start := time.Now()
	for round := 0; round < s.Rounds; round++ {
		for k := 0; k < s.Flips; k++ {
			i := s.Stable + rng.Intn(s.Pods-s.Stable)
			p := s.Pod(i)
			c.SetPodStatus(t, s.Namespace, p.Name, p.IPs, rng.Intn(2) == 0)
		}
		for k := 0; k < s.Recreates; k++ {
			c.recreate(t, s.Namespace, s.Pod(s.Stable+rng.Intn(s.Pods-s.Stable-s.ScaleDown)))
		}
	}
	high := make([]int, 0, s.ScaleDown)
	for i := s.Pods - s.ScaleDown; i < s.Pods; i++ {
		high = append(high, i)
	}
	Parallel(len(high), 8, func(k int) { c.deleteNow(s.Namespace, s.Pod(high[k]).Name) })
	time.Sleep(2 * time.Second)
	Parallel(len(high), 8, func(k int) {
		p := s.Pod(high[k])
		c.waitGone(t, s.Namespace, p.Name)
		c.Pod(t, p)
	})
	time.Sleep(3 * time.Second) // keep querying while the controller settles
	close(stop)
	wg.Wait()
	res.Took = time.Since(start)
	res.Queries = total.Load()
	for name, n := range bad {
		res.Bad[name] = n.Load()
	}
	return res
}

// recreate deletes a pod and creates it again once it is gone.
func (c *Cluster) recreate(t TB, ns string, p PodSpec) {
	if err := c.deleteNow(ns, p.Name); err != nil {
		return
	}
	c.waitGone(t, ns, p.Name)
	c.Pod(t, p)
}

func (c *Cluster) deleteNow(ns, name string) error {
	zero := int64(0)
	return c.Client.CoreV1().Pods(ns).Delete(context.Background(), name, meta.DeleteOptions{GracePeriodSeconds: &zero})
}

func (c *Cluster) waitGone(t TB, ns, name string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, meta.GetOptions{}); err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s still there after 30 s", ns, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Parallel runs f(0..n-1) on workers goroutines.
func Parallel(n, workers int, f func(i int)) {
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

// String is a one-line summary of a churn result.
func (r ChurnResult) String() string {
	return fmt.Sprintf("%d queries per server in %s; false negatives %v", r.Queries, r.Took.Round(time.Second), r.Bad)
}
