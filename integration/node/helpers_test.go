package node

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	apps "k8s.io/api/apps/v1"
	core "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"
)

var bg = context.Background()

const zone = "svc.cluster.local"

var zonalLine = regexp.MustCompile(`(?m)^( +)zonal\n`)

var deployed struct {
	once sync.Once
	err  error
}

// clusterDNS is the node with deploy/ applied as a user would: the only
// changes are our locally built image, a nodeName (there is no scheduler)
// and explain in the headless block (README, Examples).
func clusterDNS(t *testing.T) *testbed.Node {
	t.Helper()
	n := testbed.SharedNode(t)
	deployed.once.Do(func() {
		start := time.Now()
		objs, err := testbed.DecodeFiles(filepath.Join(testbed.ModuleRoot(), "deploy"), "*.yaml")
		if err != nil {
			deployed.err = err
			return
		}
		for _, u := range objs {
			switch u.GetKind() {
			case "Deployment":
				pinToNode(u, testbed.ImageCoreDNS)
			case "ConfigMap":
				cf, _, _ := unstructured.NestedString(u.Object, "data", "Corefile")
				with := zonalLine.ReplaceAllString(cf, "${1}zonal\n${1}explain\n")
				if with == cf {
					deployed.err = fmt.Errorf("deploy/configmap.yaml: no zonal line to add explain after:\n%s", cf)
					return
				}
				_ = unstructured.SetNestedField(u.Object, with, "data", "Corefile")
			}
		}
		if deployed.err = apply(n, objs); deployed.err != nil {
			return
		}
		deployed.err = waitDeployment(n, "kube-system", "coredns", 2, 120*time.Second)
		t.Logf("deploy/ applied and 2 CoreDNS pods Ready in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if deployed.err != nil {
		t.Fatalf("cluster DNS from deploy/: %v", deployed.err)
	}
	return n
}

// pinToNode sets a Deployment's image (every container) and nodeName.
func pinToNode(u *unstructured.Unstructured, image string) {
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "template", "spec", "containers")
	for i := range cs {
		c := cs[i].(map[string]any)
		c["image"] = image
		c["imagePullPolicy"] = "Never"
	}
	_ = unstructured.SetNestedSlice(u.Object, cs, "spec", "template", "spec", "containers")
	_ = unstructured.SetNestedField(u.Object, testbed.NodeName, "spec", "template", "spec", "nodeName")
}

// resources returns, for each object, the dynamic client of its resource
// (in its namespace, "default" when it names none).
func resources(n *testbed.Node) func(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	dyn := dynamic.NewForConfigOrDie(n.RestConfig(testbed.UserAdmin))
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(n.Client.Discovery()))
	return func(u *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
		m, err := mapper.RESTMapping(u.GroupVersionKind().GroupKind(), u.GroupVersionKind().Version)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", u.GetKind(), err)
		}
		if m.Scope.Name() != "namespace" {
			return dyn.Resource(m.Resource), nil
		}
		ns := u.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return dyn.Resource(m.Resource).Namespace(ns), nil
	}
}

// apply creates or updates objects by server-side apply.
func apply(n *testbed.Node, objs []*unstructured.Unstructured) error {
	resource := resources(n)
	for _, u := range objs {
		ri, err := resource(u)
		if err != nil {
			return err
		}
		if _, err := ri.Apply(bg, u.GetName(), u, meta.ApplyOptions{FieldManager: "headless-node-test", Force: true}); err != nil {
			return fmt.Errorf("apply %s/%s: %v", u.GetKind(), u.GetName(), err)
		}
	}
	return nil
}

