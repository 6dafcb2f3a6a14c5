package index

import "time"

// DNS programming latency: the time from an endpoint change to the moment
// its new answer is served (the plugin reports it through Hooks.Programmed).
// That moment is when the index takes the change in: from then on every read
// publishes it first if the builder has not yet (publishPending), so no answer
// given after it can miss the change.

// noteTrigger records the programming latency of a streamed change to a
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
	if h := ix.opts.Hooks.Programmed; h != nil {
		h(max(time.Since(trigger), 0), svc.Selector)
	}
}
