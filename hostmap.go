package headless

import (
	"hash/maphash"
	"math/bits"
)

var hostSeed = maphash.MakeSeed()

// hostMap maps the endpoint names of one Service to their record sets. It is
// immutable once published; with returns a new map that shares every shard
// it did not have to change, so a change to a few endpoints of a
// 10,000-endpoint Service copies a few small shards, not the whole map.
type hostMap struct {
	shards []map[string]*rrSet // len is a power of two
}

func (m hostMap) get(host string) *rrSet {
	if len(m.shards) == 0 {
		return nil
	}
	return m.shards[maphash.String(hostSeed, host)&uint64(len(m.shards)-1)][host]
}

func (m hostMap) len() int {
	n := 0
	for _, s := range m.shards {
		n += len(s)
	}
	return n
}

// shardsFor is the shard count for n hosts: about 64 hosts a shard.
func shardsFor(n int) int {
	if n <= 64 {
		return 1
	}
	return min(1<<bits.Len(uint(n/64)), 1024)
}

// with returns m with changes applied (a nil set deletes its host).
func (m hostMap) with(changes map[string]*rrSet) hostMap {
	if len(changes) == 0 {
		return m
	}
	n := m.len() + len(changes) // an upper bound, enough to size shards
	if want := shardsFor(n); want > 2*max(len(m.shards), 1) || (len(m.shards) > 1 && want*4 < len(m.shards)) {
		return m.resharded(changes, want)
	}
	if len(m.shards) == 0 {
		m.shards = []map[string]*rrSet{nil}
	}
	out := hostMap{shards: append([]map[string]*rrSet(nil), m.shards...)}
	copied := make(map[int]bool, len(changes))
	for h, set := range changes {
		i := int(maphash.String(hostSeed, h) & uint64(len(out.shards)-1))
		if !copied[i] {
			copied[i] = true
			next := make(map[string]*rrSet, len(out.shards[i])+1)
			for k, v := range out.shards[i] {
				next[k] = v
			}
			out.shards[i] = next
		}
		if set == nil {
			delete(out.shards[i], h)
		} else {
			out.shards[i][h] = set
		}
	}
	return out
}

// resharded rebuilds the map with n shards.
func (m hostMap) resharded(changes map[string]*rrSet, n int) hostMap {
	out := hostMap{shards: make([]map[string]*rrSet, n)}
	put := func(h string, set *rrSet) {
		i := maphash.String(hostSeed, h) & uint64(n-1)
		if out.shards[i] == nil {
			out.shards[i] = map[string]*rrSet{}
		}
		if set == nil {
			delete(out.shards[i], h)
		} else {
			out.shards[i][h] = set
		}
	}
	for _, s := range m.shards {
		for h, set := range s {
			put(h, set)
		}
	}
	for h, set := range changes {
		put(h, set)
	}
	return out
}
