package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDeployedAsUsersDo: deploy/ as the cluster DNS. Two pods of our image
// Ready behind the kube-dns ClusterIP; CoreDNS runs as 65532 with only
// NET_BIND_SERVICE, reaches the API through the kubernetes Service with
// its projected token (in-cluster config: it answers from API objects and
// logs no error), and answers through the ClusterIP.
func TestDeployedAsUsersDo(t *testing.T) {
	n := clusterDNS(t)
	pods, err := n.Client.CoreV1().Pods("kube-system").List(bg, meta.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 2 {
		t.Fatalf("%d CoreDNS pods:\n%s", len(pods.Items), podReport(n, "kube-system"))
	}
	for _, p := range pods.Items {
		if !podReady(&p) || p.Spec.NodeName != testbed.NodeName {
			t.Errorf("%s: ready %v on %q", p.Name, podReady(&p), p.Spec.NodeName)
		}
		if p.Spec.ServiceAccountName != "coredns" || !hasProjectedToken(p.Spec.Volumes) {
			t.Errorf("%s: service account %q, projected token %v", p.Name, p.Spec.ServiceAccountName, hasProjectedToken(p.Spec.Volumes))
		}
		logs, err := n.Client.CoreV1().Pods("kube-system").GetLogs(p.Name, &core.PodLogOptions{}).DoRaw(bg)
		if err != nil {
			t.Fatalf("logs of %s: %v", p.Name, err)
		}
		// errors are allowed only from forward, whose upstream (kubelet's
		// resolvConf) is unreachable by design: nothing leaves the namespace
		for _, l := range strings.Split(string(logs), "\n") {
			if (strings.Contains(l, "[ERROR]") && !strings.Contains(l, testbed.NoResolver+":53")) || strings.Contains(l, "forbidden") ||
				strings.Contains(l, "Unauthorized") || strings.Contains(l, "x509") {
				t.Errorf("%s logged: %s", p.Name, l)
			}
		}
		if !strings.Contains(string(logs), "CoreDNS-") {
			t.Errorf("%s logged no start-up banner:\n%s", p.Name, logs)
		}
	}
	procs := corednsProcesses(t)
	if len(procs) != 2 {
		t.Fatalf("%d coredns processes on the node, want 2", len(procs))
	}
	for pid, status := range procs {
		if !strings.Contains(status, "\nUid:\t65532\t65532\t65532\t65532\n") {
			t.Errorf("coredns %d does not run as 65532:\n%s", pid, grepLines(status, "Uid:"))
		}
		// cap_net_bind_service (bit 10) and nothing else
		if !strings.Contains(status, "\nCapEff:\t0000000000000400\n") {
			t.Errorf("coredns %d capabilities: %s", pid, grepLines(status, "Cap"))
		}
	}
	// the kubernetes Service's ClusterIP, answered by the stock plugin
	// beside ours from the Service watch that works only with in-cluster config
	r := ask(t, "kubernetes.default.svc.cluster.local", dns.TypeA)
	if rc, rrs := testbed.Answers(r); rc != "NOERROR" || len(rrs) != 1 || !strings.HasSuffix(rrs[0], testbed.ServiceIPKubernetes) {
		t.Errorf("kubernetes.default: %s %v", rc, rrs)
	}
}

func hasProjectedToken(vols []core.Volume) bool {
	for _, v := range vols {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					return true
				}
			}
		}
	}
	return false
}

// corednsProcesses reads /proc/PID/status of every coredns process: the
// node shares the test's PID namespace.
func corednsProcesses(t *testing.T) map[int]string {
	t.Helper()
	out := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		comm, err := os.ReadFile(filepath.Join(d, "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "coredns" {
			continue
		}
		st, err := os.ReadFile(filepath.Join(d, "status"))
		if err != nil {
			continue
		}
		var pid int
		fmt.Sscanf(filepath.Base(d), "%d", &pid)
		out[pid] = string(st)
	}
	return out
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "; ")
}
