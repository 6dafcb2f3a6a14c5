package main

import (
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

func dnsperf(port int, file string, edns bool) float64 {
	if edns {
		return dnsperfArgs(port, file, "-e")
	}
	return dnsperfArgs(port, file)
}

func dnsperfArgs(port int, file string, extra ...string) float64 {
	b := []byte(dnsperfOutput(port, file, extra...))
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

// dnsperfOutput runs dnsperf against the port for -seconds and returns its
// report; it fails the run when no query was answered NOERROR.
func dnsperfOutput(port int, file string, extra ...string) string {
	return dnsperfExpect(port, file, "NOERROR", extra...)
}

// dnsperfExpect is dnsperfOutput for queries answered with rcode want.
func dnsperfExpect(port int, file, want string, extra ...string) string {
	args := append([]string{"-s", "127.0.0.1", "-p", strconv.Itoa(port), "-d", file, "-l", strconv.Itoa(*seconds), "-c", "4", "-q", "256", "-S", "0"}, extra...)
	b, err := exec.Command("dnsperf", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dnsperf: %v\n%s", err, b)
	}
	if !qpsRe.Match(b) || !strings.Contains(string(b), want) {
		t.Fatalf("dnsperf: no qps or no %s answers:\n%s", want, b)
	}
	return string(b)
}

// paced sends A queries at a fixed rate for d and returns latency p50 and
// p99 in milliseconds and the number of queries lost. A lost query counts
// as an infinite latency: with more than 1 % lost, p99 is +Inf.
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
	if len(lat) == 0 {
		t.Fatalf("no replies from %s", addr)
	}
	answered := len(lat)
	for len(lat) < total {
		lat = append(lat, math.Inf(1))
	}
	sort.Float64s(lat)
	return percentile(lat, 50), percentile(lat, 99), float64(total - answered)
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
