package main

import (
	"context"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"k8s.io/client-go/kubernetes"
)

var replicas = flag.Int("replicas", 8, "replicas: CoreDNS replicas of each kind against one API server")

// apiWatchStats is what the API server counts of its watch events to all
// watchers, over every resource: events sent and their bytes.
func apiWatchStats(cs *kubernetes.Clientset) (events, bytes float64) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("API server metrics: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, _ := strings.Cut(line, "{")
		if strings.HasPrefix(line, "#") || rest == "" {
			continue
		}
		_, val, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(strings.Fields(val)[0], 64)
		if err != nil {
			continue
		}
		switch name {
		case "apiserver_watch_events_total":
			events += v
		case "apiserver_watch_events_sizes_sum":
			bytes += v
		}
	}
	return events, bytes
}

// replicaCost: N replicas of ours and N of stock, one kind at a time,
// against one API server holding the ClusterIP churn fixture, through
// -updates ClusterIP slice updates. It measures the API server's CPU
// seconds and the watch events and bytes it sends, and each replica's RSS.
func replicaCost(res *result, c *testbed.Cluster, cs *kubernetes.Clientset, fx *fixture, ours, stock string) {
	t.Logf("creating fixtures: %d ClusterIP x %d, %d headless x %d", *nClusterIP, *nClusterIPEps, *nHeadless, *nHeadlessEps)
	fx.namespace("bench")
	fx.services("bench", "cip", *nClusterIP, *nClusterIPEps, false)
	fx.services("bench", "hl", *nHeadless, *nHeadlessEps, true)
	kinds := []struct{ name, bin, corefile string }{{"stock", stock, corefileStock}, {"ours", ours, corefileOurs}}
	for round := 0; round < 2; round++ {
		for _, k := range kinds {
			var group []*server
			for i := 0; i < *replicas; i++ {
				sv, _ := startServer(fmt.Sprintf("%s-%d", k.name, i), k.bin, k.corefile, c.Admin)
				group = append(group, sv)
			}
			time.Sleep(5 * time.Second) // settled
			var rss []float64
			for _, sv := range group {
				rss = append(rss, rssMiB(sv.Cmd.Process.Pid))
			}
			ev0, by0 := apiWatchStats(cs)
			cpu0 := cpuSeconds(c.APIServer.Cmd.Process.Pid)
			var replicaCPU float64
			for _, sv := range group {
				replicaCPU -= cpuSeconds(sv.Cmd.Process.Pid)
			}
			start := time.Now()
			fx.churn("bench", "cip", *nClusterIP, *updates)
			took := time.Since(start)
			time.Sleep(5 * time.Second)
			cpu := cpuSeconds(c.APIServer.Cmd.Process.Pid) - cpu0
			ev1, by1 := apiWatchStats(cs)
			for _, sv := range group {
				replicaCPU += cpuSeconds(sv.Cmd.Process.Pid)
			}
			sort.Float64s(rss)
			res.add("replicas_api_cpu_s/"+k.name, cpu)
			res.add("replicas_watch_events/"+k.name, ev1-ev0)
			res.add("replicas_watch_mib/"+k.name, (by1-by0)/(1<<20))
			res.add("replicas_rss_mib/"+k.name, rss[len(rss)/2])
			res.add("replicas_cpu_s/"+k.name, replicaCPU)
			t.Logf("%d %s replicas, round %d: %d updates in %s; API server CPU %.2f s, watch events sent %.0f (%.1f MiB), replicas' CPU %.2f s, replica RSS median %.0f MiB (%.0f-%.0f)",
				*replicas, k.name, round+1, *updates, took.Round(time.Millisecond), cpu, ev1-ev0, (by1-by0)/(1<<20), replicaCPU, rss[len(rss)/2], rss[0], rss[len(rss)-1])
			for _, sv := range group {
				sv.Stop()
			}
			time.Sleep(3 * time.Second)
		}
	}
}
