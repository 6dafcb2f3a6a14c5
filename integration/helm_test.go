package integration

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	apps "k8s.io/api/apps/v1"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// TestHelmValues renders deploy/helm/values.yaml with the official chart
// (deploy/helm/chart) by helm template, checks the Deployment (our image,
// the memory sized from BENCHMARKS.md, the chart's security context), and
// runs the rendered Corefile, with a kubeconfig injected and its addresses
// moved to loopback, against the real control plane: it answers a
// StatefulSet member's name.
func TestHelmValues(t *testing.T) {
	helm := testbed.Helm(t)
	root := testbed.ModuleRoot()
	out, err := exec.Command(helm, "template", "coredns", filepath.Join(root, "deploy", "helm", "chart"), "--namespace", "kube-system",
		"-f", filepath.Join(root, "deploy", "helm", "values.yaml")).CombinedOutput()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, out)
	}
	var corefile string
	var dep *apps.Deployment
	var roles []string
	for _, doc := range strings.Split(string(out), "\n---\n") {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered YAML: %v\n%s", err, doc)
		}
		switch head.Kind {
		case "ConfigMap":
			var cm core.ConfigMap
			if err := yaml.Unmarshal([]byte(doc), &cm); err != nil {
				t.Fatal(err)
			}
			corefile = cm.Data["Corefile"]
		case "Deployment":
			dep = &apps.Deployment{}
			if err := yaml.Unmarshal([]byte(doc), dep); err != nil {
				t.Fatal(err)
			}
		case "ClusterRole":
			roles = append(roles, doc)
		}
	}
	if corefile == "" || dep == nil || len(roles) != 1 {
		t.Fatalf("rendered: Corefile %q, Deployment %v, %d ClusterRoles", corefile, dep != nil, len(roles))
	}
	ctr := dep.Spec.Template.Spec.Containers[0]
	if !strings.Contains(ctr.Image, "coredns-headless") {
		t.Errorf("image %s", ctr.Image)
	}
	if lim := ctr.Resources.Limits.Memory().Value(); lim < 384<<20 {
		t.Errorf("memory limit %d bytes, below the 384Mi BENCHMARKS.md sizes", lim)
	}
	if sc := ctr.SecurityContext; sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		len(sc.Capabilities.Add) != 1 || sc.Capabilities.Add[0] != "NET_BIND_SERVICE" {
		t.Errorf("security context %+v", sc)
	}
	for _, r := range []string{"services", "endpointslices", "namespaces"} {
		if !strings.Contains(roles[0], "- "+r) {
			t.Errorf("the chart's ClusterRole lacks %s:\n%s", r, roles[0])
		}
	}
	for _, want := range []string{"headless cluster.local in-addr.arpa ip6.arpa {", "noendpoints", "cache 30", "loadbalance", "forward . /etc/resolv.conf"} {
		if !strings.Contains(corefile, want) {
			t.Errorf("rendered Corefile lacks %q:\n%s", want, corefile)
		}
	}

	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Namespace(t, "app")
	c.Service(t, "app", "db", core.ClusterIPNone, map[string]string{"app": "db"}, false, testbed.ServicePort("pg", 5432))
	c.Pod(t, testbed.PodSpec{Namespace: "app", Name: "db-0", Node: "node-a", Labels: map[string]string{"app": "db"},
		Hostname: "db-0", Subdomain: "db", IPs: []string{"10.244.1.10"}, Ready: true})
	// the member in its slice before CoreDNS starts: the chart's cache 30
	// would keep an NXDOMAIN asked before it (the SOA's MINIMUM is ttl 30)
	eventually(t, 60*time.Second, "db-0 in its EndpointSlice", func() error {
		l, err := c.Client.DiscoveryV1().EndpointSlices("app").List(bg, meta.ListOptions{LabelSelector: discovery.LabelServiceName + "=db"})
		if err != nil {
			return err
		}
		for _, sl := range l.Items {
			for _, e := range sl.Endpoints {
				if len(e.Addresses) == 1 && e.Addresses[0] == "10.244.1.10" && (e.Conditions.Ready == nil || *e.Conditions.Ready) {
					return nil
				}
			}
		}
		return fmt.Errorf("not yet")
	})
	// loopback only, and the kubeconfig an in-cluster pod would not need
	hp, rp, mp := testbed.FreePort(t), testbed.FreePort(t), testbed.FreePort(t)
	cf := strings.NewReplacer(
		".:53 {", ".:{PORT} {\n    bind 127.0.0.1",
		"health {", fmt.Sprintf("health 127.0.0.1:%d {", hp),
		"prometheus 0.0.0.0:9153", fmt.Sprintf("prometheus 127.0.0.1:%d", mp),
		"headless cluster.local in-addr.arpa ip6.arpa {", "headless cluster.local in-addr.arpa ip6.arpa {\n        kubeconfig "+c.Admin,
		"kubernetes cluster.local in-addr.arpa ip6.arpa {", "kubernetes cluster.local in-addr.arpa ip6.arpa {\n        kubeconfig "+c.Admin,
	).Replace(corefile)
	cf = strings.Replace(cf, "\n    ready\n", fmt.Sprintf("\n    ready 127.0.0.1:%d\n", rp), 1)
	if !strings.Contains(cf, fmt.Sprintf("ready 127.0.0.1:%d", rp)) {
		t.Fatalf("ready not moved to loopback:\n%s", cf)
	}
	d := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), cf)
	expect(t, d.Addr, "db-0.db.app"+zone, dns.TypeA, "NOERROR A 10.244.1.10")
	expect(t, d.Addr, "db.app"+zone, dns.TypeSRV, "NOERROR SRV 0 100 5432 db-0.db.app"+zone+" || db-0.db.app"+zone+"\t30\tIN\tA\t10.244.1.10")
	t.Logf("the chart's Corefile with deploy/helm/values.yaml answers db-0.db.app through cache and loadbalance")
}
