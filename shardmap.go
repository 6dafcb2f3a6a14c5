package headless

import (
	"hash/maphash"
	"sync/atomic"
)

// shardMap is a string-keyed map read without locks: each of its shards is an
// immutable map behind an atomic pointer, replaced whole by the single writer.
// Sharding keeps a publish cheap: only shards holding changed keys are copied.
// shardCount: a PTR change copies one shard, about 100 addresses at 100,000.
const shardCount = 1024

type shardMap[V comparable] struct {
	seed   maphash.Seed
	shards [shardCount]atomic.Pointer[map[string]V]
}

func (m *shardMap[V]) init() { m.seed = maphash.MakeSeed() }

func (m *shardMap[V]) shard(k string) int { return int(maphash.String(m.seed, k) & (shardCount - 1)) }

func (m *shardMap[V]) get(k string) (V, bool) {
	p := m.shards[m.shard(k)].Load()
	if p == nil {
		var zero V
		return zero, false
	}
	v, ok := (*p)[k]
	return v, ok
}

// apply publishes changes; a zero value deletes its key. One writer only.
func (m *shardMap[V]) apply(changes map[string]V) {
	var by [shardCount]map[string]V
	for k, v := range changes {
		i := m.shard(k)
		if by[i] == nil {
			by[i] = map[string]V{}
		}
		by[i][k] = v
	}
	var zero V
	for i, ch := range by {
		if ch == nil {
			continue
		}
		next := map[string]V{}
		if old := m.shards[i].Load(); old != nil {
			next = make(map[string]V, len(*old)+len(ch))
			for k, v := range *old {
				next[k] = v
			}
		}
		for k, v := range ch {
			if v == zero {
				delete(next, k)
			} else {
				next[k] = v
			}
		}
		m.shards[i].Store(&next)
	}
}
