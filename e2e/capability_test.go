package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// The image runs the binary as uid 65532 with no_new_privs and only
// NET_BIND_SERVICE in its bounding set (deploy/deployment.yaml:
// allowPrivilegeEscalation false, capabilities drop ALL, add
// NET_BIND_SERVICE). Binding :53 there needs the file capability that
// deploy/Dockerfile sets with setcap. Run the built binary exactly so, with
// and without it.
func TestBindPort53AsNonRoot(t *testing.T) {
	for _, tool := range []string{"setpriv", "setcap"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s missing (util-linux, libcap2-bin): .ci/run must install it", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; this test needs root to switch to uid 65532")
		}
		t.Skip("needs root to switch to uid 65532")
	}
	// a directory uid 65532 can read, holding a copy of the binary
	dir, err := os.MkdirTemp("", "headless-cap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "coredns")
	copyFile(t, testbed.OurCoreDNS(t), bin, 0o755)
	copyFile(t, filepath.Join(testbed.ModuleRoot(), "sample", "cluster.yaml"), filepath.Join(dir, "cluster.yaml"), 0o644)
	// a loopback address of its own: all of 127/8 is loopback, :53 free there
	addr := fmt.Sprintf("127.53.%d.%d", os.Getpid()%250+1, time.Now().Nanosecond()%250+1)
	corefile := fmt.Sprintf(".:53 {\n    bind %s\n    headless cluster.local {\n        manifests %s\n    }\n}\n", addr, filepath.Join(dir, "cluster.yaml"))
	writeFile(t, filepath.Join(dir, "Corefile"), corefile)
	for _, p := range []string{dir} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	asPod := asPodArgs(bin, filepath.Join(dir, "Corefile"))

	// without the file capability: bind: permission denied
	p := testbed.Start(t, asPod[0], dir, asPod[1:]...)
	deadline := time.Now().Add(20 * time.Second)
	for !p.Exited() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !p.Exited() || !strings.Contains(p.Log(), "bind: permission denied") {
		t.Fatalf("without the file capability: want exit with 'bind: permission denied', got exited=%v:\n%s", p.Exited(), p.Log())
	}

	// with it, as deploy/Dockerfile sets it: serves on :53
	if out, err := exec.Command("setcap", "cap_net_bind_service=+ep", bin).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v %s", err, out)
	}
	p = testbed.Start(t, asPod[0], dir, asPod[1:]...)
	target := addr + ":53"
	servesSample(t, p, target, deadline.Add(20*time.Second), "with the file capability it")
	if out, err := exec.Command("ps", "-o", "uid=", "-p", fmt.Sprint(p.Cmd.Process.Pid)).Output(); err == nil {
		t.Logf("serving on %s as uid %s", target, strings.TrimSpace(string(out)))
	}
}

// asPodArgs runs bin as deploy/deployment.yaml runs it: uid and gid 65532,
// no groups, no_new_privs, only NET_BIND_SERVICE in the bounding set.
func asPodArgs(bin, corefile string) []string {
	return []string{"setpriv", "--reuid=65532", "--regid=65532", "--clear-groups", "--no-new-privs",
		"--bounding-set=-all,+net_bind_service", bin, "-conf", corefile}
}

// servesSample waits until p answers the sample cluster's web-0 on target,
// failing at deadline or when p exits; who names the server in the failure.
func servesSample(t *testing.T, p *testbed.Proc, target string, deadline time.Time, who string) {
	t.Helper()
	for {
		r, err := testbed.Exchange(target, "web-0.web.default.svc.cluster.local.", dns.TypeA, false)
		if err == nil {
			if rcode, rrs := testbed.Answers(r); rcode != "NOERROR" || strings.Join(rrs, " ") != "A 10.244.1.10" {
				t.Fatalf("answer %s %v", rcode, rrs)
			}
			return
		}
		if p.Exited() || time.Now().After(deadline) {
			t.Fatalf("%s did not serve on %s: %v\n%s", who, target, err, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
