package index

import (
	"hash/maphash"
	"math/bits"
	"slices"
	"strings"
	"sync"
)

var hostSeed = maphash.MakeSeed()

// hostEntry is one endpoint name's record set, built when first asked for:
// a Service's names cost memory and start-up time only once someone asks
// for them. An entry is replaced whenever its name's items change, so every
// published version that holds it has the same items for the name, and any
// of them can build it.
type hostEntry struct {
	once sync.Once
	set  *RRSet
}

// get returns the name's record set, built from w on first use.
func (e *hostEntry) get(w wideSource, host string) *RRSet {
	e.once.Do(func() { e.set = hostSetOf(w, host) })
	return e.set
}

// hostSetOf builds the record set of an endpoint name from the slices that
// hold it (nearly always one), in slice order; nil when none does.
func hostSetOf(w wideSource, host string) *RRSet {
	var items []item
	hh := hostHash(host)
	for _, sb := range w.parts {
		if !sb.has(host, hh) {
			continue
		}
		for i := range sb.items {
			if sb.items[i].host == host {
				items = append(items, sb.items[i])
			}
		}
	}
	if len(items) == 0 {
		return nil
	}
	var s rrScratch
	return s.rrSetOf(w.o, items, nil, &slab{exact: true}, dedupFor(nil, items))
}

// hostMap maps the endpoint names of one Service to their record sets. It is
// immutable once published; with returns a new map that shares every shard
// it did not have to change, so a change to a few endpoints of a
// 10,000-endpoint Service copies a few small shards, not the whole map. A
// shard is a sorted slice: copying one is a memory move, where copying a Go
// map rehashes every key (most of a readiness flip's cost at 10,000
// endpoints, when shards were maps).
type hostMap struct {
	groups  []*shardGroup // shards, 16 to a group: a change copies one group, not every shard header
	nshards int           // a power of two
	n       int           // names in all shards
}

const groupSize = 16

type shardGroup [groupSize][]hostKV

func (m hostMap) shard(i int) []hostKV { return m.groups[i/groupSize][i%groupSize] }

// hostKV is a name and its entry, in a shard sorted by name.
type hostKV = kv[*hostEntry]

func (m hostMap) shardOf(host string) int {
	return int(maphash.String(hostSeed, host) & uint64(m.nshards-1))
}

func (m hostMap) get(host string) *hostEntry {
	if m.nshards == 0 {
		return nil
	}
	sh := m.shard(m.shardOf(host))
	if i, ok := slices.BinarySearchFunc(sh, host, cmpKey[*hostEntry]); ok {
		return sh[i].v
	}
	return nil
}

func (m hostMap) len() int { return m.n }

// shardsFor is the shard count for n hosts: about 32 hosts a shard.
func shardsFor(n int) int {
	if n <= 32 {
		return 1
	}
	return min(1<<bits.Len(uint(n/32)), 1024)
}

// with returns m with changes applied (a nil entry deletes its host).
func (m hostMap) with(changes map[string]*hostEntry) hostMap {
	if len(changes) == 0 {
		return m
	}
	if want := shardsFor(m.n + len(changes)); m.nshards == 0 || want > 2*m.nshards || (m.nshards > 1 && want*4 < m.nshards) {
		return m.resharded(changes, want)
	}
	// the changes by shard, then name: each touched shard's run is sorted
	order := make([]int32, 0, len(changes))
	chs := make([]kv[*hostEntry], 0, len(changes))
	shardOf := make([]int32, 0, len(changes))
	for h, e := range changes {
		order = append(order, int32(len(chs)))
		chs = append(chs, kv[*hostEntry]{h, e})
		shardOf = append(shardOf, int32(m.shardOf(h)))
	}
	slices.SortFunc(order, func(a, b int32) int {
		if shardOf[a] != shardOf[b] {
			return int(shardOf[a] - shardOf[b])
		}
		return strings.Compare(chs[a].k, chs[b].k)
	})
	sorted := make([]kv[*hostEntry], len(chs))
	for i, o := range order {
		sorted[i] = chs[o]
	}
	out := hostMap{groups: slices.Clone(m.groups), nshards: m.nshards, n: m.n}
	copied := -1 // the last group copied: shards come in order
	for a := 0; a < len(order); {
		i := int(shardOf[order[a]])
		z := a + 1
		for z < len(order) && int(shardOf[order[z]]) == i {
			z++
		}
		if g := i / groupSize; g != copied {
			copied = g
			c := *out.groups[g]
			out.groups[g] = &c
		}
		slot := &out.groups[i/groupSize][i%groupSize]
		merged := mergeShard(*slot, sorted[a:z])
		out.n += len(merged) - len(*slot)
		*slot = merged
		a = z
	}
	return out
}

// resharded rebuilds the map with n shards.
func (m hostMap) resharded(changes map[string]*hostEntry, n int) hostMap {
	all := changes // a first build: only the changes
	if m.n > 0 {
		all = make(map[string]*hostEntry, m.n+len(changes))
		for i := 0; i < m.nshards; i++ {
			for _, kv := range m.shard(i) {
				all[kv.k] = kv.v
			}
		}
		for h, e := range changes {
			all[h] = e
		}
	}
	out := hostMap{groups: make([]*shardGroup, (n+groupSize-1)/groupSize), nshards: n}
	for g := range out.groups {
		out.groups[g] = &shardGroup{}
	}
	for h, e := range all {
		if e == nil {
			continue // deleted
		}
		out.n++
		i := out.shardOf(h)
		slot := &out.groups[i/groupSize][i%groupSize]
		*slot = append(*slot, hostKV{h, e})
	}
	for _, g := range out.groups {
		for k := range g {
			slices.SortFunc(g[k], cmpKV)
			g[k] = slices.Clip(g[k])
		}
	}
	return out
}
