package watch

import (
	"sync"
	"sync/atomic"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"
)

var log = clog.NewWithPlugin("headless")

// DefaultStaleAfter is how long a watch may fail before it is logged, and
// reported, as serving the last known state.
const DefaultStaleAfter = 10 * time.Second

// Health is what a watch's calls and events say of it, at one moment.
type Health struct {
	Name      string    // Spec.Name: the metric label
	Up        bool      // the last list or watch call succeeded
	LastHeard time.Time // the last event, list or bookmark; zero: none yet
	// Stale: failing for StaleAfter or longer, so answers come from the
	// last known state; FailingSince is when it began failing.
	Stale        bool
	FailingSince time.Time
	LastError    string
}

// health is one watch's Health as it changes.
type health struct {
	spec       Spec
	staleAfter time.Duration
	failed     func()        // Hooks.Failed, or nil
	staleCount *atomic.Int32 // the watcher's count of stale watches

	lastHeard    atomic.Int64 // unix nanoseconds of the last event, list or bookmark
	up           atomic.Bool  // the last list or watch call succeeded
	mu           sync.Mutex
	failingSince time.Time // zero while up
	lastErr      string
	stale        bool        // failing for staleAfter: logged, counted in staleCount
	staleTimer   *time.Timer // armed while failing and not yet stale
	stopped      bool        // the watch is stopped: arm no timer
}

func (h *health) snapshot() Health {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := Health{Name: h.spec.Name(), Up: h.up.Load(), Stale: h.stale, FailingSince: h.failingSince, LastError: h.lastErr}
	if t := h.lastHeard.Load(); t > 0 {
		s.LastHeard = time.Unix(0, t)
	}
	return s
}

// setStale marks the watch stale or not, keeping the watcher's count.
func (h *health) setStale(stale bool) {
	if h.stale == stale {
		return
	}
	h.stale = stale
	if stale {
		h.staleCount.Add(1)
	} else {
		h.staleCount.Add(-1)
	}
}

func (h *health) heard(t time.Time) { h.lastHeard.Store(t.UnixNano()) }

// result records how a list or watch call went; a new error is logged once.
func (h *health) result(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		if !h.failingSince.IsZero() && h.stale {
			log.Infof("watch of %s is back after %s: answers are current again", h.spec, time.Since(h.failingSince).Round(time.Millisecond))
		}
		h.up.Store(true)
		h.failingSince, h.lastErr = time.Time{}, ""
		h.setStale(false)
		h.disarm()
		return
	}
	h.up.Store(false)
	h.lastErr = err.Error()
	if h.failingSince.IsZero() {
		// One line when a watch starts failing; retries are counted, not
		// logged (about one a second), and a long failure is logged by check.
		h.failingSince = time.Now()
		log.Errorf("watch of %s failed: %v", h.spec, err)
		if !h.stopped { // a timer, not a poll: a healthy watch wakes nothing
			h.staleTimer = time.AfterFunc(h.staleAfter, func() { h.check(time.Now()) })
		}
	}
	if h.failed != nil {
		h.failed()
	}
}

func (h *health) disarm() {
	if h.staleTimer != nil {
		h.staleTimer.Stop()
		h.staleTimer = nil
	}
}

// stop disarms the stale timer for good (the watch is stopped).
func (h *health) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.disarm()
}

// check marks the watch stale, and logs it once, when it has been failing
// for staleAfter.
func (h *health) check(now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failingSince.IsZero() || h.stale || now.Sub(h.failingSince) < h.staleAfter {
		return
	}
	h.setStale(true)
	last := time.Unix(0, h.lastHeard.Load())
	log.Warningf("watch of %s failing for %s: answering from the last known state (last heard %s ago); last error: %s", h.spec,
		now.Sub(h.failingSince).Round(time.Second), now.Sub(last).Round(time.Second), h.lastErr)
}
