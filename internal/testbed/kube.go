package testbed

import (
	"context"
	"fmt"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// The test bed plays kubelet: it creates Nodes and Pods bound to them, and
// patches pod status so the real endpointslice controller writes slices.

// Node creates a Node with a topology zone label.
func (c *Cluster) Node(t TB, name, zone string) {
	t.Helper()
	n := &core.Node{ObjectMeta: meta.ObjectMeta{Name: name, Labels: map[string]string{core.LabelTopologyZone: zone}}}
	if _, err := c.Client.CoreV1().Nodes().Create(context.Background(), n, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// NodeWith creates a Node with a zone label, a pod CIDR and InternalIP
// addresses (status), as a cluster's node controller and kubelet set them.
func (c *Cluster) NodeWith(t TB, name, zone, podCIDR string, addrs ...string) {
	t.Helper()
	ctx := context.Background()
	n := &core.Node{ObjectMeta: meta.ObjectMeta{Name: name, Labels: map[string]string{core.LabelTopologyZone: zone}},
		Spec: core.NodeSpec{PodCIDR: podCIDR, PodCIDRs: []string{podCIDR}}}
	n, err := c.Client.CoreV1().Nodes().Create(ctx, n, meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		n.Status.Addresses = append(n.Status.Addresses, core.NodeAddress{Type: core.NodeInternalIP, Address: a})
	}
	if _, err := c.Client.CoreV1().Nodes().UpdateStatus(ctx, n, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// Namespace creates a namespace.
func (c *Cluster) Namespace(t TB, name string) {
	t.Helper()
	ns := &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: name}}
	if _, err := c.Client.CoreV1().Namespaces().Create(context.Background(), ns, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// PodSpec describes a pod the test bed creates and marks running.
type PodSpec struct {
	Namespace, Name, Node string
	Labels                map[string]string
	Hostname, Subdomain   string
	IPs                   []string
	Ready                 bool
}

// Pod creates a pod bound to its node, then sets its status (IPs, Ready).
func (c *Cluster) Pod(t TB, p PodSpec) {
	t.Helper()
	if err := c.CreatePod(p); err != nil {
		t.Fatal(err)
	}
}

// CreatePod is Pod for other goroutines than the test's: it returns the
// error instead of failing the test.
func (c *Cluster) CreatePod(p PodSpec) error {
	pod := &core.Pod{
		ObjectMeta: meta.ObjectMeta{Namespace: p.Namespace, Name: p.Name, Labels: p.Labels},
		Spec: core.PodSpec{
			NodeName: p.Node, Hostname: p.Hostname, Subdomain: p.Subdomain,
			Containers: []core.Container{{Name: "app", Image: "example.invalid/app"}},
		},
	}
	if _, err := c.Client.CoreV1().Pods(p.Namespace).Create(context.Background(), pod, meta.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	return c.setPodStatus(p.Namespace, p.Name, p.IPs, p.Ready)
}

// SetPodStatus sets a pod Running with the given IPs and Ready condition.
func (c *Cluster) SetPodStatus(t TB, ns, name string, ips []string, ready bool) {
	t.Helper()
	if err := c.setPodStatus(ns, name, ips, ready); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) setPodStatus(ns, name string, ips []string, ready bool) error {
	ctx := context.Background()
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, meta.GetOptions{})
	if err != nil {
		return err
	}
	st := core.ConditionFalse
	if ready {
		st = core.ConditionTrue
	}
	pod.Status.Phase = core.PodRunning
	pod.Status.PodIP = ips[0]
	pod.Status.PodIPs = nil
	for _, ip := range ips {
		pod.Status.PodIPs = append(pod.Status.PodIPs, core.PodIP{IP: ip})
	}
	pod.Status.Conditions = []core.PodCondition{{Type: core.PodReady, Status: st}}
	if _, err := c.Client.CoreV1().Pods(ns).UpdateStatus(ctx, pod, meta.UpdateOptions{}); err != nil {
		return fmt.Errorf("status of pod %s/%s: %w", ns, name, err)
	}
	return nil
}

// DeletePod deletes a pod with grace period 0.
func (c *Cluster) DeletePod(t TB, ns, name string) {
	t.Helper()
	zero := int64(0)
	if err := c.Client.CoreV1().Pods(ns).Delete(context.Background(), name, meta.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
}

// ServicePort is a named TCP port.
func ServicePort(name string, port int32) core.ServicePort {
	return core.ServicePort{Name: name, Port: port, Protocol: core.ProtocolTCP, TargetPort: intstr.FromInt32(port)}
}

// Service creates a Service; clusterIP "None" makes it headless, "" allocates one.
func (c *Cluster) Service(t TB, ns, name, clusterIP string, selector map[string]string, publishNotReady bool, ports ...core.ServicePort) {
	t.Helper()
	s := &core.Service{
		ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name},
		Spec:       core.ServiceSpec{ClusterIP: clusterIP, Selector: selector, Ports: ports, PublishNotReadyAddresses: publishNotReady},
	}
	if _, err := c.Client.CoreV1().Services(ns).Create(context.Background(), s, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// ReapPods does what a kubelet does for pods being deleted: it removes them
// for good (grace period 0). It returns how many pods are left in ns.
func (c *Cluster) ReapPods(t TB, ns string) int {
	t.Helper()
	l, err := c.Client.CoreV1().Pods(ns).List(context.Background(), meta.ListOptions{})
	if err != nil {
		return 0
	}
	zero := int64(0)
	for _, p := range l.Items {
		if p.DeletionTimestamp != nil {
			_ = c.Client.CoreV1().Pods(ns).Delete(context.Background(), p.Name, meta.DeleteOptions{GracePeriodSeconds: &zero})
		}
	}
	return len(l.Items)
}
