package topology

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/headlessdns/headless/internal/object"
)

// PrefixTable finds the longest prefix holding an address: one map lookup
// per distinct prefix length. The zero value is empty.
type PrefixTable struct {
	bits []int // distinct prefix lengths, longest first
	m    map[netip.Prefix]ClientLoc
}

// Add files loc for p (masked); false when p was filed before (the first
// wins: Corefile order, or node name order).
func (t *PrefixTable) Add(p netip.Prefix, loc ClientLoc) bool {
	if t.m == nil {
		t.m = map[netip.Prefix]ClientLoc{}
	}
	p = p.Masked()
	if _, dup := t.m[p]; dup {
		return false
	}
	t.m[p] = loc
	if !slices.Contains(t.bits, p.Bits()) {
		t.bits = append(t.bits, p.Bits())
		slices.SortFunc(t.bits, func(a, b int) int { return b - a })
	}
	return true
}

// Len is the number of prefixes filed.
func (t *PrefixTable) Len() int { return len(t.m) }

// Lookup finds where the longest prefix holding a is.
func (t *PrefixTable) Lookup(a netip.Addr) (ClientLoc, bool) {
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
	return ClientLoc{}, false
}

// nodeTable locates clients by the Nodes: a node's own addresses (queries
// through NodeLocal DNSCache come from them), then its pod CIDRs. Immutable
// once published.
type nodeTable struct {
	addrs map[netip.Addr]ClientLoc
	cidrs PrefixTable
}

func newNodeTable(nodes map[string]*object.Node) *nodeTable {
	t := &nodeTable{addrs: make(map[netip.Addr]ClientLoc, len(nodes))}
	names := make([]string, 0, len(nodes))
	for name := range nodes {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		n := nodes[name]
		for _, a := range n.Addrs {
			if _, dup := t.addrs[a]; !dup {
				t.addrs[a] = ClientLoc{Node: n.Name, Zone: n.Zone}
			}
		}
		for _, p := range n.PodCIDRs {
			t.cidrs.Add(p, ClientLoc{Node: n.Name, Zone: n.Zone})
		}
	}
	return t
}

func (t *nodeTable) lookup(a netip.Addr) (ClientLoc, bool) {
	if loc, ok := t.addrs[a]; ok {
		return loc, true
	}
	return t.cidrs.Lookup(a)
}

// Nodes is the store of the Nodes that locate clients: the watch of Nodes
// updates it, the front step looks clients up. The table is rebuilt by the
// first lookup after a change, so a relist of many Nodes builds it once.
type Nodes struct {
	mu    sync.Mutex
	nodes map[string]*object.Node // under mu
	dirty atomic.Bool             // nodes changed since the table was built
	table atomic.Pointer[nodeTable]
}

// NewNodes returns an empty store.
func NewNodes() *Nodes {
	n := &Nodes{nodes: map[string]*object.Node{}}
	n.table.Store(newNodeTable(nil))
	return n
}

// Update records a Node add, update or delete.
func (ns *Nodes) Update(n *object.Node, deleted bool) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := ns.nodes[n.Name]
	switch {
	case deleted && old == nil:
		return
	case deleted:
		delete(ns.nodes, n.Name)
	case old != nil && old.SameContent(n):
		ns.nodes[n.Name] = n
		return
	default:
		ns.nodes[n.Name] = n
	}
	ns.dirty.Store(true)
}

// Lookup finds a client among the Nodes' addresses and pod CIDRs.
func (ns *Nodes) Lookup(a netip.Addr) (ClientLoc, bool) {
	if ns.dirty.Load() {
		ns.mu.Lock()
		if ns.dirty.Load() {
			ns.table.Store(newNodeTable(ns.nodes))
			ns.dirty.Store(false)
		}
		ns.mu.Unlock()
	}
	return ns.table.Load().lookup(a)
}
