package index

import (
	"sync/atomic"
	"time"
)

// Publishing: turning what the watches delivered into the published state
// that reads see, by the builder goroutine or by the read that needs it.

// settlePeriod is how long the builder lets later changes gather before it
// publishes them unasked. Reads do not wait for it (they publish what they
// find pending first), so it only batches changes nobody reads: more of
// them share one publish (a slice changed by ten events is derived once, a
// shard of names touched by many is copied once). How much work a read can
// find waiting is bounded by urgentAt (flushBatch endpoints), not by it.
const settlePeriod = 30 * time.Second

// Run publishes changes until stop closes: before and right after the
// initial sync at once, later changes settle first, so that a burst of
// them (a rollout, a relist) is published once. Reads never wait for that:
// a read that finds a change taken in and unpublished publishes it first
// (publishPending), so every answer after a change is taken in shows it, and changes
// nobody asks about cost one publish a settle period however many arrive
// (or one per flushBatch endpoints changed, if that comes sooner).
func (ix *Index) Run(stop <-chan struct{}) {
	settle := time.NewTimer(0)
	<-settle.C
	built := false // the initial sync is published
	for {
		select {
		case <-stop:
			return
		case <-ix.kick:
		}
		if built {
			settle.Reset(ix.settle)
			select {
			case <-stop:
				settle.Stop()
				return
			case <-settle.C:
			case <-ix.urgent:
				settle.Stop() // (Go 1.23 timers: no stale tick is left behind)
			}
		}
		ix.Flush()
		built = ix.isSynced.Load()
	}
}

// publishPending publishes what was taken in and not yet published: every
// read of published state that is not one Service's calls it first.
func (ix *Index) publishPending() {
	if ix.pending.Load() && ix.isSynced.Load() {
		ix.Flush()
	}
}

// publishPendingFor publishes a pending change before a read of one Service's
// records. While the builder is still publishing the initial sync, it
// builds that Service only (a Service name's answer right after start-up
// waits for its own build); after that it publishes everything pending, as
// publishPending does, so that the next reads find nothing pending and take no lock.
func (ix *Index) publishPendingFor(key string) {
	if !ix.pending.Load() || !ix.isSynced.Load() {
		return
	}
	if ix.caughtUp.Load() {
		ix.Flush()
		return
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if _, dirty := ix.dirty[key]; dirty {
		ix.publish([]string{key})
	}
}

// flushBatch is about how many endpoints one batch of Flush builds: a read
// waits for one batch at most.
const flushBatch = 16384

// Flush builds and publishes everything taken in, a batch of Services at a
// time, the lock let go between batches.
func (ix *Index) Flush() {
	var keys []string
	for {
		ix.mu.Lock()
		keys = keys[:0]
		n := 0
		for key := range ix.dirty {
			keys = append(keys, key)
			for _, s := range ix.slices[key] {
				n += len(s.Endpoints)
			}
			if n >= flushBatch {
				break
			}
		}
		left := ix.publish(keys)
		ix.mu.Unlock()
		if !left {
			return
		}
	}
}

// publish builds and publishes the given dirty Services, their PTRs and the
// set of namespaces with Services; under mu. It reports whether changes are
// left.
func (ix *Index) publish(keys []string) bool {
	if len(keys) > 0 {
		start := time.Now()
		changes := make(map[string]*Records, len(keys))
		nsChanged := false
		for _, key := range keys {
			changed := ix.dirty[key]
			delete(ix.dirty, key)
			var recs *Records
			var ptrs []ptrChange
			if svc := ix.services[key]; svc != nil && ix.inScope(svc.Namespace) {
				recs, ptrs = ix.build.service(&ix.opts, key, svc, ix.slices[key], changed)
			} else {
				ptrs = ix.build.drop(key)
			}
			for _, c := range ptrs {
				ix.ptr.replace(c)
			}
			nsChanged = ix.notePublished(key, recs, changes) || nsChanged
		}
		// reverse first: whatever forward answers a query sees, the
		// reverse side already shows (a name gone has no PTR left behind)
		ptrs := ix.ptr.applyTo(ix.ptrTab.Load())
		ix.ptrTab.Store(ptrs)
		ix.svcs.apply(changes)
		if nsChanged {
			m := make(map[string]struct{}, len(ix.pub.perNS))
			for ns := range ix.pub.perNS {
				m[ns] = struct{}{}
			}
			ix.namespaces.Store(&m)
		}
		now := time.Now()
		if len(ix.dirty) == 0 {
			ix.dirty = resetMap(ix.dirty)
		}
		ix.modified.Store(now.Unix())
		if h := ix.opts.Hooks.Published; h != nil {
			h(now.Sub(start))
		}
		ix.nServices.Store(int64(len(ix.pub.keys)))
		ix.nAddresses.Store(int64(ptrs.Len()))
	}
	if (ix.wantSvc || ix.wantSync) && !ix.svcSynced.Load() {
		ix.svcSynced.Store(true)
	}
	if len(ix.dirty) > 0 {
		return true
	}
	ix.waiting = 0
	select {
	case <-ix.urgent: // what asked for it is published
	default:
	}
	ix.pending.Store(false)
	if ix.isSynced.Load() {
		ix.caughtUp.Store(true)
	}
	return false
}

// notePublished files a built Service (nil: gone) among the changes to
// publish and keeps the published counts; true when a namespace appeared or
// vanished.
func (ix *Index) notePublished(key string, recs *Records, changes map[string]*Records) bool {
	count := func(keys map[string]struct{}, n *atomic.Int64, has bool) {
		if has {
			keys[key] = struct{}{}
		} else {
			delete(keys, key)
		}
		n.Store(int64(len(keys)))
	}
	pub := &ix.pub
	count(pub.capKeys, &ix.capped, recs != nil && recs.svc.Policy.MaxAnswers > 0)
	count(pub.ttlKeys, &ix.ownTTL, recs != nil && recs.svc.Policy.TTL >= 0)
	count(pub.negKeys, &ix.ownNegTTL, recs != nil && recs.svc.Policy.NegativeTTL >= 0)
	switch {
	case recs != nil:
		changes[key] = recs
		if !pub.keys[key] {
			pub.keys[key] = true
			pub.perNS[recs.svc.Namespace]++
			return pub.perNS[recs.svc.Namespace] == 1
		}
	case pub.keys[key]:
		changes[key] = nil
		delete(pub.keys, key)
		ns := namespaceOf(key)
		if pub.perNS[ns]--; pub.perNS[ns] == 0 {
			delete(pub.perNS, ns)
			return true
		}
	}
	return false
}

// namespaceOf returns the namespace of a Service key (name.namespace;
// names hold no dot).
func namespaceOf(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '.' {
			return key[i+1:]
		}
	}
	return key
}
