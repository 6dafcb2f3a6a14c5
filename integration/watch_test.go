package integration

import (
	"fmt"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/testbed"
	"github.com/headlessdns/headless/internal/watch"
	core "k8s.io/api/core/v1"
)

// TestWatchReusesSlices: against a real API server and endpointslice
// controller, the slice after one pod's readiness flip is read with its 39
// unchanged endpoints taken from the version before (the memo, the
// controller's endpoint order and the server's encoding all line up), and
// the flipped one read anew.
func TestWatchReusesSlices(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Namespace(t, "app")
	c.Service(t, "app", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80))
	for i := 0; i < 40; i++ {
		c.Pod(t, testbed.PodSpec{Namespace: "app", Name: fmt.Sprintf("web-%d", i), Node: "node-a", Labels: map[string]string{"app": "web"},
			Hostname: fmt.Sprintf("web-%d", i), Subdomain: "web", IPs: []string{fmt.Sprintf("10.244.1.%d", 10+i)}, Ready: true})
	}
	src, err := watch.FromAPI(watch.Client{Kubeconfig: c.Admin})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	rec := &lastSlice{Index: index.New(index.Options{Zones: []string{"cluster.local."}, TTL: 5})}
	w := watch.New(src, watch.Specs(nil, "", true, false), watch.Targets{Index: rec}, watch.Options{})
	w.Start()
	defer w.Stop()
	get := func() *object.Slice { // what the watches last delivered of web's slice
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.slices["web"]
	}
	var before *object.Slice
	for i := 0; i < 300 && before == nil; i++ {
		time.Sleep(100 * time.Millisecond)
		before = get()
	}
	if before == nil {
		t.Fatal("no slice")
	}
	c.SetPodStatus(t, "app", "web-7", []string{"10.244.1.17"}, false)
	var after *object.Slice
	for i := 0; i < 300; i++ {
		time.Sleep(100 * time.Millisecond)
		if s := get(); s != nil && s != before {
			after = s
			break
		}
	}
	if after == nil {
		t.Fatal("no change")
	}
	reused, flipped := 0, 0
	for k := range after.Endpoints {
		e := &after.Endpoints[k]
		for j := range before.Endpoints {
			if unsafe.StringData(e.Hostname) == unsafe.StringData(before.Endpoints[j].Hostname) {
				reused++
			}
		}
		if e.Hostname == "web-7" && !e.Ready {
			flipped++
		}
	}
	if reused != 39 || flipped != 1 || after.Hashes() != 40 {
		t.Fatalf("after one flip: %d of 40 endpoints reused (want 39), web-7 not ready: %d, %d hashes", reused, flipped, after.Hashes())
	}
}

// lastSlice is an index that also keeps the last slice delivered for each
// Service of 40 endpoints.
type lastSlice struct {
	*index.Index
	mu     sync.Mutex
	slices map[string]*object.Slice
}

func (l *lastSlice) UpdateSliceAt(s *object.Slice, deleted bool, watch int, trigger time.Time) {
	if !deleted && len(s.Endpoints) == 40 {
		l.mu.Lock()
		if l.slices == nil {
			l.slices = map[string]*object.Slice{}
		}
		l.slices[s.Service] = s
		l.mu.Unlock()
	}
	l.Index.UpdateSliceAt(s, deleted, watch, trigger)
}
