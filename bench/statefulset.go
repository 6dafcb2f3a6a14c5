package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// bigStatefulSet: one headless Service whose slices the real endpointslice
// controller builds from *stsPods pods (the harness plays kubelet), hostnames
// as a StatefulSet sets them, 3 zones. Ours and stock, in one run: memory
// after sync, QPS of a pod name (UDP) and of the Service name over TCP, and
// CoreDNS CPU while *flipRate pods a second flip readiness for *flipSeconds.
func bigStatefulSet(res *result, c *testbed.Cluster, ours, stock string) {
	b := &stsBench{res: res, c: c, n: *stsPods, ready: map[int]bool{}}
	b.createPods()
	b.startServers(ours, stock)
	b.measure()
	b.flipWindow("sts_flip", 0)
	if *flipQPS > 0 {
		b.flipWindow("sts_flipq", *flipQPS)
	}
	b.churn()
	for _, sv := range b.servers {
		sv.Stop()
	}
}

// stsBench is one run of bigStatefulSet: the cluster, the two servers and
// the pods' readiness as flipped so far.
type stsBench struct {
	res                   *result
	c                     *testbed.Cluster
	n                     int
	o, s                  *server
	servers               []*server
	pprofOurs, pprofStock int
	podName               string
	ready                 map[int]bool
	next                  int // flips so far: the next window goes on where the last stopped
}

func stsIP(i int) string { return fmt.Sprintf("10.200.%d.%d", i/250, i%250+1) }

func stsPod(i int) testbed.PodSpec {
	return testbed.PodSpec{Namespace: "sts", Name: fmt.Sprintf("db-%d", i), Node: "sts-node-" + string(rune('a'+i%3)),
		Labels: map[string]string{"app": "db"}, Hostname: fmt.Sprintf("db-%d", i), Subdomain: "db", IPs: []string{stsIP(i)}, Ready: true}
}

// createPods makes the Service and its pods, and waits until the
// controller's slices hold every endpoint ready.
func (b *stsBench) createPods() {
	n, c := b.n, b.c
	t.Logf("creating a headless Service of %d pods", n)
	for _, z := range []string{"a", "b", "c"} {
		c.Node(t, "sts-node-"+z, "zone-"+z)
	}
	c.Namespace(t, "sts")
	c.Service(t, "sts", "db", core.ClusterIPNone, map[string]string{"app": "db"}, false, testbed.ServicePort("pg", 5432))
	start := time.Now()
	parallel(n, 16, func(i int) { c.Pod(t, stsPod(i)) })
	for {
		l, err := c.Client.DiscoveryV1().EndpointSlices("sts").List(context.Background(), meta.ListOptions{})
		ready := 0
		if err == nil {
			for _, s := range l.Items {
				for _, e := range s.Endpoints {
					if e.Conditions.Ready != nil && *e.Conditions.Ready {
						ready++
					}
				}
			}
		}
		if ready == n {
			t.Logf("%d pods ready in %d slices after %s", n, len(l.Items), time.Since(start).Round(time.Second))
			return
		}
		if time.Since(start) > 15*time.Minute {
			t.Fatalf("controller slices hold %d of %d ready endpoints", ready, n)
		}
		time.Sleep(time.Second)
	}
}

