// Package testbed runs the real parts the tests and benchmarks need: CoreDNS
// binaries built from this module, and a Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager) on loopback.
package testbed

import (
	"bytes"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// ModuleRoot is the directory of this module's go.mod.
func ModuleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

var (
	buildMu    sync.Mutex
	buildCache = map[string]string{}
)

// Build builds a Go package of this module (or of its dependencies) into a
// binary shared by every test of this process, and returns its path.
func Build(t TB, pkg string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := buildCache[pkg]; ok {
		return p
	}
	dir, err := os.MkdirTemp("", "headless-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	buildCache[pkg] = out
	return out
}

// OurCoreDNS is the custom build: every stock plugin plus headless.
func OurCoreDNS(t TB) string { return Build(t, "./cmd/coredns") }

// StockCoreDNS is CoreDNS v1.15.0 as released, built from the same module versions.
func StockCoreDNS(t TB) string { return Build(t, "github.com/coredns/coredns") }

// handedOut holds every port FreePort returned in this process: a port freed
// for a while (an API server restarting on its port, a proxy's) is never
// handed to another listener. claim does the same across the test
// processes of one run (go test runs packages side by side).
var handedOut sync.Map

// FreePort returns a loopback port free for both TCP and UDP, and never the
// same port twice in one process, nor one another test process claimed.
func FreePort(t TB) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", candidatePort()))
		if err != nil {
			continue
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		l.Close()
		if err != nil {
			continue
		}
		u.Close()
		if _, seen := handedOut.LoadOrStore(port, true); !seen && claim(port) {
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// candidatePort is a random port below the kernel's ephemeral range, or 0
// (the kernel's choice) when that range starts too low. Below it, no client
// socket's source port can take the port while its server starts, and a
// client polling it is never connected to itself (a UDP socket whose
// ephemeral port equals the port it asks reads its own query back).
func candidatePort() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const floor = 12000
	if low-floor < 2000 {
		return 0
	}
	return floor + mrand.IntN(low-floor)
}

// claim records port in a file every test process of the machine shares,
// under an exclusive lock, and reports whether no process had claimed it in
// the last hour. (Without the file, it claims nothing and allows all.)
func claim(port int) bool {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "headless-testbed-ports"), os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		return true
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return true
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	b, err := io.ReadAll(f)
	if err != nil {
		return true
	}
	now := time.Now().Unix()
	var keep []string
	free := true
	for _, line := range strings.Split(string(b), "\n") {
		var p int
		var at int64
		if _, err := fmt.Sscanf(line, "%d %d", &p, &at); err != nil || now-at > 3600 {
			continue
		}
		keep = append(keep, line)
		free = free && p != port
	}
	if free {
		keep = append(keep, fmt.Sprintf("%d %d", port, now))
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strings.Join(keep, "\n")+"\n"), 0)
	}
	return free
}

// Proc is a process started by a test; it is stopped at cleanup.
type Proc struct {
	Name string
	Cmd  *exec.Cmd
	log  *SyncBuffer
	done chan struct{}
}

// SyncBuffer is a bytes.Buffer that a writer (a process, a log) and the
// test may use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs a command; its output is kept and shown if the test fails.
func Start(t TB, name string, dir string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Name: filepath.Base(name), log: &SyncBuffer{}, done: make(chan struct{})}
	p.Cmd = exec.Command(name, args...)
	p.Cmd.Dir = dir
	p.Cmd.Stdout, p.Cmd.Stderr = p.log, p.log
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = p.Cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			out := p.Log()
			if len(out) > 6000 {
				out = "...\n" + out[len(out)-6000:]
			}
			t.Logf("--- %s output ---\n%s", p.Name, out)
		}
	})
	return p
}

// Log returns what the process printed so far.
func (p *Proc) Log() string { return p.log.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error { return p.Cmd.Process.Signal(sig) }

// Stop ends the process group: SIGTERM, then SIGKILL after 10 s.
func (p *Proc) Stop() {
	if p.Exited() {
		return
	}
	_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// CoreDNS is a running CoreDNS answering on Addr (127.0.0.1:port).
type CoreDNS struct {
	*Proc
	Addr string
	Port int
	Dir  string
}

// StartCoreDNS writes corefile (with {PORT} replaced by a free port) and runs
// bin on it, waiting until it answers queries.
func StartCoreDNS(t TB, bin, corefile string) *CoreDNS {
	t.Helper()
	return StartCoreDNSWith(t, nil, bin, corefile)
}

// StartCoreDNSWith is StartCoreDNS run under a wrapper command (e.g. taskset -c 1).
func StartCoreDNSWith(t TB, wrap []string, bin, corefile string) *CoreDNS {
	t.Helper()
	port := FreePort(t)
	dir := t.TempDir()
	corefile = strings.ReplaceAll(corefile, "{PORT}", fmt.Sprint(port))
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(corefile), 0o644); err != nil {
		t.Fatal(err)
	}
	c := &CoreDNS{Addr: fmt.Sprintf("127.0.0.1:%d", port), Port: port, Dir: dir}
	args := []string{"-conf", filepath.Join(dir, "Corefile")}
	if len(wrap) > 0 {
		args = append(append(wrap[1:len(wrap):len(wrap)], bin), args...)
		bin = wrap[0]
	}
	c.Proc = Start(t, bin, ModuleRoot(), args...)
	deadline := time.Now().Add(60 * time.Second)
	for {
		// a reply, not our own query read back: the server listens
		if r, err := Exchange(c.Addr, "up.invalid.", dns.TypeA, false); err == nil && r.Response {
			return c
		}
		if c.Exited() || time.Now().After(deadline) {
			t.Fatalf("coredns did not start:\n%s", c.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Exchange sends one query over UDP (or TCP) with a 2 s timeout.
func Exchange(addr, name string, qtype uint16, tcp bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, false)
	c := &dns.Client{Timeout: 2 * time.Second}
	if tcp {
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// Answers returns the answer records' data, sorted, e.g. "A 10.0.0.1" or
// "SRV 0 50 80 web-0.web.ns.svc.cluster.local.", and the rcode.
func Answers(r *dns.Msg) (rcode string, rrs []string) {
	for _, rr := range r.Answer {
		f := strings.Fields(rr.String())
		rrs = append(rrs, strings.Join(f[3:], " "))
	}
	sort.Strings(rrs)
	return dns.RcodeToString[r.Rcode], rrs
}

// ExchangeFrom asks name from source address src (any 127.0.0.x: Linux
// routes all of 127/8 to lo), as a distinct client would. edns 0: plain DNS.
func ExchangeFrom(src, addr, name string, qtype uint16, tcp bool, edns uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if edns > 0 {
		m.SetEdns0(edns, false)
	}
	c := &dns.Client{Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: net.ParseIP(src)}}}
	if tcp {
		c.Net = "tcp"
		c.Dialer.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	r, _, err := c.Exchange(m, addr)
	return r, err
}

// AddrsOf lists the addresses of the A and AAAA records among rrs, in order.
func AddrsOf(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		switch v := rr.(type) {
		case *dns.A:
			out = append(out, v.A.String())
		case *dns.AAAA:
			out = append(out, v.AAAA.String())
		}
	}
	return out
}
