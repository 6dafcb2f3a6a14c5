package headless

import (
	"hash/maphash"
	"slices"
	"strings"
	"sync/atomic"
)

// shardMap is a string-keyed map read without locks: each of its shards is an
// immutable sorted slice behind an atomic pointer, replaced whole by the
// single writer. Sharding keeps a publish cheap: only shards holding changed
// keys are copied, and copying a sorted slice is a memory move where copying
// a Go map rehashes every key. shardCount: a PTR change copies one shard,
// about 100 addresses at 100,000.
const shardCount = 1024

type shardMap[V comparable] struct {
	seed   maphash.Seed
	shards [shardCount]atomic.Pointer[[]kv[V]]
}

type kv[V any] struct {
	k string
	v V
}

func cmpKey[V any](e kv[V], k string) int { return strings.Compare(e.k, k) }

func (m *shardMap[V]) init() { m.seed = maphash.MakeSeed() }

func (m *shardMap[V]) shard(k string) int { return int(maphash.String(m.seed, k) & (shardCount - 1)) }

func (m *shardMap[V]) get(k string) (V, bool) {
	if p := m.shards[m.shard(k)].Load(); p != nil {
		if i, ok := slices.BinarySearchFunc(*p, k, cmpKey[V]); ok {
			return (*p)[i].v, true
		}
	}
	var zero V
	return zero, false
}

// apply publishes changes; a zero value deletes its key. One writer only.
func (m *shardMap[V]) apply(changes map[string]V) {
	next := map[int]*[]kv[V]{} // the shards this publish copies
	var zero V
	for k, v := range changes {
		i := m.shard(k)
		p := next[i]
		if p == nil {
			var s []kv[V]
			if old := m.shards[i].Load(); old != nil {
				s = slices.Clone(*old)
			}
			p = &s
			next[i] = p
		}
		j, ok := slices.BinarySearchFunc(*p, k, cmpKey[V])
		switch {
		case ok && v == zero:
			*p = slices.Delete(*p, j, j+1)
		case ok:
			(*p)[j].v = v
		case v != zero:
			*p = slices.Insert(*p, j, kv[V]{k, v})
		}
	}
	for i, p := range next {
		*p = slices.Clip(*p)
		m.shards[i].Store(p)
	}
}