// startServers starts ours and stock (with pprof for -flip-profile) and
// waits until both answer a pod's name.
func (b *stsBench) startServers(ours, stock string) {
	withPprof := func(corefile string) (string, int) {
		if !*flipProfile {
			return corefile, 0
		}
		p := testbed.FreePort(t)
		return strings.Replace(corefile, "ready 127.0.0.1:%d", fmt.Sprintf("ready 127.0.0.1:%%d\n    pprof 127.0.0.1:%d", p), 1), p
	}
	if *gcTrace {
		os.Setenv("GODEBUG", "gctrace=1") // both servers print a line per garbage collection
		defer os.Unsetenv("GODEBUG")
	}
	var cfOurs, cfStock string
	cfOurs, b.pprofOurs = withPprof(corefileOurs)
	cfStock, b.pprofStock = withPprof(corefileStock)
	b.o, _ = startServer("ours", ours, cfOurs, b.c.Admin)
	b.s, _ = startServer("stock", stock, cfStock, b.c.Admin)
	b.servers = []*server{b.o, b.s}
	b.podName = fmt.Sprintf("db-%d.db.sts.svc.cluster.local.", b.n/2)
	for _, sv := range b.servers {
		for {
			m, err := testbed.Exchange(sv.Addr, b.podName, dns.TypeA, false)
			if err == nil && len(m.Answer) == 1 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// measure: memory after sync, the QPS of a pod's name (UDP) and of the
// Service's (TCP), and with -flip-idle CPU while nothing changes.
func (b *stsBench) measure() {
	res := b.res
	time.Sleep(5 * time.Second)
	for _, sv := range b.servers {
		res.set("sts_rss_mib/"+sv.name, rssMiB(sv.Cmd.Process.Pid))
	}
	for _, qq := range []struct{ key, q, mode string }{
		{"sts_qps_pod", b.podName + " A", "udp"},
		{"sts_qps_svc_tcp", "db.sts.svc.cluster.local. A", "tcp"},
	} {
		file := filepath.Join(t.TempDir(), "q")
		os.WriteFile(file, []byte(qq.q+"\n"), 0o644)
		for r := 0; r < *runs; r++ {
			alternate(res, b.servers, r, qq.key, func(port int) float64 { return dnsperfMode(port, file, qq.mode) })
		}
	}
	if *flipIdle > 0 {
		idle := map[string]float64{}
		for _, sv := range b.servers {
			idle[sv.name] = cpuSeconds(sv.Cmd.Process.Pid)
		}
		t.Logf("idle window: %d s (pids: ours %d, stock %d)", *flipIdle, b.o.Cmd.Process.Pid, b.s.Cmd.Process.Pid)
		time.Sleep(time.Duration(*flipIdle) * time.Second)
		for _, sv := range b.servers {
			res.set("sts_idle_cpu_s/"+sv.name, cpuSeconds(sv.Cmd.Process.Pid)-idle[sv.name])
		}
		t.Logf("CoreDNS CPU over %d s with no change: ours %.3f s, stock %.3f s", *flipIdle,
			res.Figures["sts_idle_cpu_s/ours"], res.Figures["sts_idle_cpu_s/stock"])
	}
}

// flipWindow flips the readiness of the upper half of the pods, paced; with
// qps > 0 each server is also asked that many names of flipping pods a
// second. It records both servers' CPU, the rate and ours' slice events.
func (b *stsBench) flipWindow(key string, qps int) {
	res := b.res
	events0 := sliceEvents(b.o.metrics)
	gcs0, cpu0 := map[string]int{}, map[string]float64{}
	for _, sv := range b.servers {
		gcs0[sv.name] = strings.Count(sv.Log(), "\ngc ")
		cpu0[sv.name] = cpuSeconds(sv.Cmd.Process.Pid)
	}
	profiles := b.profile(qps)
	var answered atomic.Int64
	stopAsking := make(chan struct{})
	var asking sync.WaitGroup
	for _, sv := range b.servers {
		if qps > 0 {
			asking.Add(1)
			go func() {
				defer asking.Done()
				b.ask(sv, qps, stopAsking, &answered)
			}()
		}
	}
	flips, took := b.flip(qps)
	close(stopAsking)
	asking.Wait()
	profiles.Wait()
	time.Sleep(5 * time.Second)
	// a scrape of ours' gauges publishes what it has taken in and not
	// published yet: the figure holds all of ours' work on the flips
	events := sliceEvents(b.o.metrics) - events0
	for _, sv := range b.servers {
		res.set(key+"_cpu_s/"+sv.name, cpuSeconds(sv.Cmd.Process.Pid)-cpu0[sv.name])
		res.set("sts_rss_after_mib/"+sv.name, rssMiB(sv.Cmd.Process.Pid))
	}
	res.set(key+"s_per_s", float64(flips.Load())/took.Seconds())
	res.set(key+"_slice_events", events)
	if qps > 0 {
		res.set(key+"_qps", float64(answered.Load())/took.Seconds()/float64(len(b.servers)))
	}
	t.Logf("%d readiness flips in %s, %d answers; CoreDNS CPU: ours %.2f s, stock %.2f s", flips.Load(), took.Round(time.Second), answered.Load(),
		res.Figures[key+"_cpu_s/ours"], res.Figures[key+"_cpu_s/stock"])
	if *gcTrace {
		for _, sv := range b.servers {
			n := strings.Count(sv.Log(), "\ngc ") - gcs0[sv.name]
			res.set(key+"_gcs/"+sv.name, float64(n))
			last := ""
			if i := strings.LastIndex(sv.Log(), "\ngc "); i >= 0 {
				last, _, _ = strings.Cut(sv.Log()[i+1:], "\n")
			}
			t.Logf("%s: %d garbage collections in the window; last: %s", sv.name, n, last)
		}
	}
}

// profile starts perf and pprof recordings of a window without queries.
func (b *stsBench) profile(qps int) *sync.WaitGroup {
	var profiles sync.WaitGroup
	if *perfRecord && qps == 0 {
		for _, sv := range b.servers {
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				perfProfile(sv.Cmd.Process.Pid, *flipSeconds, filepath.Join(*out, "perf-flip-"+sv.name))
			}()
		}
	}
	if *flipProfile && qps == 0 {
		for name, port := range map[string]int{"ours": b.pprofOurs, "stock": b.pprofStock} {
			profiles.Add(1)
			go func() {
				defer profiles.Done()
				saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, *flipSeconds), filepath.Join(*out, "flip-"+name+".prof"))
			}()
		}
	}
	return &profiles
}

