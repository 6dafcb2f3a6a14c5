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

var (
	replicas      = flag.String("replicas", "8", "replicas: CoreDNS replica counts of each kind against one API server, comma-separated (8,32)")
	replicaRounds = flag.Int("replica-rounds", 2, "replicas: rounds of every group (medians reported)")
)

// replicaCounts parses -replicas.
func replicaCounts() []int {
	var ns []int
	for _, f := range strings.Split(*replicas, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			t.Fatalf("-replicas %q: want positive counts, comma-separated", *replicas)
		}
		ns = append(ns, n)
	}
	return ns
}

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

// replicaCost: groups of N replicas of ours and of stock, one group at a
// time, against one API server holding the ClusterIP churn fixture, each
// through -updates ClusterIP slice updates; and a group of none, the API
// server's own cost of the updates (its writes, its watch cache,
// kube-controller-manager's watches). It measures the API server's CPU
// seconds and the watch events and bytes it sends, and each replica's RSS;
// the report subtracts the baseline of none from the API server's figures.
func replicaCost(res *result, c *testbed.Cluster, cs *kubernetes.Clientset, fx *fixture, ours, stock string) {
	t.Logf("creating fixtures: %d ClusterIP x %d, %d headless x %d", *nClusterIP, *nClusterIPEps, *nHeadless, *nHeadlessEps)
	fx.namespace("bench")
	fx.services("bench", "cip", *nClusterIP, *nClusterIPEps, false)
	fx.services("bench", "hl", *nHeadless, *nHeadlessEps, true)
	type group struct {
		name, bin, corefile string
		n                   int
	}
	groups := []group{{name: "none"}}
	for _, n := range replicaCounts() {
		groups = append(groups, group{"stock", stock, corefileStock, n}, group{"ours", ours, corefileOurs, n})
	}
	for round := 0; round < *replicaRounds; round++ {
		for _, g := range groups {
			key := fmt.Sprintf("%s/%d", g.name, g.n)
			if g.n == 0 {
				key = "none"
			}
			replicaGroup(res, c, cs, fx, key, g.bin, g.corefile, g.n, round)
		}
	}
}

// replicaGroup runs n replicas of bin through the updates and adds its
// figures under key.
func replicaGroup(res *result, c *testbed.Cluster, cs *kubernetes.Clientset, fx *fixture, key, bin, corefile string, n, round int) {
	var group []*server
	for i := 0; i < n; i++ {
		sv, _ := startServer(fmt.Sprintf("%s-%d", key, i), bin, corefile, c.Admin)
		group = append(group, sv)
	}
	time.Sleep(5 * time.Second) // settled
	var rss []float64
	for _, sv := range group {
		rss = append(rss, rssMiB(sv.Cmd.Process.Pid))
	}
	if len(rss) == 0 {
		rss = []float64{0} // (the group of none)
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
	res.add("replicas_api_cpu_s/"+key, cpu)
	res.add("replicas_watch_events/"+key, ev1-ev0)
	res.add("replicas_watch_mib/"+key, (by1-by0)/(1<<20))
	res.add("replicas_rss_mib/"+key, rss[len(rss)/2])
	res.add("replicas_cpu_s/"+key, replicaCPU)
	res.add("replicas_updates_s/"+key, took.Seconds())
	t.Logf("%s replicas, round %d: %d updates in %s; API server CPU %.2f s, watch events sent %.0f (%.1f MiB), replicas' CPU %.2f s, replica RSS median %.0f MiB (%.0f-%.0f)",
		key, round+1, *updates, took.Round(time.Millisecond), cpu, ev1-ev0, (by1-by0)/(1<<20), replicaCPU, rss[len(rss)/2], rss[0], rss[len(rss)-1])
	for _, sv := range group {
		sv.Stop()
	}
	time.Sleep(3 * time.Second)
}

// replicaRows is the replicas table: per count, ours against stock, with
// the API server's figures less those of the group of none; and the API
// server's CPU paired within each round (its groups ran one after another).
func replicaRows(r *result) string {
	f := r.Figures
	var b strings.Builder
	base := func(k string) float64 { return f[k+"/none"] }
	fmt.Fprintf(&b, "\nThe API server alone (no CoreDNS replica) through %d updates: CPU %.1f s, %.0f watch events, %.1f MiB.\n\n", *updates,
		base("replicas_api_cpu_s"), base("replicas_watch_events"), base("replicas_watch_mib"))
	b.WriteString("| replicas | figure | ours | stock | ours/stock |\n|---|---|---|---|---|\n")
	for _, n := range replicaCounts() {
		for _, r := range []struct {
			figure, key, unit string
			less              bool
		}{
			{"API server CPU, less the baseline", "replicas_api_cpu_s", "s", true},
			{"watch events to the replicas", "replicas_watch_events", "", true},
			{"watch bytes to the replicas", "replicas_watch_mib", "MiB", true},
			{"the replicas' CPU, summed", "replicas_cpu_s", "s", false},
			{"RSS per replica (median)", "replicas_rss_mib", "MiB", false},
		} {
			o, s := f[fmt.Sprintf("%s/ours/%d", r.key, n)], f[fmt.Sprintf("%s/stock/%d", r.key, n)]
			if r.less {
				o, s = o-base(r.key), s-base(r.key)
			}
			ratio := "—"
			if o > 0 && s > 0 {
				ratio = fmt.Sprintf("%.2f×", o/s)
			}
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", n, r.figure, value(o, r.unit), value(s, r.unit), ratio)
		}
	}
	b.WriteString("\nThe API server's CPU paired within each round: median (range) over the rounds.\n\n| replicas | stock less ours | stock less none | ours less none |\n|---|---|---|---|\n")
	cpu := func(key string) []float64 { return r.Samples["replicas_api_cpu_s/"+key] }
	for _, n := range replicaCounts() {
		ours, stock := cpu(fmt.Sprintf("ours/%d", n)), cpu(fmt.Sprintf("stock/%d", n))
		fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", n, paired(stock, ours), paired(stock, cpu("none")), paired(ours, cpu("none")))
	}
	return b.String()
}

// paired is the median and range of a[i]-b[i], in seconds.
func paired(a, b []float64) string {
	var d []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		d = append(d, a[i]-b[i])
	}
	if len(d) == 0 {
		return "—"
	}
	sort.Float64s(d)
	return fmt.Sprintf("%.1f s (%.1f to %.1f)", median(d), d[0], d[len(d)-1])
}
