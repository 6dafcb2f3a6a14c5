// Command bench runs our CoreDNS build (headless + kubernetes{noendpoints}) and
// a stock CoreDNS v1.15.0 (kubernetes alone) side by side against one real
// kube-apiserver, loads them with dnsperf on loopback, and prints a table of
// medians and ours/stock ratios. Run from the module root: go run ./bench
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"k8s.io/client-go/kubernetes"
)

var (
	nClusterIP    = flag.Int("clusterip", 2000, "ClusterIP Services")
	nClusterIPEps = flag.Int("clusterip-eps", 30, "endpoints per ClusterIP Service")
	nHeadless     = flag.Int("headless", 200, "headless Services")
	nHeadlessEps  = flag.Int("headless-eps", 10, "endpoints per headless Service")
	runs          = flag.Int("runs", 3, "dnsperf runs per server and query (medians reported)")
	seconds       = flag.Int("seconds", 10, "seconds per dnsperf run")
	updates       = flag.Int("updates", 10000, "ClusterIP EndpointSlice updates for the CPU figure")
	freshN        = flag.Int("fresh", 200, "EndpointSlice writes for the freshness figure")
	scaleEps      = flag.Int("scale-eps", 100000, "headless endpoints for the start-to-ready figure")
	stsPods       = flag.Int("sts-pods", 10000, "pods of the large headless Service (0: skip)")
	flipRate      = flag.Int("flip-rate", 100, "readiness flips a second on the large Service")
	flipSeconds   = flag.Int("flip-seconds", 60, "seconds of readiness flips")
	outageSeconds = flag.Int("outage-seconds", 20, "seconds kube-apiserver is stopped for the catch-up figure (0: skip)")
	out           = flag.String("out", "bench/out", "where results.json and results.md go")
	gcTrace       = flag.Bool("gctrace", false, "sts: count both servers' garbage collections in each flip window (GODEBUG=gctrace=1)")
	scaleProfile  = flag.Bool("scale-profile", false, "scale: heap profiles of both servers after sync, in -out")
	oursGzip      = flag.Bool("ours-compression", false, "ours asks the API server for gzip (the compression option), as stock does")
	flipQPS       = flag.Int("flip-qps", 20, "sts: a second flip window in which each server is asked this many pod names a second (0: skip)")
	flipIdle      = flag.Int("flip-idle", 0, "sts: seconds of CoreDNS CPU measured with no change before the flips (0: skip)")
	flipProfile   = flag.Bool("flip-profile", false, "sts: CPU profiles of both servers during the flips, in -out")
	perfRecord    = flag.Bool("perf", false, "sts: perf record (cpu-clock, 2 kHz, call graphs) of both servers through the flip window, reports in -out (needs perf: Debian linux-perf)")
	only          = flag.String("only", "", "run one part only: shaping (topology order and answer caps), explain (the explain option on against off), sts (the large StatefulSet), manifests (RSS and idle CPU per manifest size, no control plane), replicas (the API server's cost of -replicas replicas of each) scale (start to Ready and relist peak at -scale-eps), transfer (AXFR of -scale-eps endpoints: time, peak RSS, QPS meanwhile) or mcs (clusterset.local: QPS, and the watch cost of -updates imported-slice updates, against stock's multicluster)")
)

// runner drives the test bed outside `go test`.
type runner struct {
	mu       sync.Mutex
	cleanups []func()
	dir      string
}

func (r *runner) Helper()                  {}
func (r *runner) Logf(f string, a ...any)  { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (r *runner) Failed() bool             { return false }
func (r *runner) Skipf(f string, a ...any) { r.Fatalf(f, a...) }
func (r *runner) Fatal(a ...any)           { r.Fatalf("%s", fmt.Sprint(a...)) }
func (r *runner) Cleanup(f func())         { r.mu.Lock(); r.cleanups = append(r.cleanups, f); r.mu.Unlock() }
func (r *runner) Fatalf(f string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...)
	r.stop()
	os.Exit(1)
}
func (r *runner) TempDir() string {
	d, err := os.MkdirTemp(r.dir, "t")
	if err != nil {
		panic(err)
	}
	return d
}
func (r *runner) stop() {
	r.mu.Lock()
	c := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(c) - 1; i >= 0; i-- {
		c[i]()
	}
	os.RemoveAll(r.dir)
}

