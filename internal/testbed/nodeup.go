package testbed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Node is one real Kubernetes node in the test's namespaces: the control
// plane, containerd (runc, the bridge CNI), kubelet and kube-proxy in
// iptables mode, with the images of BuildImages imported.
type Node struct {
	*Cluster
	Base     string // the namespace's tmpfs: every file the node writes
	Sock     string // containerd's socket
	Kubelet  *Proc
	Proxy    *Proc
	Contd    *Proc
	Started  time.Duration // from nothing to a Ready node with kube-proxy's rules
	execSeq  int
	execLock sync.Mutex
}

var shared struct {
	once sync.Once
	node *Node
	err  string
	tb   *nodeTB
}

// SharedNode starts the node on first use and returns it; every test of
// the package shares it, and NodeMain stops it after the last.
func SharedNode(t *testing.T) *Node {
	t.Helper()
	NeedNode(t)
	if os.Getenv(envNodeBase) == "" {
		t.Fatal("SharedNode outside NodeMain's namespace: the package's TestMain must call testbed.NodeMain")
	}
	shared.once.Do(func() {
		shared.tb = &nodeTB{base: os.Getenv(envNodeBase)}
		defer func() {
			if r := recover(); r != nil {
				if f, ok := r.(nodeFatal); ok {
					shared.err = string(f)
					return
				}
				panic(r)
			}
		}()
		shared.node = startNode(shared.tb)
	})
	if shared.err != "" {
		t.Fatalf("the node did not start: %s", shared.err)
	}
	return shared.node
}

func startNode(t *nodeTB) *Node {
	start := time.Now()
	base := t.base
	c := StartClusterWith(t, ClusterOptions{ServiceAccounts: true,
		APIServerArgs: []string{"--bind-address=0.0.0.0", "--advertise-address=" + NodeIP, "--endpoint-reconciler-type=lease",
			"--kubelet-preferred-address-types=InternalIP", "--service-cluster-ip-range=" + ServiceCIDR},
		Controllers: []string{"statefulset", "deployment", "replicaset", "serviceaccount", "serviceaccount-token", "root-ca-cert-publisher"}})
	n := &Node{Cluster: c, Base: base, Sock: filepath.Join(base, "containerd", "containerd.sock")}
	images := BuildImages(t, filepath.Join(base, "images"))
	n.startContainerd(t)
	for _, img := range images {
		n.ctr(t, "images", "import", img)
	}
	n.startKubelet(t)
	n.startKubeProxy(t)
	n.Started = time.Since(start)
	t.Logf("node %s Ready with kube-proxy's rules %s after start (control plane, images, containerd, kubelet)", NodeName, n.Started.Round(100*time.Millisecond))
	return n
}

func (n *Node) startContainerd(t TB) {
	dir := filepath.Join(n.Base, "containerd")
	must(t, os.MkdirAll(filepath.Join(n.Base, "cni", "net.d"), 0o755))
	write(t, filepath.Join(n.Base, "cni", "net.d", "10-bridge.conflist"), fmt.Sprintf(`{
  "cniVersion": "1.0.0", "name": "headless-node",
  "plugins": [{"type": "bridge", "bridge": "cni0", "isGateway": true, "isDefaultGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {"type": "host-local", "dataDir": %q, "ranges": [[{"subnet": %q, "gateway": %q}]]}}]
}`, filepath.Join(n.Base, "cni", "ipam"), PodCIDR, NodeIP))
	cfg := filepath.Join(dir, "config.toml")
	must(t, os.MkdirAll(dir, 0o755))
	write(t, cfg, fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = %[3]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[4]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[5]q
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), n.Sock, filepath.Join(dir, "opt"), ImagePause, filepath.Join(n.Base, "cni", "net.d")))
	n.Contd = Start(t, "containerd", dir, "--config", cfg)
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command("ctr", "-a", n.Sock, "version").Run() != nil {
		if time.Now().After(deadline) || n.Contd.Exited() {
			t.Fatalf("containerd not up:\n%s", tail(n.Contd.Log()))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (n *Node) startKubelet(t TB) {
	dir := filepath.Join(n.Base, "kubelet")
	must(t, os.MkdirAll(dir, 0o755))
	root := cgroupRootOf(n.Base)
	makeCgroupRoot(t, root)
	t.Cleanup(func() {
		if left := removeCgroups(root); len(left) > 0 {
			t.Logf("cgroups not removed: %v", left)
		}
	})
	cfg := filepath.Join(dir, "config.yaml")
	write(t, cfg, fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: %s
oomScoreAdj: 0
makeIPTablesUtilChains: false
failSwapOn: false
protectKernelDefaults: false
resolvConf: %s
clusterDNS: [%q]
clusterDomain: cluster.local
containerRuntimeEndpoint: unix://%s
podLogsDir: %s
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}
authorization: {mode: AlwaysAllow}
evictionHard: {"memory.available": "1Mi", "nodefs.available": "1%%", "imagefs.available": "1%%", "nodefs.inodesFree": "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
serializeImagePulls: false
`, root, filepath.Join(n.Base, "etc", "resolv.conf"), ClusterDNSIP, n.Sock, filepath.Join(n.Base, "pod-logs")))
	n.Kubelet = Start(t, filepath.Join(n.bin, "kubelet"), dir, "--config="+cfg, "--kubeconfig="+n.Kubeconfig(UserAdmin),
		"--hostname-override="+NodeName, "--node-ip="+NodeIP, "--root-dir="+dir, "--cert-dir="+filepath.Join(dir, "pki"), "--v=1")
	Eventually(t, 90*time.Second, "node Ready", func() error {
		if n.Kubelet.Exited() {
			t.Fatalf("kubelet exited:\n%s", tail(n.Kubelet.Log()))
		}
		node, err := n.Client.CoreV1().Nodes().Get(context.Background(), NodeName, meta.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range node.Status.Conditions {
			if c.Type == core.NodeReady && c.Status == core.ConditionTrue {
				return nil
			}
		}
		return fmt.Errorf("not Ready: %v", node.Status.Conditions)
	})
}

func (n *Node) startKubeProxy(t TB) {
	dir := filepath.Join(n.Base, "kube-proxy")
	must(t, os.MkdirAll(dir, 0o755))
	cfg := filepath.Join(dir, "config.yaml")
	write(t, cfg, fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %s}
mode: iptables
clusterCIDR: %s
hostnameOverride: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
iptables: {masqueradeAll: true, localhostNodePorts: false, syncPeriod: 5s, minSyncPeriod: 0s}
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
`, n.Kubeconfig(UserAdmin), PodCIDR, NodeName))
	n.Proxy = Start(t, filepath.Join(n.bin, "kube-proxy"), dir, "--config="+cfg, "--v=1")
	Eventually(t, 60*time.Second, "kube-proxy's rule for the kubernetes Service", func() error {
		if n.Proxy.Exited() {
			t.Fatalf("kube-proxy exited:\n%s", tail(n.Proxy.Log()))
		}
		b, _ := exec.Command("iptables-save", "-t", "nat").Output()
		if !bytes.Contains(b, []byte(ServiceIPKubernetes+"/32")) {
			return fmt.Errorf("no rule for %s yet", ServiceIPKubernetes)
		}
		return nil
	})
}

// makeCgroupRoot creates kubelet's cgroupRoot in every hierarchy (kubelet
// requires it), with cpuset's cpus and mems copied from the top.
func makeCgroupRoot(t TB, root string) {
	hier, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, h := range hier {
		d := filepath.Join(h, root)
		must(t, os.MkdirAll(d, 0o755))
		if filepath.Base(h) == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(h, f))
				must(t, err)
				must(t, os.WriteFile(filepath.Join(d, f), b, 0o644))
			}
		}
	}
}

