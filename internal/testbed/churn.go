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
// NOERROR with exactly the pod's address counts as a false negative; each
// exchange that fails (a timeout) counts as a failure too.
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

// ChurnResult is what the churn found, per server.
type ChurnResult struct {
	Queries  map[string]int64 // queries asked
	Bad      map[string]int64 // false negatives
	Timeouts map[string]int64 // exchanges that failed (no reply within 2 s)
	Took     time.Duration
}

// Failed is a server's false negatives and failed exchanges.
func (r ChurnResult) Failed(server string) int64 { return r.Bad[server] + r.Timeouts[server] }

// Churn runs s on the cluster: pods of the unstable part flip readiness and
// are deleted and created again (the endpointslice controller moves them
// between slices), then the highest ScaleDown pods go and come back.
func (c *Cluster) Churn(t TB, s ChurnSpec) ChurnResult {
	t.Helper()
	type counts struct{ queries, bad, timeouts atomic.Int64 }
	per := map[string]*counts{}
	for name := range s.Servers {
		per[name] = &counts{}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for name, addr := range s.Servers {
		n := per[name]
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
					n.queries.Add(1)
					r, err := Exchange(addr, s.Name(i), dns.TypeA, false)
					if err != nil {
						if n.timeouts.Add(1) <= 5 {
							t.Logf("%s: %s: %v", name, s.Name(i), err)
						}
						continue
					}
					want := s.Pod(i).IPs[0]
					if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || !isA(r.Answer[0], want) {
						if n.bad.Add(1) <= 5 {
							t.Logf("%s: false negative for %s: %s %v", name, s.Name(i), dns.RcodeToString[r.Rcode], r.Answer)
						}
					}
				}
			}()
		}
	}
	finish := func() ChurnResult {
		close(stop)
		wg.Wait()
		res := ChurnResult{Queries: map[string]int64{}, Bad: map[string]int64{}, Timeouts: map[string]int64{}}
		for name, n := range per {
			res.Queries[name], res.Bad[name], res.Timeouts[name] = n.queries.Load(), n.bad.Load(), n.timeouts.Load()
		}
		return res
	}
	start := time.Now()
	err := c.churn(s)
	time.Sleep(3 * time.Second) // keep querying while the controller settles
	res := finish()
	res.Took = time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func isA(rr dns.RR, want string) bool {
	a, ok := rr.(*dns.A)
	return ok && a.A.String() == want
}

// churn makes the changes of s; the first error stops it.
func (c *Cluster) churn(s ChurnSpec) error {
	rng := rand.New(rand.NewSource(s.Seed))
	for round := 0; round < s.Rounds; round++ {
		for k := 0; k < s.Flips; k++ {
			i := s.Stable + rng.Intn(s.Pods-s.Stable)
			p := s.Pod(i)
			if err := c.setPodStatus(s.Namespace, p.Name, p.IPs, rng.Intn(2) == 0); err != nil {
				return err
			}
		}
		for k := 0; k < s.Recreates; k++ {
			if err := c.recreate(s.Namespace, s.Pod(s.Stable+rng.Intn(s.Pods-s.Stable-s.ScaleDown))); err != nil {
				return err
			}
		}
	}
	high := make([]int, 0, s.ScaleDown)
	for i := s.Pods - s.ScaleDown; i < s.Pods; i++ {
		high = append(high, i)
	}
	if err := Parallel(len(high), 8, func(k int) error { return c.deleteNow(s.Namespace, s.Pod(high[k]).Name) }); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	return Parallel(len(high), 8, func(k int) error {
		p := s.Pod(high[k])
		if err := c.waitGone(s.Namespace, p.Name); err != nil {
			return err
		}
		return c.CreatePod(p)
	})
}

// recreate deletes a pod and creates it again once it is gone.
func (c *Cluster) recreate(ns string, p PodSpec) error {
	if err := c.deleteNow(ns, p.Name); err != nil {
		return nil // gone already
	}
	if err := c.waitGone(ns, p.Name); err != nil {
		return err
	}
	return c.CreatePod(p)
}

func (c *Cluster) deleteNow(ns, name string) error {
	zero := int64(0)
	return c.Client.CoreV1().Pods(ns).Delete(context.Background(), name, meta.DeleteOptions{GracePeriodSeconds: &zero})
}

func (c *Cluster) waitGone(ns, name string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := c.Client.CoreV1().Pods(ns).Get(context.Background(), name, meta.GetOptions{}); err != nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s/%s still there after 30 s", ns, name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Parallel runs f(0..n-1) on workers goroutines and returns the first
// error (the test fails on its own goroutine: t.Fatal must not be called
// from these).
func Parallel(n, workers int, f func(i int) error) error {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return first
}

// String is a one-line summary of a churn result.
func (r ChurnResult) String() string {
	return fmt.Sprintf("in %s: queries %v, false negatives %v, failed exchanges %v", r.Took.Round(time.Second), r.Queries, r.Bad, r.Timeouts)
}