var t *runner

func main() {
	flag.Parse()
	// The load generators run on CPU 0, the DNS servers on CPU 1.
	if os.Getenv("HEADLESS_BENCH_PINNED") == "" {
		if _, err := exec.LookPath("taskset"); err == nil {
			self, _ := os.Executable()
			cmd := exec.Command("taskset", append([]string{"-c", "0", self}, os.Args[1:]...)...)
			cmd.Env = append(os.Environ(), "HEADLESS_BENCH_PINNED=1")
			cmd.Stdout, cmd.Stderr, cmd.Stdin = os.Stdout, os.Stderr, os.Stdin
			if err := cmd.Run(); err != nil {
				os.Exit(1)
			}
			return
		}
	}
	os.Setenv("HEADLESS_TESTBED_BUILD", "1")
	dir, _ := os.MkdirTemp("", "headless-bench-")
	t = &runner{dir: dir}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() { <-sig; t.stop(); os.Exit(2) }()
	defer t.stop()
	for _, tool := range []string{"dnsperf", "taskset"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: apt-get install dnsperf util-linux", tool)
		}
	}
	res := run()
	report(res)
}

type result struct {
	Machine  string               `json:"machine"`
	Figures  map[string]float64   `json:"figures"`
	Samples  map[string][]float64 `json:"samples"`
	Started  time.Time            `json:"started"`
	Duration string               `json:"duration"`
	Notes    []string             `json:"notes,omitempty"` // how a figure was taken (e.g. the order of groups)
}

func (r *result) set(k string, v float64)    { r.Figures[k] = v }
func (r *result) add(k string, v ...float64) { r.Samples[k] = append(r.Samples[k], v...) }

type server struct {
	*testbed.CoreDNS
	name    string
	ready   string
	metrics string // ours: its /metrics URL
}

const corefileStock = `.:{PORT} {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
    }
}`

// corefileOurs serves /metrics from a block of its own: the prometheus
// plugin in the measured block would add per-query work stock does not pay.
const corefileOurs = `metrics.invalid:METRICSDNS {
    bind 127.0.0.1
    prometheus 127.0.0.1:METRICSPORT
}
.:{PORT} {
    bind 127.0.0.1
    ready 127.0.0.1:%d
    headless cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        startup_timeout 60s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        noendpoints
    }
}`

func startServer(name, bin, corefile string, kubeconfig string) (*server, time.Duration) {
	return startServerOn("1", name, bin, corefile, kubeconfig)
}

// startServerOn is startServer on the given cores (taskset -c).
func startServerOn(cpus, name, bin, corefile string, kubeconfig string) (*server, time.Duration) {
	rp := testbed.FreePort(t)
	var cf string
	if strings.Contains(corefile, "headless") {
		cf = fmt.Sprintf(corefile, rp, kubeconfig, kubeconfig)
	} else if strings.Contains(corefile, "kubernetes") {
		cf = fmt.Sprintf(corefile, rp, kubeconfig)
	} else {
		cf = fmt.Sprintf(corefile, rp)
	}
	mp := testbed.FreePort(t)
	cf = strings.Replace(cf, "METRICSPORT", strconv.Itoa(mp), 1)
	cf = strings.Replace(cf, "METRICSDNS", strconv.Itoa(testbed.FreePort(t)), 1)
	if *oursGzip {
		cf = strings.Replace(cf, "startup_timeout 60s", "startup_timeout 60s\n        compression", 1)
	}
	start := time.Now()
	c := testbed.StartCoreDNSWith(t, []string{"taskset", "-c", cpus}, bin, cf)
	s := &server{CoreDNS: c, name: name, ready: fmt.Sprintf("http://127.0.0.1:%d/ready", rp), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mp)}
	waitReady(name, s.ready, start)
	return s, time.Since(start)
}

