package headless

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// epLoc is where an endpoint runs. Interned by the builder: the endpoints of
// one node share one.
type epLoc struct {
	node, zone           string
	hintZones, hintNodes string // hints.forZones (lowercase) and hints.forNodes, comma-separated
}

// locInterner keeps one copy of each endpoint location: the endpoints of a
// node share it (the watches' goroutines intern concurrently).
type locInterner struct {
	mu sync.Mutex
	m  map[epLoc]*epLoc
}

var locs locInterner

// recentLocs interns through a few recently seen locations first, without
// the lock.
type recentLocs struct {
	locs [4]*epLoc
	next int
}

func (r *recentLocs) intern(l epLoc) *epLoc {
	for _, p := range r.locs {
		if p != nil && *p == l {
			return p
		}
	}
	p := locs.intern(l)
	r.locs[r.next] = p
	r.next = (r.next + 1) % len(r.locs)
	return p
}

// noLoc is the location of an endpoint that names none.
var noLoc = &epLoc{}

func (li *locInterner) intern(l epLoc) *epLoc {
	if l == (epLoc{}) {
		return noLoc
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	if p := li.m[l]; p != nil {
		return p
	}
	if li.m == nil || len(li.m) > 1<<16 {
		li.m = map[epLoc]*epLoc{} // bounded: older copies stay valid where they are used
	}
	// copies, not l's strings: they may view a decode buffer (and not &l:
	// l would then escape on every call)
	p := &epLoc{node: strings.Clone(l.node), zone: strings.Clone(l.zone), hintZones: strings.Clone(l.hintZones), hintNodes: strings.Clone(l.hintNodes)}
	li.m[*p] = p
	return p
}

// clientLoc is where a client runs; the zero value is an unknown client.
type clientLoc struct{ node, zone string }

func (c clientLoc) known() bool { return c.node != "" || c.zone != "" }

// rank orders an endpoint for a client under a traffic mode, 0 first:
// PreferSameZone: same zone 0, rest 1; PreferSameNode: same node 0, same
// zone 1, rest 2. Zone: the endpoint's hints.forZones when the controller
// set them (as kube-proxy reads them), else its own zone. Unknown endpoints
// (nil) rank last.
func rank(m trafficMode, e *epLoc, c clientLoc) int {
	last := 1
	if m == trafficSameNode {
		last = 2
	}
	if e == nil {
		return last
	}
	sameZone := c.zone != "" && ((e.hintZones != "" && hasHint(e.hintZones, c.zone)) || (e.hintZones == "" && e.zone == c.zone))
	if m == trafficSameNode {
		switch {
		case c.node != "" && (e.node == c.node || hasHint(e.hintNodes, c.node)):
			return 0
		case sameZone:
			return 1
		}
		return 2
	}
	if sameZone {
		return 0
	}
	return last
}

// Node is what the index keeps of a core/v1 Node: where its pods' and its
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

func (n *Node) sameContent(o *Node) bool {
	return n.Zone == o.Zone && slices.Equal(n.PodCIDRs, o.PodCIDRs) && slices.Equal(n.Addrs, o.Addrs)
}

// transformNode keeps only what locating clients needs of a Node. CIDRs and
// addresses that do not parse are left out.
func transformNode(obj any) (any, error) {
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

// prefixTable finds the longest prefix holding an address: one map lookup
// per distinct prefix length.
type prefixTable struct {
	bits []int // distinct prefix lengths, longest first
	m    map[netip.Prefix]clientLoc
}

func (t *prefixTable) add(p netip.Prefix, loc clientLoc) {
	if t.m == nil {
		t.m = map[netip.Prefix]clientLoc{}
	}
	p = p.Masked()
	if _, dup := t.m[p]; dup {
		return // the first wins: Corefile order, or node name order
	}
	t.m[p] = loc
	if !slices.Contains(t.bits, p.Bits()) {
		t.bits = append(t.bits, p.Bits())
		slices.SortFunc(t.bits, func(a, b int) int { return b - a })
	}
}

func (t *prefixTable) lookup(a netip.Addr) (clientLoc, bool) {
	for _, b := range t.bits {
		if b > a.BitLen() {
			continue
		}
		p, err := a.Prefix(b)
		if err != nil {
			continue
		}
		if loc, ok := t.m[p]; ok {
			return loc, true
		}
	}
	return clientLoc{}, false
}

// nodeTable locates clients by the Nodes: a node's own addresses (queries
// through NodeLocal DNSCache come from them), then its pod CIDRs. Immutable
// once published.
type nodeTable struct {
	addrs map[netip.Addr]clientLoc
	cidrs prefixTable
}

func newNodeTable(nodes map[string]*Node) *nodeTable {
	t := &nodeTable{addrs: make(map[netip.Addr]clientLoc, len(nodes))}
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n := nodes[name]
		for _, a := range n.Addrs {
			if _, dup := t.addrs[a]; !dup {
				t.addrs[a] = clientLoc{node: n.Name, zone: n.Zone}
			}
		}
		for _, p := range n.PodCIDRs {
			t.cidrs.add(p, clientLoc{node: n.Name, zone: n.Zone})
		}
	}
	return t
}

func (t *nodeTable) lookup(a netip.Addr) (clientLoc, bool) {
	if loc, ok := t.addrs[a]; ok {
		return loc, true
	}
	return t.cidrs.lookup(a)
}

// UpdateNode records a Node add, update or delete. The table that locates
// clients is rebuilt at the next publish, so a relist of many Nodes builds
// it once.
func (ix *Index) UpdateNode(n *Node, deleted bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.nodes[n.Name]
	switch {
	case deleted && old == nil:
		return
	case deleted:
		delete(ix.nodes, n.Name)
	case old != nil && old.sameContent(n):
		ix.nodes[n.Name] = n
		return
	default:
		ix.nodes[n.Name] = n
	}
	ix.nodesNew = true
	ix.kickBuilder()
}

// LocateByNode finds a client among the Nodes' addresses and pod CIDRs.
func (ix *Index) LocateByNode(a netip.Addr) (clientLoc, bool) {
	ix.fresh()
	return ix.nodeTab.Load().lookup(a)
}

// LocateByEndpoint finds a client that is an endpoint of a published Service.
func (ix *Index) LocateByEndpoint(a netip.Addr) (clientLoc, bool) {
	ix.fresh()
	p := ix.ptrTab.Load().get(a)
	if p == nil || p.first.loc == nil {
		return clientLoc{}, false
	}
	return clientLoc{node: p.first.loc.node, zone: p.first.loc.zone}, true
}
