package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Addresses of the node's network, which exists only inside the namespace
// the node tests run in.
const (
	NodeName            = "node-0"
	NodeIP              = "10.88.0.1" // the bridge cni0: the node's InternalIP and the pods' gateway
	PodCIDR             = "10.88.0.0/16"
	ServiceCIDR         = "10.96.0.0/16"
	ServiceIPKubernetes = "10.96.0.1"
	ClusterDNSIP        = "10.96.0.10" // kubelet's clusterDNS, the kube-dns Service of deploy/
	// NoResolver is the only nameserver of the namespace's own resolv.conf
	// (and so of kubelet's resolvConf, which pods with dnsPolicy Default,
	// CoreDNS among them, forward to): TEST-NET-1, to which the namespace
	// has no route, so nothing is ever asked of the machine's resolvers.
	NoResolver = "192.0.2.53"
)

const (
	envNodeBase = "HEADLESS_NODE_BASE" // set inside the namespace: its tmpfs
	envNodeSkip = "HEADLESS_NODE_SKIP" // why the node cannot run here (not under CI)
)

// sysctls kubelet writes (protectKernelDefaults off). Inside the namespace
// each is a file bind-mounted over the /proc/sys entry, so the host's stay.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// NodeMain is the TestMain of the node tests. Outside the namespace it
// re-runs the test binary under unshare (new network, mount and PID
// namespaces), then checks the host is as it found it. Inside it lays out
// the mounts and the network and runs the tests; the node they share
// (SharedNode) is stopped at the end. Without root, unshare, containerd,
// runc or the CNI plugins the tests skip, and fail under CI=true.
func NodeMain(m *testing.M) int {
	if base := os.Getenv(envNodeBase); base != "" {
		return insideNode(m, base)
	}
	if err := nodePrerequisites(); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintf(os.Stderr, "FAIL: the node tests cannot run: %v\n", err)
			return 1
		}
		os.Setenv(envNodeSkip, err.Error())
		return m.Run()
	}
	base, err := os.MkdirTemp("", "headless-node-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	before := snapshotHost()
	args := append([]string{"--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--propagation", "private", os.Args[0]}, os.Args[1:]...)
	cmd := exec.Command("unshare", args...)
	cmd.Env = append(os.Environ(), envNodeBase+"="+base)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	rc := 0
	if err := cmd.Run(); err != nil {
		rc = 1
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			rc = ee.ExitCode()
		}
	}
	// a pod's processes may still be exiting when the namespace's init has
	// (the namespace ended abruptly): their cgroups empty within moments
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if left = removeCgroups(cgroupRootOf(base)); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: cgroups left by the node: %v\n", left)
		rc = 1
	}
	_ = os.Remove(base) // empty on the host: everything went to the namespace's tmpfs
	if diff := before.diff(snapshotHost()); diff != "" {
		fmt.Fprintf(os.Stderr, "FAIL: the node left the host changed:\n%s", diff)
		rc = 1
	} else {
		fmt.Println("node teardown: the host is as it was (mounts, interfaces, iptables, sysctls, cgroups, files, namespaces)")
	}
	return rc
}

// NeedNode skips a node test where the node cannot run (never under CI:
// NodeMain fails there first).
func NeedNode(t testing.TB) {
	if why := os.Getenv(envNodeSkip); why != "" {
		t.Skipf("no node here: %s", why)
	}
}

func nodePrerequisites() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("root (namespaces, mounts, containerd)")
	}
	var missing []string
	for _, p := range []string{"unshare", "containerd", "containerd-shim-runc-v2", "runc", "ctr", "ip", "iptables", "iptables-restore", "gcc", "musl-gcc", "dig", "getent", "ldd"} {
		if _, err := exec.LookPath(p); err != nil {
			missing = append(missing, p)
		}
	}
	for _, p := range []string{"/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"} {
		if _, err := os.Stat(p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s (apt-get install containerd runc containernetworking-plugins iptables musl-tools bind9-dnsutils)", strings.Join(missing, ", "))
	}
	return nil
}

// hostState is what the node could change on the host, read from outside.
type hostState map[string]string

// leftPaths are the paths kubelet, containerd and CNI write whatever their
// configured directories say: none may appear on the host.
var leftPaths = []string{"/var/lib/kubelet", "/var/lib/cni", "/var/log/containers", "/var/log/pods", "/run/containerd",
	"/run/netns", "/var/lib/containerd", "/etc/cni", "/opt/cni", "/etc/kubernetes", "/var/lib/kube-proxy"}

func snapshotHost() hostState {
	s := hostState{}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	var mounts []string
	for _, l := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(l); len(f) > 4 {
			mounts = append(mounts, f[4])
		}
	}
	sort.Strings(mounts)
	s["mounts"] = strings.Join(mounts, "\n")
	links, _ := exec.Command("ip", "-o", "link", "show").Output()
	var names []string
	for _, l := range strings.Split(string(links), "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			names = append(names, strings.TrimSuffix(f[1], ":"))
		}
	}
	s["interfaces"] = strings.Join(names, " ")
	ipt, err := exec.Command("iptables-save").Output()
	s["iptables"] = stripCounters(string(ipt)) + fmt.Sprint(err)
	for _, k := range append(kubeletSysctls, "net/ipv4/ip_forward", "net/ipv4/conf/all/route_localnet", "net/bridge/bridge-nf-call-iptables") {
		b, err := os.ReadFile("/proc/sys/" + k)
		s["sysctl "+k] = strings.TrimSpace(string(b)) + errText(err)
	}
	for _, p := range leftPaths {
		_, err := os.Lstat(p)
		s["file "+p] = errText(err)
	}
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		ents, _ := os.ReadDir(h)
		var dirs []string
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			}
		}
		s["cgroups "+h] = strings.Join(dirs, " ")
	}
	s["namespaces"] = namespacesInUse()
	return s
}

// namespacesInUse lists the network and PID namespaces of every process:
// one left by the node (a pod's, or its own) would show here.
func namespacesInUse() string {
	seen := map[string]bool{}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns")
	for _, p := range procs {
		for _, n := range []string{"net", "pid"} {
			if l, err := os.Readlink(filepath.Join(p, n)); err == nil {
				seen[l] = true
			}
		}
	}
	var out []string
	for l := range seen {
		out = append(out, l)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func stripCounters(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if i := strings.Index(l, " ["); strings.HasPrefix(l, ":") && i > 0 {
			l = l[:i]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func errText(err error) string {
	if err != nil {
		if os.IsNotExist(err) {
			return "(absent)"
		}
		return "(" + err.Error() + ")"
	}
	return ""
}

func (s hostState) diff(after hostState) string {
	var b strings.Builder
	var keys []string
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if s[k] != after[k] {
			fmt.Fprintf(&b, "  %s:\n    before: %.300s\n    after:  %.300s\n", k, s[k], after[k])
		}
	}
	return b.String()
}

// cgroupRootOf is kubelet's cgroupRoot for a node: its own, under every
// hierarchy, removed at teardown.
func cgroupRootOf(base string) string { return "/headless-" + filepath.Base(base) }

// removeCgroups removes root and everything below it in every cgroup
// hierarchy, deepest first, and returns what could not be removed.
func removeCgroups(root string) []string {
	var left []string
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		top := filepath.Join(h, root)
		if _, err := os.Stat(top); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil {
				left = append(left, dirs[i]+": "+err.Error())
			}
		}
	}
	return left
}
