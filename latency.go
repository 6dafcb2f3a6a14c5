package headless

import "time"

// DNS programming latency: the time from an endpoint change to the moment
// its new answer is served (coredns_headless_dns_programming_duration_seconds).
// That moment is when the index takes the change in: from then on every read
// publishes it first if the builder has not yet (Index.fresh), so no answer
// given after it can miss the change.

// noteTrigger records the programming latency of a live change to a
// Service's slices that began at trigger (zero: a relist, not measured).
// Changes before the initial sync and to Services the index does not
// serve are not counted.
func (ix *Index) noteTrigger(key string, trigger time.Time) {
	if trigger.IsZero() || !ix.isSynced.Load() {
		return
	}
	svc := ix.services[key]
	if svc == nil {
		return
	}
	o := programmingWithout
	if svc.Selector {
		o = programmingWith
	}
	o.Observe(max(time.Since(trigger), 0).Seconds())
}

// The two series, looked up once (a label lookup hashes on every event).
var (
	programmingWith    = programmingSeconds.WithLabelValues("headless_with_selector")
	programmingWithout = programmingSeconds.WithLabelValues("headless_without_selector")
)