// waitReady polls a /ready URL until it answers 200, failing 5 minutes
// after start.
func waitReady(name, url string, start time.Time) {
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("%s not ready", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func run() *result {
	res := &result{Figures: map[string]float64{}, Samples: map[string][]float64{}, Started: time.Now()}
	defer func() { res.Duration = time.Since(res.Started).Round(time.Second).String() }()
	res.Machine = machine()
	ours, stock := testbed.OurCoreDNS(t), testbed.StockCoreDNS(t)
	if *only == "manifests" { // no control plane: the files alone
		manifestMemory(res, ours)
		return res
	}
	t.Logf("starting control plane")
	c := testbed.StartCluster(t)
	cs, err := kubernetes.NewForConfig(c.RestConfig(testbed.UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{cs: cs}
	switch *only {
	case "shaping":
		fx.namespace("bench")
		fx.service("bench", "hundred", 100, true)
		clientShaping(res, fx, c.Admin, ours, stock)
	case "explain":
		fx.namespace("bench")
		fx.service("bench", "hundred", 100, true)
		explainQPS(res, c.Admin, ours)
	case "sts":
		bigStatefulSet(res, c, ours, stock)
	case "replicas":
		replicaCost(res, c, cs, fx, ours, stock)
	case "transfer":
		zoneTransfer(res, c, fx, ours, stock)
	case "mcs":
		mcsBench(res, c, cs, fx, ours, stock)
	case "scale":
		startToReady(res, c, fx, ours, stock)
		relistPeak(res, c, ours, stock)
	default:
		runAll(res, c, fx, ours, stock)
	}
	return res
}

// runAll is the whole run: the fixture, then each measurement in turn on
// one ours and one stock server.
func runAll(res *result, c *testbed.Cluster, fx *fixture, ours, stock string) {
	t.Logf("creating fixtures: %d ClusterIP x %d, %d headless x %d, headless of 2, 100, 1000", *nClusterIP, *nClusterIPEps, *nHeadless, *nHeadlessEps)
	fx.namespace("bench")
	fx.services("bench", "cip", *nClusterIP, *nClusterIPEps, false)
	fx.services("bench", "hl", *nHeadless, *nHeadlessEps, true)
	fx.service("bench", "two", 2, true)
	fx.service("bench", "hundred", 100, true)
	fx.service("bench", "thousand", 1000, true)

	s, d1 := startServer("stock", stock, corefileStock, c.Admin)
	o, d2 := startServer("ours", ours, corefileOurs, c.Admin)
	t.Logf("ready: stock %s, ours %s", d1, d2)
	servers := []*server{o, s}

	// RSS after sync
	time.Sleep(5 * time.Second)
	for _, sv := range servers {
		res.set("rss_mib/"+sv.name, rssMiB(sv.Cmd.Process.Pid))
	}
	measureQPS(res, servers, ours)
	clientShaping(res, fx, c.Admin, ours, stock)
	latencyAndChurn(res, fx, servers)

	// freshness: slice write -> new answer served; ours' own programming
	// latency histogram over the same writes, for comparison
	sum0, n0 := programmingLatency(o.metrics)
	fr := fx.freshness("bench", "two", servers, *freshN)
	for name, ds := range fr {
		res.add("fresh_ms/"+name, ds...)
	}
	sum1, n1 := programmingLatency(o.metrics)
	if n1 > n0 {
		res.set("prog_mean_ms", (sum1-sum0)/(n1-n0)*1000)
		res.set("prog_count", n1-n0)
	}
	if *outageSeconds > 0 {
		outageCatchUp(res, c, servers)
	}

	// start to ready with many headless endpoints
	for _, sv := range servers {
		sv.Stop()
	}
	startToReady(res, c, fx, ours, stock)
	relistPeak(res, c, ours, stock)
	if *stsPods > 0 {
		bigStatefulSet(res, c, ours, stock)
	}
}

// measureQPS: dnsperf on A of 2, A of 100 and SRV of 100 endpoints, each
// run alternating the servers, and the framework's own ceiling (whoami)
// beside the first.
func measureQPS(res *result, servers []*server, ours string) {
	whoami, _ := startServer("whoami", ours, ".:{PORT} {\n    bind 127.0.0.1\n    ready 127.0.0.1:%d\n    whoami\n}", "")
	defer whoami.Stop()
	queries := []struct {
		key, q string
		edns   bool
	}{
		{"qps_a2", "two.bench.svc.cluster.local A", false},
		{"qps_a100", "hundred.bench.svc.cluster.local A", true},
		{"qps_srv100", "_http._tcp.hundred.bench.svc.cluster.local SRV", true},
	}
	for _, qq := range queries {
		file := filepath.Join(t.TempDir(), "q")
		os.WriteFile(file, []byte(qq.q+"\n"), 0o644)
		for r := 0; r < *runs; r++ {
			alternate(res, servers, r, qq.key, func(port int) float64 { return dnsperf(port, file, qq.edns) })
			if qq.key == "qps_a2" {
				wf := filepath.Join(t.TempDir(), "w")
				os.WriteFile(wf, []byte("whoami.example. A\n"), 0o644)
				qps := dnsperf(whoami.Port, wf, false)
				res.add("qps_whoami", qps)
				t.Logf("whoami run %d: %.0f qps", r+1, qps)
			}
		}
	}
}

// latencyAndChurn: p99 latency at 80 % of stock's max QPS (A on the
// 2-endpoint Service), then CPU while ClusterIP slices churn.
func latencyAndChurn(res *result, fx *fixture, servers []*server) {
	rate := 0.8 * median(res.Samples["qps_a2/stock"])
	for _, sv := range servers {
		p50, p99, lost := paced(sv.Addr, "two.bench.svc.cluster.local.", rate, time.Duration(*seconds)*time.Second)
		res.set("lat_p50_ms/"+sv.name, p50)
		res.set("lat_p99_ms/"+sv.name, p99)
		res.set("lat_lost/"+sv.name, lost)
		t.Logf("latency at %.0f qps %s: p50 %.3f ms p99 %.3f ms lost %.0f", rate, sv.name, p50, p99, lost)
	}
	res.set("lat_rate_qps", rate)

	cpu0 := map[string]float64{}
	for _, sv := range servers {
		cpu0[sv.name] = cpuSeconds(sv.Cmd.Process.Pid)
	}
	start := time.Now()
	fx.churn("bench", "cip", *nClusterIP, *updates)
	took := time.Since(start)
	time.Sleep(5 * time.Second)
	for _, sv := range servers {
		res.set("churn_cpu_s/"+sv.name, cpuSeconds(sv.Cmd.Process.Pid)-cpu0[sv.name])
	}
	res.set("churn_updates_per_s", float64(*updates)/took.Seconds())
	t.Logf("churn: %d updates in %s; cpu stock %.2fs ours %.2fs", *updates, took, res.Figures["churn_cpu_s/stock"], res.Figures["churn_cpu_s/ours"])
}

// alternate runs one QPS measurement on each server, the order swapped on
// odd runs, and records it under key.
func alternate(res *result, servers []*server, run int, key string, measure func(port int) float64) {
	order := servers
	if run%2 == 1 {
		order = []*server{servers[1], servers[0]}
	}
	for _, sv := range order {
		qps := measure(sv.Port)
		res.add(key+"/"+sv.name, qps)
		t.Logf("%s %s run %d: %.0f qps", key, sv.name, run+1, qps)
	}
}

func parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		}()
	}
	wg.Wait()
}

var qpsRe = regexp.MustCompile(`Queries per second:\s+([0-9.]+)`)