// ask asks a server qps names of flipping pods a second until stop.
func (b *stsBench) ask(sv *server, qps int, stop chan struct{}, answered *atomic.Int64) {
	tk := time.NewTicker(time.Second / time.Duration(qps))
	defer tk.Stop()
	for q := 0; ; q++ {
		select {
		case <-stop:
			return
		case <-tk.C:
		}
		name := fmt.Sprintf("db-%d.db.sts.svc.cluster.local.", b.n/2+(q*7919)%(b.n/2))
		if _, err := testbed.Exchange(sv.Addr, name, dns.TypeA, false); err == nil {
			answered.Add(1)
		}
	}
}

// flip sends *flipRate readiness flips a second for *flipSeconds and
// returns the count of flips written (it goes on rising while the last
// writes land) and how long the window took.
func (b *stsBench) flip(qps int) (*atomic.Int64, time.Duration) {
	n := b.n
	flips := new(atomic.Int64)
	total := *flipRate * *flipSeconds
	tick := time.NewTicker(time.Second / time.Duration(*flipRate))
	t.Logf("flip window: %d flips a second for %d s, %d queries a second (pids: ours %d, stock %d)", *flipRate, *flipSeconds, qps, b.o.Cmd.Process.Pid, b.s.Cmd.Process.Pid)
	start := time.Now()
	for k := b.next; k < b.next+total; k++ {
		<-tick.C
		i := n/2 + k%(n/2)
		b.ready[i] = !b.ready[i] // first flip: not ready, then back
		go func(i int, r bool) {
			b.c.SetPodStatus(t, "sts", fmt.Sprintf("db-%d", i), []string{stsIP(i)}, r)
			flips.Add(1)
		}(i, !b.ready[i])
	}
	b.next += total
	tick.Stop()
	return flips, time.Since(start)
}

