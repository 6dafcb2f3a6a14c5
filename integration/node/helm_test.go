package node

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// helmIP is the ClusterIP of the chart's Service: it runs beside deploy/'s.
const helmIP = "10.96.0.11"

// TestHelmChart: the official chart (deploy/helm/chart) rendered by helm
// with deploy/helm/values.yaml, applied beside deploy/'s release: its pods
// Ready on the node (probes, in-cluster config with the chart's RBAC), and
// its Service answering the StatefulSet's names, asked from a pod.
func TestHelmChart(t *testing.T) {
	helm := testbed.Helm(t)
	n, ips := webSet(t)
	root := testbed.ModuleRoot()
	out, err := exec.Command(helm, "template", "helm-dns", filepath.Join(root, "deploy", "helm", "chart"), "--namespace", "kube-system",
		"-f", filepath.Join(root, "deploy", "helm", "values.yaml"), "--set", "service.clusterIP="+helmIP).Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	objs := testbed.DecodeYAML(out)
	var deployment string
	for _, u := range objs {
		if u.GetNamespace() == "" && u.GetKind() != "ClusterRole" && u.GetKind() != "ClusterRoleBinding" {
			u.SetNamespace("kube-system")
		}
		if u.GetKind() == "Deployment" {
			pinToNode(u, testbed.ImageCoreDNS)
			deployment = u.GetName()
		}
	}
	if deployment == "" {
		t.Fatalf("no Deployment in the chart's output:\n%s", out)
	}
	start := time.Now()
	if err := apply(n, objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := remove(n, objs); err != nil {
			t.Errorf("removing the chart's objects: %v", err)
		}
	})
	d, err := n.Client.AppsV1().Deployments("kube-system").Get(bg, deployment, meta.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := *d.Spec.Replicas
	if err := waitDeployment(n, "kube-system", deployment, want, 120*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("chart rendered by helm: %d pods Ready in %s", want, time.Since(start).Round(100*time.Millisecond))
	r, err := testbed.Exchange(helmIP+":53", "web-1.web.app.svc.cluster.local", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if rc, rrs := testbed.Answers(r); rc != "NOERROR" || len(rrs) != 1 || !strings.HasSuffix(rrs[0], ips["web-1"]) {
		t.Errorf("web-1.web from the chart's Service: %s %v", rc, rrs)
	}
	out2, rc := n.Exec(t, "app", "web-0", "glibc", "/usr/bin/dig", "@"+helmIP, "+short", "web.app.svc.cluster.local")
	if got := strings.Fields(out2); rc != 0 || len(got) != 3 {
		t.Errorf("dig @%s web.app from web-0: rc %d\n%s", helmIP, rc, out2)
	}
}
