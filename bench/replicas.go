package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
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
	replicaSeed   = flag.Uint64("replica-seed", 0, "replicas: seed of the groups' order in each round (0: from the clock; logged)")
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
	return apiWatchStatsOf(cs, "")
}

// apiWatchStatsOf is apiWatchStats of one resource (its plural name), or of
// all when resource is empty.
func apiWatchStatsOf(cs *kubernetes.Clientset, resource string) (events, bytes float64) {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("API server metrics: %v", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		name, rest, _ := strings.Cut(line, "{")
		if strings.HasPrefix(line, "#") || rest == "" {
			continue
		}
		if resource != "" && !strings.Contains(rest, `resource="`+resource+`"`) {
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
	// the groups in a new random order each round, so that drift and what
	// one group leaves behind (stock's lists of every ClusterIP slice) fall
	// on no side in particular; the order is logged and kept
	seed := *replicaSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for round := 0; round < *replicaRounds; round++ {
		order := slices.Clone(groups)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var names []string
		for _, g := range order {
			names = append(names, groupKey(g.name, g.n))
		}
		res.Notes = append(res.Notes, fmt.Sprintf("replicas round %d (seed %d): %s", round+1, seed, strings.Join(names, ", ")))
		t.Logf("replicas round %d: groups in the order %s", round+1, strings.Join(names, ", "))
		for _, g := range order {
			replicaGroup(res, c, cs, fx, groupKey(g.name, g.n), g.bin, g.corefile, g.n, round)
		}
	}
}

// groupKey names a group of replicas in the results: kind/count, or none.
func groupKey(kind string, n int) string {
	if n == 0 {
		return "none"
	}
	return fmt.Sprintf("%s/%d", kind, n)
}

// replicaCPUs are the cores replica i runs on: both cores, in turn.
func replicaCPUs(i int) string { return strconv.Itoa(i % 2) }

// settle waits until the API server is quiet: over two 1 s windows in a
// row it used under 20 % of a core and served no new LIST (the replicas'
// and kube-controller-manager's relists done); at most 2 minutes. (Idle,
// with the fixture, it uses about 6 %.) It returns how long it waited.
func settle(c *testbed.Cluster, cs *kubernetes.Clientset, what string) time.Duration {
	start := time.Now()
	quiet := 0
	cpu, lists := cpuSeconds(c.APIServer.Cmd.Process.Pid), apiLists(cs)
	for quiet < 2 {
		if time.Since(start) > 2*time.Minute {
			t.Logf("settle %s: API server not quiet after 2 minutes; going on", what)
			break
		}
		time.Sleep(time.Second)
		cpu1, lists1 := cpuSeconds(c.APIServer.Cmd.Process.Pid), apiLists(cs)
		if cpu1-cpu < 0.2 && lists1 == lists {
			quiet++
		} else {
			quiet = 0
		}
		cpu, lists = cpu1, lists1
	}
	return time.Since(start)
}

// apiLists is the number of LIST requests the API server has served.
func apiLists(cs *kubernetes.Clientset) float64 {
	raw, err := cs.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("API server metrics: %v", err)
	}
	n := 0.0
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "apiserver_request_total{") && strings.Contains(line, `verb="LIST"`) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += v
		}
	}
	return n
}

// replicaGroup runs n replicas of bin through the updates and adds its
// figures under key.
func replicaGroup(res *result, c *testbed.Cluster, cs *kubernetes.Clientset, fx *fixture, key, bin, corefile string, n, round int) {
	var group []*server
	for i := 0; i < n; i++ {
		sv, _ := startServerOn(replicaCPUs(i), fmt.Sprintf("%s-%d", key, i), bin, corefile, c.Admin)
		group = append(group, sv)
	}
	settled := settle(c, cs, key+" started")
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
	settledAfter := settle(c, cs, key+" after the updates")
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
	t.Logf("%s replicas, round %d: settled %s after start and %s after the updates; %d updates in %s; API server CPU %.2f s, watch events sent %.0f (%.1f MiB), replicas' CPU %.2f s, replica RSS median %.0f MiB (%.0f-%.0f)",
		key, round+1, settled.Round(time.Second), settledAfter.Round(time.Second), *updates, took.Round(time.Millisecond), cpu, ev1-ev0, (by1-by0)/(1<<20), replicaCPU, rss[len(rss)/2], rss[0], rss[len(rss)-1])
	for _, sv := range group {
		sv.Stop()
	}
	settle(c, cs, key+" stopped")
}

// replicaRows is the replicas table: per count, ours against stock, with
// the API server's figures less those of the group of none; and the API
// server's CPU paired within each round (its groups ran one after another).
func replicaRows(r *result) string {
	f := r.Figures
	var b strings.Builder
	base := func(k string) float64 { return f[k+"/none"] }
	fmt.Fprintf(&b, "\nReplicas run on both cores in turn (replica i on core i mod 2), beside the control plane; each group starts after the API server is quiet (two 1 s windows under 20 %% CPU with no new LIST), and is measured until it is quiet again. Groups ran in a new random order each round:\n\n")
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "replicas round ") {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
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
