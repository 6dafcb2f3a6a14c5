package main

import (
	"math"
	"sync"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
)

// relistPeak measures RSS through a forced relist at the scale fixture:
// both servers synced and settled (steady RSS), then kube-apiserver is
// restarted; its new watch cache starts at the current revision, so every
// reflector's re-watch from its old resource version gets 410 Gone and lists
// again. RSS is sampled every 50 ms until 45 s after the API server is ready
// (reflector backoff reaches ~30 s) and the peak is reported against steady.
func relistPeak(res *result, c *testbed.Cluster, ours, stock string) {
	o, _ := startServer("ours", ours, corefileOurs, c.Admin)
	s, _ := startServer("stock", stock, corefileStock, c.Admin)
	servers := []*server{o, s}
	time.Sleep(10 * time.Second)
	steady := map[string]float64{}
	for _, sv := range servers {
		steady[sv.name] = rssMiB(sv.Cmd.Process.Pid)
	}
	peak := map[string]float64{}
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, sv := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tk := time.NewTicker(50 * time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tk.C:
					v := rssMiB(sv.Cmd.Process.Pid)
					mu.Lock()
					peak[sv.name] = math.Max(peak[sv.name], v)
					mu.Unlock()
				}
			}
		}()
	}
	c.APIServer.Stop()
	time.Sleep(3 * time.Second)
	c.StartAPIServer()
	time.Sleep(45 * time.Second)
	close(stop)
	wg.Wait()
	for _, sv := range servers {
		res.set("relist_steady_mib/"+sv.name, steady[sv.name])
		res.set("relist_peak_mib/"+sv.name, peak[sv.name])
		t.Logf("relist at %d headless endpoints, %s: steady %.0f MiB, peak %.0f MiB (%.2f×)", *scaleEps, sv.name, steady[sv.name], peak[sv.name], peak[sv.name]/steady[sv.name])
		sv.Stop()
	}
}
