package node

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	apps "k8s.io/api/apps/v1"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestBootstrapDeadlock: seeds (etcd, ZooKeeper, Cassandra) that are Ready
// only when every peer's name resolves. Stock publishes only Ready pods, so
// a StatefulSet (Parallel) of them waits for itself for ever; with
// headless.dns/publish-not-ready: hostnames each pod's own name is
// published before it is Ready, and the set comes up. Two sets side by
// side: one given the annotation alone, whose peers then wait for the
// NXDOMAINs cache 30 holds from before; one also given negative-ttl "1",
// whose cached NXDOMAINs the front step replaces at once.
func TestBootstrapDeadlock(t *testing.T) {
	n := clusterDNS(t)
	const ns = "bootstrap"
	namespace(t, n, ns)
	sets := map[string]string{ // StatefulSet -> annotations added after the window
		"seeds": `{"headless.dns/publish-not-ready":"hostnames"}`,
		"quick": `{"headless.dns/publish-not-ready":"hostnames","headless.dns/negative-ttl":"1"}`,
	}
	var all []string
	for name := range sets {
		headlessService(t, n, ns, name, map[string]string{"app": name}, nil)
		c := clientContainers("musl")
		c[0].ReadinessProbe = &core.Probe{ProbeHandler: core.ProbeHandler{Exec: &core.ExecAction{
			Command: []string{"/bin/dnsq", "addr", name + "-0." + name, name + "-1." + name, name + "-2." + name}}},
			PeriodSeconds: 1, TimeoutSeconds: 5, FailureThreshold: 1}
		if _, err := n.Client.AppsV1().StatefulSets(ns).Create(bg, statefulSet(name, 3, apps.ParallelPodManagement, c), meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		all = append(all, name+"-0", name+"-1", name+"-2")
	}
	waitPods(t, n, ns, all, false, 90*time.Second)
	const window = 20 * time.Second
	for end := time.Now().Add(window); time.Now().Before(end); time.Sleep(time.Second) {
		if r := readyOf(t, n, ns, all); r > 0 {
			t.Fatalf("%d seeds Ready without the annotation: the probe does not need its peers", r)
		}
	}
	t.Logf("without the annotation: 6 pods running, none Ready for %s (stock's deadlock)", window)

	start := time.Now()
	for name, anno := range sets {
		if _, err := n.Client.CoreV1().Services(ns).Patch(bg, name, types.MergePatchType, []byte(`{"metadata":{"annotations":`+anno+`}}`), meta.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	took, answered := map[string]time.Duration{}, map[string]time.Duration{}
	testbed.Eventually(t, 90*time.Second, "every seed Ready with publish-not-ready: hostnames", func() error {
		for name := range sets {
			if _, done := answered[name]; !done {
				// from a member, as its probe asks
				if _, rc := n.Exec(t, ns, name+"-0", "musl", "/bin/dnsq", "addr", name+"-2."+name); rc == 0 {
					answered[name] = time.Since(start)
				}
			}
			if _, done := took[name]; !done && readyOf(t, n, ns, []string{name + "-0", name + "-1", name + "-2"}) == 3 {
				took[name] = time.Since(start)
			}
		}
		if len(took) < len(sets) {
			return fmt.Errorf("ready: %v", took)
		}
		return nil
	})
	for name, anno := range sets {
		t.Logf("%s with %s: %s-2 resolved in %s-0 %s and all 3 Ready %s after the annotation", name, anno, name, name,
			answered[name].Round(100*time.Millisecond), took[name].Round(100*time.Millisecond))
	}
}

func readyOf(t *testing.T, n *testbed.Node, ns string, names []string) int {
	t.Helper()
	ready := 0
	for _, name := range names {
		p, err := n.Client.CoreV1().Pods(ns).Get(bg, name, meta.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if podReady(p) {
			ready++
		}
	}
	return ready
}

// TestGracefulTermination: a pod deleted with a preStop hook drains for its
// grace period. With headless.dns/publish: serving its name keeps resolving
// while it drains (serving, terminating); without, it is NXDOMAIN at once,
// as stock. Each name is asked first after the EndpointSlice shows the pod
// terminating, so no cache holds an earlier answer.
func TestGracefulTermination(t *testing.T) {
	n := clusterDNS(t)
	const ns = "drain"
	namespace(t, n, ns)
	grace := int64(60)
	for _, s := range []struct {
		svc  string
		anno map[string]string
	}{{"serving", map[string]string{"headless.dns/publish": "serving"}}, {"plain", nil}} {
		headlessService(t, n, ns, s.svc, map[string]string{"app": s.svc}, s.anno)
		c := clientContainers("musl")
		c[0].Lifecycle = &core.Lifecycle{PreStop: &core.LifecycleHandler{Exec: &core.ExecAction{Command: []string{"/bin/dnsq", "sleep", "40"}}}}
		if _, err := n.Client.CoreV1().Pods(ns).Create(bg, &core.Pod{ObjectMeta: meta.ObjectMeta{Name: s.svc + "-0", Labels: map[string]string{"app": s.svc}},
			Spec: core.PodSpec{NodeName: testbed.NodeName, Hostname: s.svc + "-0", Subdomain: s.svc, Containers: c, TerminationGracePeriodSeconds: &grace}}, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ips := waitPods(t, n, ns, []string{"serving-0", "plain-0"}, true, 90*time.Second)
	waitSlice(t, n, ns, "serving", func(e endpointState) bool { return e.ready })
	waitSlice(t, n, ns, "plain", func(e endpointState) bool { return e.ready })
	for _, p := range []string{"serving-0", "plain-0"} {
		if err := n.Client.CoreV1().Pods(ns).Delete(bg, p, meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deleted := time.Now()
	for _, c := range []struct{ svc, want string }{
		{"serving", "NOERROR A " + ips["serving-0"]},
		{"plain", "NXDOMAIN"},
	} {
		waitSlice(t, n, ns, c.svc, func(e endpointState) bool { return e.terminating })
		name := c.svc + "-0." + c.svc + "." + ns + ".svc.cluster.local"
		r := ask(t, name, dns.TypeA)
		rc, rrs := testbed.Answers(r)
		got := strings.TrimSpace(rc + " " + strings.Join(rrs, " "))
		if c.want != "NXDOMAIN" && len(rrs) == 1 {
			got = "NOERROR A " + testbed.AddrsOf(r.Answer)[0]
		}
		p, err := n.Client.CoreV1().Pods(ns).Get(bg, c.svc+"-0", meta.GetOptions{})
		if err != nil || p.DeletionTimestamp == nil {
			t.Fatalf("%s-0 no longer draining when asked (%v): the check proves nothing", c.svc, err)
		}
		if got != c.want {
			t.Errorf("%s while its pod drains: %s, want %s", name, got, c.want)
		}
		t.Logf("%s, %s after the delete, pod still terminating: %s", name, time.Since(deleted).Round(100*time.Millisecond), got)
	}
}

type endpointState struct{ ready, serving, terminating bool }

// waitSlice waits until the one endpoint of a Service's slices is in a state.
func waitSlice(t *testing.T, n *testbed.Node, ns, svc string, ok func(endpointState) bool) {
	t.Helper()
	testbed.Eventually(t, 30*time.Second, "endpoint of "+svc, func() error {
		sl, err := n.Client.DiscoveryV1().EndpointSlices(ns).List(bg, meta.ListOptions{LabelSelector: "kubernetes.io/service-name=" + svc})
		if err != nil {
			return err
		}
		for _, s := range sl.Items {
			for _, e := range s.Endpoints {
				st := endpointState{e.Conditions.Ready != nil && *e.Conditions.Ready, e.Conditions.Serving != nil && *e.Conditions.Serving,
					e.Conditions.Terminating != nil && *e.Conditions.Terminating}
				if ok(st) {
					return nil
				}
			}
		}
		return fmt.Errorf("not yet")
	})
}

// TestRollingRestart: kubectl rollout restart of the CoreDNS Deployment
// while a client in each web pod looks up a peer every 20 ms through its
// resolv.conf. Every failed lookup is counted and logged as a figure
// (BENCHMARKS.md), not asserted: health's lameduck is the lever.
func TestRollingRestart(t *testing.T) {
	n, _ := webSet(t)
	const secs = 45
	var mu sync.Mutex
	results := map[string]string{}
	var wg sync.WaitGroup
	for _, pod := range []string{"web-0", "web-1", "web-2"} {
		wg.Add(1)
		go func(pod string) {
			defer wg.Done()
			out, _ := n.Exec(t, "app", pod, "glibc", "/bin/dnsq", "loop", "web-2.web", fmt.Sprint(secs), "20")
			mu.Lock()
			results[pod] = strings.TrimSpace(out)
			mu.Unlock()
		}(pod)
	}
	time.Sleep(3 * time.Second)
	start := time.Now()
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`, start.Format(time.RFC3339))
	if _, err := n.Client.AppsV1().Deployments("kube-system").Patch(bg, "coredns", types.StrategicMergePatchType, []byte(patch), meta.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := waitDeployment(n, "kube-system", "coredns", 2, 120*time.Second); err != nil {
		t.Fatal(err)
	}
	rollout := time.Since(start)
	wg.Wait()
	var ok, fail int
	for pod, r := range results {
		var o, f int
		if _, err := fmt.Sscanf(r, "ok=%d fail=%d", &o, &f); err != nil {
			t.Fatalf("%s: %q", pod, r)
		}
		ok, fail = ok+o, fail+f
	}
	if ok == 0 {
		t.Fatalf("no lookup succeeded: %v", results)
	}
	if rollout > secs*time.Second {
		t.Errorf("the rollout (%s) outlasted the clients (%d s): failures after it are not counted", rollout, secs)
	}
	t.Logf("rolling restart of 2 CoreDNS pods (lameduck 5s) in %s: %d of %d lookups failed (%.3f%%), per pod %v",
		rollout.Round(100*time.Millisecond), fail, ok+fail, 100*float64(fail)/float64(ok+fail), results)
}