// churn: no false negative under churn. Pods 0..n/10-1 (never flipped
// above) stay ready while the others flip and are deleted and created
// again and the top 10 % go and come back; their names are asked
// throughout.
func (b *stsBench) churn() {
	n, res := b.n, b.res
	ch := b.c.Churn(t, testbed.ChurnSpec{
		Namespace: "sts", Pods: n, Stable: n / 10, Pod: stsPod,
		Name:   func(i int) string { return fmt.Sprintf("db-%d.db.sts.svc.cluster.local.", i) },
		Rounds: 6, Flips: n / 50, Recreates: n / 200, ScaleDown: n / 10,
		Servers: map[string]string{"ours": b.o.Addr, "stock": b.s.Addr}, Workers: 4, Seed: 1,
	})
	t.Logf("churn on the %d-pod Service: %s", n, ch)
	res.set("sts_churn_queries", float64(ch.Queries["ours"]))
	res.set("sts_churn_s", ch.Took.Seconds())
	for name, bad := range ch.Bad {
		res.set("sts_churn_false_negatives/"+name, float64(bad))
		res.set("sts_churn_failed_exchanges/"+name, float64(ch.Timeouts[name]))
	}
}

// saveProfile fetches a pprof profile into file.
func saveProfile(url, file string) {
	resp, err := http.Get(url)
	if err != nil {
		t.Logf("profile %s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil {
		os.MkdirAll(filepath.Dir(file), 0o755)
		err = os.WriteFile(file, b, 0o644)
	}
	t.Logf("profile %s: %d bytes, %v", file, len(b), err)
}

// dnsperfMode runs dnsperf over UDP; over TCP it runs tcpQPS, because
// dnsperf 2.10 never completes a reply near the 64 KiB message limit (seen
// with ours and stock alike; dig reads the same reply in 28 ms).
func dnsperfMode(port int, file, mode string) float64 {
	if mode == "udp" {
		return dnsperf(port, file, false)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Fields(string(b))[0]
	return tcpQPS(fmt.Sprintf("127.0.0.1:%d", port), name, time.Duration(*seconds)*time.Second, 4)
}

// tcpQPS asks name (A) for d from workers, each on its own persistent TCP
// connection, one query in flight per connection, and returns completed
// answers a second. Every answer must be NOERROR with records.
func tcpQPS(addr, name string, d time.Duration, workers int) float64 {
	var done atomic.Int64
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &dns.Client{Net: "tcp", Timeout: 10 * time.Second}
			conn, err := c.Dial(addr)
			if err != nil {
				t.Fatalf("tcp dial %s: %v", addr, err)
			}
			defer conn.Close()
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			m.SetEdns0(4096, false)
			for time.Now().Before(deadline) {
				r, _, err := c.ExchangeWithConn(m, conn)
				if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
					t.Fatalf("tcp query %s to %s: %v %v", name, addr, r, err)
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / d.Seconds()
}

// perfProfile records pid with perf for seconds (cpu-clock at 2 kHz, call
// graphs: the command the earlier breakdowns in BENCHMARKS.md used) into
// base.data, and writes its report by symbol to base.txt and the sample
// total to the log.
func perfProfile(pid, seconds int, base string) {
	rec := exec.Command("perf", "record", "-e", "cpu-clock", "-F", "2000", "-g", "-p", strconv.Itoa(pid), "-o", base+".data", "--", "sleep", strconv.Itoa(seconds))
	if out, err := rec.CombinedOutput(); err != nil {
		t.Logf("perf record %d: %v\n%s", pid, err, out)
		return
	}
	rep, err := exec.Command("perf", "report", "-i", base+".data", "--stdio", "--no-children", "--sort", "symbol", "--percent-limit", "0.5").Output()
	if err != nil {
		t.Logf("perf report %s: %v", base, err)
		return
	}
	if err := os.WriteFile(base+".txt", rep, 0o644); err != nil {
		t.Logf("perf report %s: %v", base, err)
	}
	for _, line := range strings.Split(string(rep), "\n") {
		if strings.HasPrefix(line, "# Samples:") || strings.HasPrefix(line, "# Event count") {
			t.Logf("perf %s: %s (at 2 kHz: samples / 2 = CPU ms)", filepath.Base(base), strings.TrimPrefix(line, "# "))
		}
	}
}
