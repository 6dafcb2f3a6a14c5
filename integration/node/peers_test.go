package node

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	apps "k8s.io/api/apps/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// resolver is one client library inside a pod: its container and command.
type resolver struct {
	name, container, bin string
	searchSRV            bool // res_search applies the search path (musl's does not)
}

var resolvers = []resolver{
	{"glibc", "glibc", "/bin/dnsq", true},
	{"musl", "musl", "/bin/dnsq", false},
	{"go", "go", "/bin/dnsqgo", true},
	{"go-cgo", "go", "/bin/dnsqgo-cgo", true},
}

var web struct {
	once sync.Once
	ips  map[string]string // pod -> IP
}

// webSet is a StatefulSet of three (web-0..2, OrderedReady, made by the real
// statefulset controller) behind the headless Service web in namespace app;
// each pod has a glibc, a musl and a Go client container.
func webSet(t *testing.T) (*testbed.Node, map[string]string) {
	t.Helper()
	n := clusterDNS(t)
	web.once.Do(func() {
		start := time.Now()
		namespace(t, n, "app")
		headlessService(t, n, "app", "web", map[string]string{"app": "web"}, nil)
		if _, err := n.Client.AppsV1().StatefulSets("app").Create(bg, statefulSet("web", 3, apps.OrderedReadyPodManagement, clientContainers()), meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		web.ips = waitPods(t, n, "app", []string{"web-0", "web-1", "web-2"}, true, 120*time.Second)
		t.Logf("StatefulSet web: 3 pods Ready in order in %s: %v", time.Since(start).Round(100*time.Millisecond), web.ips)
	})
	if web.ips == nil {
		t.Fatal("StatefulSet web did not come up")
	}
	return n, web.ips
}

// TestPeersThroughResolvConf: from inside every pod of the StatefulSet,
// with glibc, musl, Go and Go through cgo, through the pod's own
// resolv.conf (search app.svc.cluster.local svc.cluster.local
// cluster.local, ndots:5, nameserver the kube-dns ClusterIP).
func TestPeersThroughResolvConf(t *testing.T) {
	n, ips := webSet(t)
	all := []string{ips["web-0"], ips["web-1"], ips["web-2"]}
	sort.Strings(all)
	want := "search app.svc.cluster.local svc.cluster.local cluster.local\nnameserver " + testbed.ClusterDNSIP + "\noptions ndots:5\n"
	if got := resolvConfs(n); !contains(got, want) {
		t.Fatalf("no pod sandbox has the resolv.conf\n%s\nkubelet wrote: %q", want, got)
	}
	for pod := range ips {
		for _, r := range resolvers {
			t.Run(pod+"/"+r.name, func(t *testing.T) {
				// short names through the search path
				out, rc := n.Exec(t, "app", pod, r.container, r.bin, "addr", "web-0.web", "web-1.web", "web-2.web")
				want := fmt.Sprintf("web-0.web %s\nweb-1.web %s\nweb-2.web %s\n", ips["web-0"], ips["web-1"], ips["web-2"])
				if rc != 0 || out != want {
					t.Errorf("short names: rc %d\n%s\nwant\n%s", rc, out, want)
				}
				// the Service: every ready pod
				out, rc = n.Exec(t, "app", pod, r.container, r.bin, "addr", "web")
				if want := "web " + strings.Join(all, " ") + "\n"; rc != 0 || out != want {
					t.Errorf("the Service: rc %d %q, want %q", rc, out, want)
				}
				// SRV: one target per pod, its stable name
				q := "_http._tcp.web"
				if !r.searchSRV {
					q += ".app.svc.cluster.local"
				}
				out, rc = n.Exec(t, "app", pod, r.container, r.bin, "srv", q)
				want = "0 33 80 web-0.web.app.svc.cluster.local\n0 33 80 web-1.web.app.svc.cluster.local\n0 33 80 web-2.web.app.svc.cluster.local\n"
				if rc != 0 || out != want {
					t.Errorf("SRV %s: rc %d\n%s\nwant\n%s", q, rc, out, want)
				}
				// getnameinfo of each peer's address gives its StatefulSet name
				for peer, ip := range ips {
					out, rc = n.Exec(t, "app", pod, r.container, r.bin, "name", ip)
					if want := peer + ".web.app.svc.cluster.local\n"; rc != 0 || out != want {
						t.Errorf("name of %s: rc %d %q, want %q", ip, rc, out, want)
					}
				}
				// a name that does not exist
				out, rc = n.Exec(t, "app", pod, r.container, r.bin, "addr", "web-7.web")
				if rc == 0 {
					t.Errorf("web-7.web resolved: %s", out)
				}
			})
		}
	}
}

// resolvConfs are the resolv.conf files kubelet had containerd write for
// the pod sandboxes.
func resolvConfs(n *testbed.Node) []string {
	files, _ := filepath.Glob(filepath.Join(n.Base, "containerd", "root", "io.containerd.grpc.v1.cri", "sandboxes", "*", "resolv.conf"))
	var out []string
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil {
			out = append(out, string(b))
		}
	}
	return out
}

// TestMissingNameExplained: dig in a pod shows the NXDOMAIN of a name that
// does not exist with the reason (explain), as a user debugging sees it.
func TestMissingNameExplained(t *testing.T) {
	n, _ := webSet(t)
	for _, c := range []struct{ name, want string }{
		{"web-7.web.app.svc.cluster.local", "; EDE: 0 (Other): (headless: web-7.web.app: "},
		{"_grpc._tcp.web.app.svc.cluster.local", "; EDE: 0 (Other): (headless: _grpc._tcp.web.app: no port grpc/tcp"},
	} {
		out, rc := n.Exec(t, "app", "web-0", "glibc", "/usr/bin/dig", c.name, map[bool]string{true: "SRV", false: "A"}[strings.HasPrefix(c.name, "_")])
		if rc != 0 || !strings.Contains(out, "status: NXDOMAIN") || !strings.Contains(out, c.want) || !strings.Contains(out, "SERVER: "+testbed.ClusterDNSIP+"#53") {
			t.Errorf("dig %s: rc %d, want NXDOMAIN from %s with %q:\n%s", c.name, rc, testbed.ClusterDNSIP, c.want, out)
			continue
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "; EDE:") {
				t.Logf("dig %s in web-0: %s", c.name, l)
			}
		}
	}
}
