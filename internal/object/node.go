package object

import (
	"net/netip"
	"slices"
	"strings"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Node is what the plugin keeps of a core/v1 Node: where its pods' and its
// own addresses are, and its zone.
type Node struct {
	meta.TypeMeta
	meta.ObjectMeta
	Zone     string // topology.kubernetes.io/zone, lowercase
	PodCIDRs []netip.Prefix
	Addrs    []netip.Addr
}

// DeepCopyObject implements runtime.Object; Nodes are immutable once stored.
func (n *Node) DeepCopyObject() runtime.Object {
	c := *n
	n.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// SameContent reports whether two revisions of a Node locate clients alike.
func (n *Node) SameContent(o *Node) bool {
	return n.Zone == o.Zone && slices.Equal(n.PodCIDRs, o.PodCIDRs) && slices.Equal(n.Addrs, o.Addrs)
}

// TransformNode keeps only what locating clients needs of a Node. CIDRs and
// addresses that do not parse are left out.
func TransformNode(obj any) (any, error) {
	n, ok := obj.(*core.Node)
	if !ok {
		return obj, nil
	}
	out := &Node{
		ObjectMeta: meta.ObjectMeta{Name: n.Name, ResourceVersion: n.ResourceVersion, UID: n.UID},
		Zone:       strings.ToLower(n.Labels[core.LabelTopologyZone]),
	}
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, c := range cidrs {
		if p, err := netip.ParsePrefix(c); err == nil {
			out.PodCIDRs = append(out.PodCIDRs, p.Masked())
		}
	}
	for _, a := range n.Status.Addresses {
		if a.Type != core.NodeInternalIP && a.Type != core.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil && !slices.Contains(out.Addrs, ip.Unmap()) {
			out.Addrs = append(out.Addrs, ip.Unmap())
		}
	}
	return out, nil
}
