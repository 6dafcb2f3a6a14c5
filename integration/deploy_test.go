package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	rbac "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/restmapper"
)

func deployObjects(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	if files, _ := filepath.Glob(filepath.Join(testbed.ModuleRoot(), "deploy", "*.yaml")); len(files) < 4 {
		t.Fatalf("deploy/ has %d manifests", len(files))
	}
	objs, err := testbed.DecodeFiles(filepath.Join(testbed.ModuleRoot(), "deploy"), "*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestDeployLeastPrivilege: deploy/ applies cleanly (server-side dry-run), and
// its ClusterRole is both sufficient and minimal for headless + kubernetes{noendpoints}.
func TestDeployLeastPrivilege(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	rc := c.RestConfig(testbed.UserAdmin)
	dyn := dynamic.NewForConfigOrDie(rc)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(c.Client.Discovery()))
	var role, topoRole *rbac.ClusterRole
	for _, u := range deployObjects(t) {
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			t.Fatalf("%s: %v", u.GetKind(), err)
		}
		ri := dyn.Resource(m.Resource).Namespace(u.GetNamespace())
		if _, err := ri.Apply(bg, u.GetName(), u, meta.ApplyOptions{FieldManager: "headless-test", DryRun: []string{meta.DryRunAll}, Force: true}); err != nil {
			t.Errorf("server-side dry-run apply %s/%s: %v", u.GetKind(), u.GetName(), err)
		}
		if u.GetKind() == "ClusterRole" {
			r := &rbac.ClusterRole{}
			if err := scheme.Scheme.Convert(u, r, nil); err != nil {
				t.Fatal(err)
			}
			switch r.Name {
			case "system:coredns-headless":
				role = r
			case "system:coredns-headless-topology":
				topoRole = r
			}
		}
	}
	if role == nil || len(role.Rules) == 0 || topoRole == nil {
		t.Fatal("no ClusterRole system:coredns-headless and system:coredns-headless-topology in deploy/")
	}
	// the role for real, bound to a user with no other permission
	grant(t, c, role.DeepCopy(), "headless-dns-user")
	c.Namespace(t, "app")
	c.Service(t, "app", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80))
	c.Service(t, "app", "api", "", map[string]string{"app": "api"}, false, testbed.ServicePort("http", 80))
	c.Pod(t, testbed.PodSpec{Namespace: "app", Name: "web-0", Node: "node-a", Labels: map[string]string{"app": "web"},
		Hostname: "web-0", Subdomain: "web", IPs: []string{"10.244.1.10"}, Ready: true})
	kc := c.Kubeconfig(testbed.UserDNS)

	t.Run("Sufficient", func(t *testing.T) {
		d := startOurs(t, kc, "")
		expect(t, d.Addr, "web-0.web.app"+zone, dns.TypeA, "NOERROR A 10.244.1.10")
		svc, _ := c.Client.CoreV1().Services("app").Get(bg, "api", meta.GetOptions{})
		expect(t, d.Addr, "api.app"+zone, dns.TypeA, "NOERROR A "+svc.Spec.ClusterIP)
		if s := httpStatus(d.ready); s != http.StatusOK {
			t.Errorf("ready %d", s)
		}
		if strings.Contains(d.Log(), "forbidden") {
			t.Errorf("forbidden in log with the full role:\n%s", d.Log())
		}
	})

	// explain learns of the ClusterIP Service it does not watch with the
	// same role: no rule is added for it
	t.Run("Explain", func(t *testing.T) {
		d := startOursWith(t, kc, "cache 30", "explain\n        startup_timeout 10s")
		expectEDE(t, d.Addr, "x.api.app"+zone, dns.TypeA, "headless: x.api.app: Service api has cluster IP ")
		if strings.Contains(d.Log(), "forbidden") {
			t.Errorf("forbidden in log with explain:\n%s", d.Log())
		}
	})

	t.Run("Topology", func(t *testing.T) { testTopologyRole(t, c, kc, topoRole) })

	for i, r := range role.Rules {
		t.Run(fmt.Sprintf("Without%s", strings.Join(r.Resources, "+")), func(t *testing.T) {
			cut := role.DeepCopy()
			cut.Rules = append(cut.Rules[:i:i], cut.Rules[i+1:]...)
			cur, err := c.Client.RbacV1().ClusterRoles().Get(bg, role.Name, meta.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cur.Rules = cut.Rules
			if _, err := c.Client.RbacV1().ClusterRoles().Update(bg, cur, meta.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			defer func() {
				cur, _ := c.Client.RbacV1().ClusterRoles().Get(bg, role.Name, meta.GetOptions{})
				cur.Rules = role.Rules
				if _, err := c.Client.RbacV1().ClusterRoles().Update(bg, cur, meta.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}()
			// the authorizer's cache follows RBAC objects by watch: poll until it denies
			dnsUser := kubernetes.NewForConfigOrDie(c.RestConfig(testbed.UserDNS))
			eventually(t, 20*time.Second, "RBAC cut in force", func() error {
				var err error
				if r.Resources[0] == "services" {
					_, err = dnsUser.CoreV1().Services("").List(bg, meta.ListOptions{Limit: 1})
				} else if r.Resources[0] == "endpointslices" {
					_, err = dnsUser.DiscoveryV1().EndpointSlices("").List(bg, meta.ListOptions{Limit: 1})
				} else {
					_, err = dnsUser.CoreV1().Namespaces().List(bg, meta.ListOptions{Limit: 1})
				}
				if !apierrors.IsForbidden(err) {
					return fmt.Errorf("list %v: %v", r.Resources, err)
				}
				return nil
			})
			d := startOursWith(t, kc, "", "startup_timeout 2s")
			want := fmt.Sprintf(`cannot list resource "%s"`, r.Resources[0])
			eventually(t, 20*time.Second, "forbidden log line", func() error {
				if !strings.Contains(d.Log(), want) {
					return fmt.Errorf("no %q yet", want)
				}
				return nil
			})
			if s := httpStatus(d.ready); s == http.StatusOK {
				t.Errorf("ready without the %v rule", r.Resources)
			}
			if r.Resources[0] == "endpointslices" {
				// Only our slice watch fails: the Service watch still tells
				// which names are ours. The ClusterIP name is answered by
				// kubernetes; the headless one is SERVFAIL, never NXDOMAIN.
				svc, _ := c.Client.CoreV1().Services("app").Get(bg, "api", meta.GetOptions{})
				expect(t, d.Addr, "api.app"+zone, dns.TypeA, "NOERROR A "+svc.Spec.ClusterIP)
				expect(t, d.Addr, "web-0.web.app"+zone, dns.TypeA, "SERVFAIL")
				expect(t, d.Addr, "web.app"+zone, dns.TypeSRV, "SERVFAIL")
				if v := metric(t, d.metrics, "coredns_headless_synced"); v != 0 {
					t.Errorf("coredns_headless_synced %v without endpoint slices", v)
				}
			}
			for _, line := range strings.Split(d.Log(), "\n") {
				if strings.Contains(line, want) {
					t.Logf("log line: %.220s", line)
					break
				}
			}
		})
	}
}

// testTopologyRole: with topology, the optional role's nodes rule is what
// locates clients by their Node; without it CoreDNS is still ready and
// answers (in stock order for clients only the Nodes would place).
func testTopologyRole(t *testing.T, c *testbed.Cluster, kc string, topoRole *rbac.ClusterRole) {
	c.NodeWith(t, "node-t", "zone-t", "127.0.30.0/24")
	for i := 0; i < 2; i++ {
		node := []string{"node-a", "node-t"}[i]
		c.Pod(t, testbed.PodSpec{Namespace: "app", Name: fmt.Sprintf("near-%d", i), Node: node, Labels: map[string]string{"app": "near"},
			IPs: []string{fmt.Sprintf("10.244.2.%d", 10+i)}, Ready: true})
	}
	td := core.ServiceTrafficDistributionPreferSameZone
	sv := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: "near"}, Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone,
		Selector: map[string]string{"app": "near"}, Ports: []core.ServicePort{testbed.ServicePort("http", 80)}, TrafficDistribution: &td}}
	if _, err := c.Client.CoreV1().Services("app").Create(bg, sv, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	near := "near.app" + zone
	firstFrom := func(d *dut) string {
		return addrs(exchangeFrom(t, "127.0.30.7", d.Addr, near, dns.TypeA, false, 1232))[0]
	}
	t.Run("WithoutNodesRule", func(t *testing.T) {
		d := startOursWith(t, kc, "", "topology\n        startup_timeout 2s")
		expect(t, d.Addr, near, dns.TypeA, "NOERROR A 10.244.2.10 | A 10.244.2.11")
		eventually(t, 20*time.Second, "forbidden log line", func() error {
			if !strings.Contains(d.Log(), `cannot list resource "nodes"`) {
				return fmt.Errorf("no forbidden line for nodes yet")
			}
			return nil
		})
		if s := httpStatus(d.ready); s != http.StatusOK {
			t.Errorf("ready %d without the nodes rule: the Node watch must not hold readiness", s)
		}
		if v := metric(t, d.metrics, `coredns_headless_watch_up`); v != 3 {
			t.Errorf("watch_up sum %v, want 3 (all but nodes)", v)
		}
		// stock order is the slice's: the controller may list the two pods either way
		sl, err := c.Client.DiscoveryV1().EndpointSlices("app").List(bg, meta.ListOptions{LabelSelector: "kubernetes.io/service-name=near"})
		if err != nil || len(sl.Items) != 1 || len(sl.Items[0].Endpoints) != 2 {
			t.Fatalf("near's slices: %v %v", sl, err)
		}
		if got, want := firstFrom(d), sl.Items[0].Endpoints[0].Addresses[0]; got != want {
			t.Errorf("from a node-t pod without the Node watch: first %s, want stock order (%s first)", got, want)
		}
	})
	t.Run("WithNodesRule", func(t *testing.T) {
		r := topoRole.DeepCopy()
		grant(t, c, r, "headless-dns-user-topology")
		defer func() {
			_ = c.Client.RbacV1().ClusterRoleBindings().Delete(bg, "headless-dns-user-topology", meta.DeleteOptions{})
			_ = c.Client.RbacV1().ClusterRoles().Delete(bg, r.Name, meta.DeleteOptions{})
		}()
		d := startOursWith(t, kc, "", "topology")
		eventually(t, 20*time.Second, "node-t's pods get zone-t first", func() error {
			if got := firstFrom(d); got != "10.244.2.11" {
				return fmt.Errorf("first %s", got)
			}
			return nil
		})
		if strings.Contains(d.Log(), "forbidden") {
			t.Errorf("forbidden in log with the topology role:\n%s", d.Log())
		}
	})
}

// grant creates role and binds it, as binding, to the DNS user.
func grant(t *testing.T, c *testbed.Cluster, role *rbac.ClusterRole, binding string) {
	t.Helper()
	role.ResourceVersion = ""
	if _, err := c.Client.RbacV1().ClusterRoles().Create(bg, role, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := &rbac.ClusterRoleBinding{ObjectMeta: meta.ObjectMeta{Name: binding},
		RoleRef:  rbac.RoleRef{APIGroup: rbac.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbac.Subject{{Kind: rbac.UserKind, APIGroup: rbac.GroupName, Name: testbed.UserDNS}}}
	if _, err := c.Client.RbacV1().ClusterRoleBindings().Create(bg, b, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}
