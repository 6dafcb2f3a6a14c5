// Command bench runs our CoreDNS build (headless + kubernetes{noendpoints}) and
// a stock CoreDNS v1.15.0 (kubernetes alone) side by side against one real
// kube-apiserver, loads them with dnsperf on loopback, and prints a table of
// medians and ours/stock ratios. Run from the module root: go run ./bench
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
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
	start := time.Now()
	c := testbed.StartCoreDNSWith(t, []string{"taskset", "-c", "1"}, bin, cf)
	s := &server{CoreDNS: c, name: name, ready: fmt.Sprintf("http://127.0.0.1:%d/ready", rp), metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mp)}
	for {
		resp, err := http.Get(s.ready)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("%s not ready", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return s, time.Since(start)
}

func run() *result {
	res := &result{Figures: map[string]float64{}, Samples: map[string][]float64{}, Started: time.Now()}
	res.Machine = machine()
	ours, stock := testbed.OurCoreDNS(t), testbed.StockCoreDNS(t)
	t.Logf("starting control plane")
	c := testbed.StartCluster(t)
	cs, err := kubernetes.NewForConfig(c.RestConfig(testbed.UserAdmin))
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{cs: cs}
	t.Logf("creating fixtures: %d ClusterIP x %d, %d headless x %d, headless of 2, 100, 1000", *nClusterIP, *nClusterIPEps, *nHeadless, *nHeadlessEps)
	fx.namespace("bench")
	fx.services("bench", "cip", *nClusterIP, *nClusterIPEps, false)
	fx.services("bench", "hl", *nHeadless, *nHeadlessEps, true)
	fx.service("bench", "two", 2, true)
	fx.service("bench", "hundred", 100, true)
	fx.service("bench", "thousand", 1000, true)

	whoami, _ := startServer("whoami", ours, ".:{PORT} {\n    bind 127.0.0.1\n    ready 127.0.0.1:%d\n    whoami\n}", "")
	s, d1 := startServer("stock", stock, corefileStock, c.Admin)
	o, d2 := startServer("ours", ours, corefileOurs, c.Admin)
	t.Logf("ready: stock %s, ours %s", d1, d2)
	servers := []*server{o, s}

	// RSS after sync
	time.Sleep(5 * time.Second)
	for _, sv := range servers {
		res.set("rss_mib/"+sv.name, rssMiB(sv.Cmd.Process.Pid))
	}

	// QPS
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
	whoami.Stop()

	// p99 latency at 80% of stock's max QPS (A on the 2-endpoint Service)
	rate := 0.8 * median(res.Samples["qps_a2/stock"])
	for _, sv := range servers {
		p50, p99, lost := paced(sv.Addr, "two.bench.svc.cluster.local.", rate, time.Duration(*seconds)*time.Second)
		res.set("lat_p50_ms/"+sv.name, p50)
		res.set("lat_p99_ms/"+sv.name, p99)
		res.set("lat_lost/"+sv.name, lost)
		t.Logf("latency at %.0f qps %s: p50 %.3f ms p99 %.3f ms lost %.0f", rate, sv.name, p50, p99, lost)
	}
	res.set("lat_rate_qps", rate)

	// CPU while ClusterIP slices churn
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
	n := *scaleEps / 100
	t.Logf("creating %d headless Services x 100 endpoints", n)
	fx.namespace("scale")
	fx.services("scale", "big", n, 100, true)
	for _, name := range []string{"stock", "ours"} {
		for r := 0; r < *runs; r++ {
			var d time.Duration
			var sv *server
			if name == "ours" {
				sv, d = startServer("ours", ours, corefileOurs, c.Admin)
			} else {
				sv, d = startServer("stock", stock, corefileStock, c.Admin)
			}
			// it must really answer a scale name once ready
			if m, err := testbed.Exchange(sv.Addr, fmt.Sprintf("big-%d.scale.svc.cluster.local.", n-1), dns.TypeA, false); err != nil || len(m.Answer) != 100 {
				t.Fatalf("%s ready but scale Service not answered: %v %v", name, m, err)
			}
			res.add("ready_s/"+name, d.Seconds())
			if r == 0 {
				time.Sleep(3 * time.Second)
				res.set("rss_scale_mib/"+name, rssMiB(sv.Cmd.Process.Pid))
			}
			t.Logf("start to ready with %d headless endpoints, %s: %s", n*100, name, d)
			sv.Stop()
		}
	}
	relistPeak(res, c, ours, stock)
	if *stsPods > 0 {
		bigStatefulSet(res, c, ours, stock)
	}
	res.Duration = time.Since(res.Started).Round(time.Second).String()
	return res
}

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

// fixture writes Services and EndpointSlices shaped as the endpointslice
// controller writes them (same labels, at most 100 endpoints per slice). The
// Services have no selector, so the controller leaves the slices alone.
type fixture struct {
	cs  *kubernetes.Clientset
	ip  atomic.Uint32
	gen atomic.Uint32
}

func (f *fixture) namespace(ns string) {
	_, err := f.cs.CoreV1().Namespaces().Create(context.Background(), &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: ns}}, meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) nextIP() string {
	n := f.ip.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", 128+(n>>16)&63, (n>>8)&255, n&255)
}

