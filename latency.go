package headless

import "time"

// DNS programming latency: the time from an endpoint change to the moment
// its new answer is served (coredns_headless_dns_programming_duration_seconds).

// noteTrigger remembers when the oldest unpublished change of a Service
// began (zero: not measured).
func (ix *Index) noteTrigger(key string, trigger time.Time) {
	if trigger.IsZero() {
		return
	}
	if t, ok := ix.triggers[key]; !ok || trigger.Before(t) {
		ix.triggers[key] = trigger
	}
}

// observeProgramming records, for each Service just published, how long its
// change took from trigger to answer. Changes that built nothing new (an
// unchanged revision) are not published and not counted.
func (ix *Index) observeProgramming(now time.Time) {
	if !ix.isSynced.Load() {
		ix.triggers = map[string]time.Time{} // the initial list is not a change (a new map: clearing keeps its size)
		return
	}
	for key, t := range ix.triggers {
		if _, published := ix.dirty[key]; !published {
			continue // not built yet (its change is still to come) or nothing changed
		}
		delete(ix.triggers, key)
		svc := ix.services[key]
		if svc == nil {
			continue
		}
		kind := "headless_without_selector"
		if svc.Selector {
			kind = "headless_with_selector"
		}
		programmingSeconds.WithLabelValues(kind).Observe(max(now.Sub(t), 0).Seconds())
	}
	if len(ix.triggers) > 10000 {
		clear(ix.triggers) // changes that never published (filtered Services): bounded
	}
}