func (n *Node) ctr(t TB, args ...string) string {
	t.Helper()
	out, err := n.ctrRun(args...)
	if err != nil {
		t.Fatalf("ctr %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// ctrRun runs ctr against the node's containerd, in kubelet's namespace.
func (n *Node) ctrRun(args ...string) (string, error) {
	b, err := exec.Command("ctr", append([]string{"-a", n.Sock, "-n", "k8s.io"}, args...)...).CombinedOutput()
	return string(b), err
}

// Exec runs a command in a running container of a pod (as kubectl exec
// would, through containerd) and returns its output and exit code.
func (n *Node) Exec(t testing.TB, ns, pod, container string, args ...string) (string, int) {
	t.Helper()
	id := n.containerID(t, ns, pod, container)
	n.execLock.Lock()
	n.execSeq++
	execID := fmt.Sprintf("t%d", n.execSeq)
	n.execLock.Unlock()
	out, err := n.ctrRun(append([]string{"tasks", "exec", "--exec-id", execID, id}, args...)...)
	if ee, ok := err.(*exec.ExitError); ok {
		return out, ee.ExitCode()
	}
	if err != nil {
		t.Fatalf("exec in %s/%s[%s]: %v\n%s", ns, pod, container, err, out)
	}
	return out, 0
}

func (n *Node) containerID(t testing.TB, ns, pod, container string) string {
	t.Helper()
	p, err := n.Client.CoreV1().Pods(ns).Get(context.Background(), pod, meta.GetOptions{})
	if err != nil {
		t.Fatalf("pod %s/%s: %v", ns, pod, err)
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container && s.ContainerID != "" {
			return strings.TrimPrefix(s.ContainerID, "containerd://")
		}
	}
	t.Fatalf("pod %s/%s has no running container %s", ns, pod, container)
	return ""
}

// stopSharedNode stops the node, if one started: every pod's containers
// through containerd, then kubelet, kube-proxy, containerd and the control
// plane (each by its PID), then its cgroups. It returns what went wrong.
func stopSharedNode() []string {
	if shared.tb == nil {
		return nil
	}
	var problems []string
	if n := shared.node; n != nil {
		if n.Kubelet != nil {
			n.Kubelet.Stop()
		}
		problems = append(problems, n.removeContainers()...)
	}
	problems = append(problems, shared.tb.runCleanups()...)
	reapZombies()
	return problems
}

// removeContainers kills and deletes every container containerd runs (the
// pods' and their sandboxes), so each shim exits.
func (n *Node) removeContainers() []string {
	var problems []string
	ctr := n.ctrRun
	out, err := ctr("containers", "list", "-q")
	if err != nil {
		return []string{"ctr containers list: " + err.Error() + ": " + out}
	}
	ids := strings.Fields(out)
	for _, id := range ids {
		_, _ = ctr("tasks", "kill", "-s", "SIGKILL", id)
	}
	for _, id := range ids {
		deadline := time.Now().Add(10 * time.Second)
		for {
			if o, err := ctr("tasks", "delete", "-f", id); err == nil || strings.Contains(o, "not found") {
				break
			} else if time.Now().After(deadline) {
				problems = append(problems, "task "+id+": "+o)
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		if o, err := ctr("containers", "delete", id); err != nil {
			problems = append(problems, "container "+id+": "+o)
		}
	}
	return problems
}

// reapZombies collects exited children re-parented to this process (PID 1
// of the namespace): containerd's shims among them.
func reapZombies() {
	for {
		var ws syscall.WaitStatus
		if pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil); pid <= 0 || err != nil {
			return
		}
	}
}

func tail(s string) string {
	if len(s) > 6000 {
		return "...\n" + s[len(s)-6000:]
	}
	return s
}