func (f *fixture) services(ns, prefix string, n, eps int, headless bool) {
	parallel(n, 16, func(i int) { f.service(ns, fmt.Sprintf("%s-%d", prefix, i), eps, headless) })
}

func (f *fixture) service(ns, name string, eps int, headless bool) {
	ctx := context.Background()
	svc := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"bench": "yes"}},
		Spec: core.ServiceSpec{Ports: []core.ServicePort{testbed.ServicePort("http", 80)}}}
	if headless {
		svc.Spec.ClusterIP = core.ClusterIPNone
	}
	if _, err := f.cs.CoreV1().Services(ns).Create(ctx, svc, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for s := 0; s*100 < eps; s++ {
		sl := f.slice(ns, name, fmt.Sprintf("%s-%d", name, s), headless)
		for i := s * 100; i < eps && i < (s+1)*100; i++ {
			sl.Endpoints = append(sl.Endpoints, f.endpoint(ns, name, i, headless))
		}
		if _, err := f.cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, sl, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) slice(ns, svc, name string, headless bool) *discovery.EndpointSlice {
	lbls := map[string]string{discovery.LabelServiceName: svc, discovery.LabelManagedBy: "endpointslice-controller.k8s.io", "bench": "yes"}
	if headless {
		lbls["service.kubernetes.io/headless"] = ""
	}
	port, pname, proto := int32(80), "http", core.ProtocolTCP
	return &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
}

func (f *fixture) endpoint(ns, svc string, i int, headless bool) discovery.Endpoint {
	t, fl := true, false
	zone, node := fmt.Sprintf("zone-%d", i%3), fmt.Sprintf("node-%d", i%50)
	e := discovery.Endpoint{Addresses: []string{f.nextIP()}, Conditions: discovery.EndpointConditions{Ready: &t, Serving: &t, Terminating: &fl},
		Zone: &zone, NodeName: &node, TargetRef: &core.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", svc, i)}}
	if headless {
		h := fmt.Sprintf("%s-%d", svc, i)
		e.Hostname = &h
	}
	return e
}

// churn updates ClusterIP slices round-robin, flipping one endpoint's ready condition.
func (f *fixture) churn(ns, prefix string, nsvc, n int) {
	ctx := context.Background()
	var mu sync.Mutex
	cache := map[string]*discovery.EndpointSlice{}
	parallel(n, 16, func(i int) {
		name := fmt.Sprintf("%s-%d-0", prefix, i%nsvc)
		mu.Lock()
		sl := cache[name]
		mu.Unlock()
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if sl == nil {
				if sl, err = f.cs.DiscoveryV1().EndpointSlices(ns).Get(ctx, name, meta.GetOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			sl = sl.DeepCopy()
			r := !*sl.Endpoints[0].Conditions.Ready
			sl.Endpoints[0].Conditions.Ready = &r
			if sl, err = f.cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, sl, meta.UpdateOptions{}); err == nil {
				break
			}
			sl = nil
		}
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		cache[name] = sl
		mu.Unlock()
	})
}

// freshness writes a new address into the 2-endpoint Service's slice and
// polls every server until it answers with it; returns milliseconds per server.
func (f *fixture) freshness(ns, svc string, servers []*server, n int) map[string][]float64 {
	ctx := context.Background()
	out := map[string][]float64{}
	sl, err := f.cs.DiscoveryV1().EndpointSlices(ns).Get(ctx, svc+"-0", meta.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := svc + "-1." + svc + "." + ns + ".svc.cluster.local."
	for i := 0; i < n; i++ {
		ip := f.nextIP()
		sl = sl.DeepCopy()
		sl.Endpoints[1].Addresses = []string{ip}
		start := time.Now()
		if sl, err = f.cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, sl, meta.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, sv := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &dns.Client{Timeout: time.Second}
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				for time.Since(start) < 10*time.Second {
					r, _, err := c.Exchange(m, sv.Addr)
					if err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == ip {
						mu.Lock()
						out[sv.name] = append(out[sv.name], float64(time.Since(start).Microseconds())/1000)
						mu.Unlock()
						return
					}
					time.Sleep(200 * time.Microsecond)
				}
				t.Fatalf("%s did not serve %s within 10s", sv.name, ip)
			}()
		}
		wg.Wait()
		time.Sleep(20 * time.Millisecond)
	}
	return out
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

func dnsperf(port int, file string, edns bool) float64 {
	if edns {
		return dnsperfArgs(port, file, "-e")
	}
	return dnsperfArgs(port, file)
}

func dnsperfArgs(port int, file string, extra ...string) float64 {
	args := append([]string{"-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", file, "-l", strconv.Itoa(*seconds), "-c", "4", "-q", "256", "-S", "0"}, extra...)
	b, err := exec.Command("dnsperf", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dnsperf: %v\n%s", err, b)
	}
	m := qpsRe.FindSubmatch(b)
	if m == nil {
		t.Fatalf("no qps in dnsperf output:\n%s", b)
	}
	if !strings.Contains(string(b), "NOERROR") {
		t.Fatalf("dnsperf saw no NOERROR answers:\n%s", b)
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}

// paced sends A queries at a fixed rate for d and returns latency p50 and
// p99 in milliseconds and the number of queries lost.
func paced(addr, name string, rate float64, d time.Duration) (p50, p99, lost float64) {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	wire, _ := m.Pack()
	var sent [65536]int64
	var lat []float64
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			conn.SetReadDeadline(time.Now().Add(time.Second))
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if n < 2 {
				continue
			}
			id := uint16(buf[0])<<8 | uint16(buf[1])
			now := time.Now().UnixNano()
			mu.Lock()
			if s := sent[id]; s != 0 {
				lat = append(lat, float64(now-s)/1e6)
				sent[id] = 0
			}
			mu.Unlock()
		}
	}()
	total := int(rate * d.Seconds())
	start := time.Now()
	for i := 0; i < total; i++ {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if w := time.Until(due); w > 50*time.Microsecond {
			time.Sleep(w)
		}
		id := uint16(i)
		wire[0], wire[1] = byte(id>>8), byte(id)
		mu.Lock()
		sent[id] = time.Now().UnixNano()
		mu.Unlock()
		conn.Write(wire)
	}
	<-done
	sort.Float64s(lat)
	if len(lat) == 0 {
		t.Fatalf("no replies from %s", addr)
	}
	return percentile(lat, 50), percentile(lat, 99), float64(total - len(lat))
}

func percentile(sorted []float64, p float64) float64 {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func rssMiB(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v / 1024
}

func cpuSeconds(pid int) float64 {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // clock ticks (USER_HZ 100)
}

func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`model name\s*:\s*(.*)`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	v, _ := exec.Command("go", "version").Output()
	return fmt.Sprintf("%s, %d cores; %s; CoreDNS v1.15.0, k8s %s, etcd %s", cpu, numCPU(), strings.TrimSpace(string(v)), testbed.K8sVersion, testbed.EtcdVersion)
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func report(r *result) {
	for k, v := range r.Samples {
		if strings.HasPrefix(k, "fresh_ms/") {
			s := append([]float64(nil), v...)
			sort.Float64s(s)
			r.set("fresh_p50_ms/"+strings.TrimPrefix(k, "fresh_ms/"), percentile(s, 50))
			r.set("fresh_p99_ms/"+strings.TrimPrefix(k, "fresh_ms/"), percentile(s, 99))
		} else {
			r.set(k, median(v))
		}
	}
	f := r.Figures
	row := func(figure, target, unit string, ours, stock float64, better string) string {
		ratio := ours / stock
		return fmt.Sprintf("| %s | %s | %.4g %s | %.4g %s | %.2f× | %s |\n", figure, target, ours, unit, stock, unit, ratio, better)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Run took %s.\n\n", r.Machine, r.Duration)
	b.WriteString("| figure | target | ours | stock | ours/stock | note |\n|---|---|---|---|---|---|\n")
	b.WriteString(row("QPS, headless A, 2 endpoints", "≥ 1.2× stock, ≥ 0.9× whoami", "", f["qps_a2/ours"], f["qps_a2/stock"], fmt.Sprintf("whoami %.0f qps; ours/whoami %.2f×", f["qps_whoami"], f["qps_a2/ours"]/f["qps_whoami"])))
	b.WriteString(row("QPS, A on 100-endpoint Service (EDNS 4096)", "≥ 2× stock", "", f["qps_a100/ours"], f["qps_a100/stock"], ""))
	b.WriteString(row("QPS, SRV on 100-endpoint Service (EDNS 4096)", "≥ 2× stock", "", f["qps_srv100/ours"], f["qps_srv100/stock"], ""))
	b.WriteString(row(fmt.Sprintf("p99 latency at %.0f qps (80%% of stock max)", f["lat_rate_qps"]), "≤ stock", "ms", f["lat_p99_ms/ours"], f["lat_p99_ms/stock"], fmt.Sprintf("p50 ours %.3f ms, stock %.3f ms; lost ours %.0f stock %.0f", f["lat_p50_ms/ours"], f["lat_p50_ms/stock"], f["lat_lost/ours"], f["lat_lost/stock"])))
	b.WriteString(row("RSS after sync", "≤ stock", "MiB", f["rss_mib/ours"], f["rss_mib/stock"], ""))
	b.WriteString(row(fmt.Sprintf("CPU during %d ClusterIP slice updates", *updates), "≥ 10× less", "s", f["churn_cpu_s/ours"], f["churn_cpu_s/stock"], fmt.Sprintf("stock/ours %.1f×; %.0f updates/s", f["churn_cpu_s/stock"]/math.Max(f["churn_cpu_s/ours"], 0.01), f["churn_updates_per_s"])))
	b.WriteString(row("slice write → answer, p50", "≤ 10 ms", "ms", f["fresh_p50_ms/ours"], f["fresh_p50_ms/stock"], fmt.Sprintf("%d writes", *freshN)))
	b.WriteString(row("slice write → answer, p99", "≤ 50 ms", "ms", f["fresh_p99_ms/ours"], f["fresh_p99_ms/stock"], ""))
	b.WriteString(row(fmt.Sprintf("start to Ready, %d headless endpoints", *scaleEps), "≤ 3 s", "s", f["ready_s/ours"], f["ready_s/stock"], fmt.Sprintf("RSS then: ours %.0f MiB, stock %.0f MiB", f["rss_scale_mib/ours"], f["rss_scale_mib/stock"])))
	b.WriteString(row(fmt.Sprintf("RSS peak through a forced relist (API server restart, 410 Gone), %d headless endpoints", *scaleEps), "peak ≤ 1.2× steady", "MiB",
		f["relist_peak_mib/ours"], f["relist_peak_mib/stock"], fmt.Sprintf("steady ours %.0f MiB, stock %.0f MiB; peak/steady ours %.2f×, stock %.2f×",
			f["relist_steady_mib/ours"], f["relist_steady_mib/stock"], f["relist_peak_mib/ours"]/f["relist_steady_mib/ours"], f["relist_peak_mib/stock"]/f["relist_steady_mib/stock"])))
	b.WriteString(fmt.Sprintf("| DNS programming latency histogram, same writes (ours) | ≈ write → answer | %.3g ms mean over %.0f changes | — | — | from event arrival to publish; the external figure adds API server → watch delivery |\n", f["prog_mean_ms"], f["prog_count"]))
	if *outageSeconds > 0 {
		b.WriteString(row(fmt.Sprintf("catch-up: kube-apiserver stopped %d s, slice written at /readyz → served", *outageSeconds), "≤ 2 s", "s", f["catchup_s/ours"], f["catchup_s/stock"], fmt.Sprintf("median of %d runs", *runs)))
	}
	if *stsPods > 0 {
		b.WriteString(row(fmt.Sprintf("QPS, pod name of a %d-pod headless Service", *stsPods), "> stock", "", f["sts_qps_pod/ours"], f["sts_qps_pod/stock"], ""))
		b.WriteString(row(fmt.Sprintf("QPS, its Service name over TCP (%d records, 64 KiB cap)", *stsPods), "> stock", "", f["sts_qps_svc_tcp/ours"], f["sts_qps_svc_tcp/stock"], "Go client, 4 persistent connections (dnsperf cannot read 64 KiB replies)"))
		b.WriteString(row(fmt.Sprintf("RSS after sync, %d-pod Service", *stsPods), "≤ stock", "MiB", f["sts_rss_mib/ours"], f["sts_rss_mib/stock"], fmt.Sprintf("after the flips: ours %.0f MiB, stock %.0f MiB", f["sts_rss_after_mib/ours"], f["sts_rss_after_mib/stock"])))
		b.WriteString(row(fmt.Sprintf("CoreDNS CPU, %d readiness flips/s for %d s on it", *flipRate, *flipSeconds), "≤ stock", "s", f["sts_flip_cpu_s/ours"], f["sts_flip_cpu_s/stock"], fmt.Sprintf("%.0f flips/s achieved", f["sts_flips_per_s"])))
	}
	fmt.Print(b.String())
	os.MkdirAll(*out, 0o755)
	os.WriteFile(filepath.Join(*out, "results.md"), []byte(b.String()), 0o644)
	j, _ := json.MarshalIndent(r, "", "  ")
	os.WriteFile(filepath.Join(*out, "results.json"), j, 0o644)
}
