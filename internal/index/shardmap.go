package index

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
// a Go map rehashes every key. It holds the published Services by key
// (Index.svcs; PTRs are in ptrTable): with shardCount shards, publishing one
// changed Service copies one shard, about 100 keys at 100,000 Services.
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

func cmpKV[V any](a, b kv[V]) int { return strings.Compare(a.k, b.k) }

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
// Each touched shard is merged with its sorted changes in one pass, so a
// first build of 100,000 keys costs a sort, not 100,000 insertions.
func (m *shardMap[V]) apply(changes map[string]V) {
	by := map[int][]kv[V]{}
	for k, v := range changes {
		i := m.shard(k)
		by[i] = append(by[i], kv[V]{k, v})
	}
	for i, ch := range by {
		slices.SortFunc(ch, cmpKV)
		var old []kv[V]
		if p := m.shards[i].Load(); p != nil {
			old = *p
		}
		next := mergeShard(old, ch)
		m.shards[i].Store(&next)
	}
}

// mergeShard returns old (sorted) with the sorted changes ch applied: a
// zero value deletes its key. It finds each change by binary search and
// copies the runs between them: a change to one key of a shard costs a
// search and one copy of the shard, exactly sized.
func mergeShard[V comparable](old, ch []kv[V]) []kv[V] {
	var zero V
	// walk calls f for each change with the run of old before it
	// (old[from:i]) and whether old holds its key; it returns where the
	// rest of old starts
	walk := func(f func(c kv[V], from, i int, ok bool)) int {
		from := 0
		for _, c := range ch {
			i, ok := slices.BinarySearchFunc(old[from:], c.k, cmpKey[V])
			i += from
			f(c, from, i, ok)
			from = i
			if ok {
				from++
			}
		}
		return from
	}
	n := len(old)
	walk(func(c kv[V], _, _ int, ok bool) {
		switch {
		case ok && c.v == zero:
			n--
		case !ok && c.v != zero:
			n++
		}
	})
	out := make([]kv[V], n)
	w := 0
	rest := walk(func(c kv[V], from, i int, _ bool) {
		w += copy(out[w:], old[from:i])
		if c.v != zero {
			out[w] = c
			w++
		}
	})
	copy(out[w:], old[rest:])
	return out
}