// remove deletes objects (those already gone are no error).
func remove(n *testbed.Node, objs []*unstructured.Unstructured) error {
	resource := resources(n)
	for _, u := range objs {
		ri, err := resource(u)
		if err != nil {
			return err
		}
		if err := ri.Delete(bg, u.GetName(), meta.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// waitDeployment waits until a Deployment has want updated, ready
// replicas and no others.
func waitDeployment(n *testbed.Node, ns, name string, want int32, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		d, err := n.Client.AppsV1().Deployments(ns).Get(bg, name, meta.GetOptions{})
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == want &&
			d.Status.ReadyReplicas == want && d.Status.Replicas == want {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("status %+v", d.Status)
			}
			return fmt.Errorf("deployment %s/%s not rolled out in %s: %v\n%s", ns, name, within, err, podReport(n, ns))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// podReport describes a namespace's pods, for failure messages.
func podReport(n *testbed.Node, ns string) string {
	pods, err := n.Client.CoreV1().Pods(ns).List(bg, meta.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "  %s %s ready=%v ip=%s", p.Name, p.Status.Phase, podReady(&p), p.Status.PodIP)
		for _, s := range p.Status.ContainerStatuses {
			fmt.Fprintf(&b, " [%s restarts=%d waiting=%v terminated=%v]", s.Name, s.RestartCount, s.State.Waiting, s.State.Terminated)
		}
		b.WriteString("\n")
	}
	evs, _ := n.Client.CoreV1().Events(ns).List(bg, meta.ListOptions{})
	if evs != nil {
		for _, e := range evs.Items {
			if e.Type != core.EventTypeNormal {
				fmt.Fprintf(&b, "  event %s %s: %s\n", e.InvolvedObject.Name, e.Reason, e.Message)
			}
		}
	}
	return b.String()
}

func podReady(p *core.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == core.PodReady {
			return c.Status == core.ConditionTrue
		}
	}
	return false
}

func namespace(t *testing.T, n *testbed.Node, name string) {
	t.Helper()
	_, err := n.Client.CoreV1().Namespaces().Create(bg, &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: name}}, meta.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// the ServiceAccount admission plugin needs the namespace's default account
	testbed.Eventually(t, 30*time.Second, "default ServiceAccount in "+name, func() error {
		_, err := n.Client.CoreV1().ServiceAccounts(name).Get(bg, "default", meta.GetOptions{})
		return err
	})
}

func headlessService(t *testing.T, n *testbed.Node, ns, name string, selector, annotations map[string]string) *core.Service {
	t.Helper()
	s, err := n.Client.CoreV1().Services(ns).Create(bg, &core.Service{
		ObjectMeta: meta.ObjectMeta{Name: name, Annotations: annotations},
		Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone, Selector: selector,
			Ports: []core.ServicePort{{Name: "http", Port: 80, Protocol: core.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}},
	}, meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Client containers: one per library, each running its client's sleep.
var clients = []core.Container{
	{Name: "glibc", Image: testbed.ImageClientGlibc, Args: []string{"sleep"}},
	{Name: "musl", Image: testbed.ImageClientMusl, Args: []string{"sleep"}},
	{Name: "go", Image: testbed.ImageClientGo, Args: []string{"sleep"}},
}

// clientContainers are the client containers of a pod (all, or those
// named); the first declares the port http (80) the Services name.
func clientContainers(only ...string) []core.Container {
	var out []core.Container
	for _, c := range clients {
		if len(only) == 0 || contains(only, c.Name) {
			c.ImagePullPolicy = core.PullNever
			out = append(out, c)
		}
	}
	out[0].Ports = []core.ContainerPort{{Name: "http", ContainerPort: 80, Protocol: core.ProtocolTCP}}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func statefulSet(name string, replicas int32, policy apps.PodManagementPolicyType, containers []core.Container) *apps.StatefulSet {
	labels := map[string]string{"app": name}
	zero := int64(1)
	return &apps.StatefulSet{
		ObjectMeta: meta.ObjectMeta{Name: name},
		Spec: apps.StatefulSetSpec{Replicas: &replicas, ServiceName: name, PodManagementPolicy: policy,
			Selector: &meta.LabelSelector{MatchLabels: labels},
			Template: core.PodTemplateSpec{ObjectMeta: meta.ObjectMeta{Labels: labels},
				Spec: core.PodSpec{NodeName: testbed.NodeName, Containers: containers, TerminationGracePeriodSeconds: &zero}}},
	}
}

// waitPods waits until the pods named are Running and, with ready, Ready.
func waitPods(t *testing.T, n *testbed.Node, ns string, names []string, ready bool, within time.Duration) map[string]string {
	t.Helper()
	ips := map[string]string{}
	testbed.Eventually(t, within, fmt.Sprintf("pods %v of %s running (ready %v)", names, ns, ready), func() error {
		for _, name := range names {
			p, err := n.Client.CoreV1().Pods(ns).Get(bg, name, meta.GetOptions{})
			if err != nil {
				return err
			}
			if p.Status.Phase != core.PodRunning || p.Status.PodIP == "" || (ready && !podReady(p)) {
				return fmt.Errorf("%s: %s ready=%v\n%s", name, p.Status.Phase, podReady(p), podReport(n, ns))
			}
			ips[name] = p.Status.PodIP
		}
		return nil
	})
	return ips
}

// ask sends one question to the cluster DNS's ClusterIP (kube-proxy's
// rules, as from a pod) from the node.
func ask(t *testing.T, name string, qtype uint16) *dns.Msg {
	t.Helper()
	r, err := testbed.Exchange(testbed.ClusterDNSIP+":53", name, qtype, false)
	if err != nil {
		t.Fatalf("%s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return r
}
