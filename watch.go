package headless

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	kwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

type watchInterface = kwatch.Interface

// watchStore is the store one reflector writes to: it reduces each object
// (transform), hands it to the index and remembers what it delivered, so a
// relist (Replace) can tell the index what disappeared meanwhile.
type watchStore struct {
	id        int
	spec      watchSpec
	to        targets
	transform cache.TransformFunc
	known     map[string]any // namespace/name -> reduced object; reflector goroutine only
	synced    atomic.Bool
	health    health
	events    prometheus.Counter // watchEvents of its resource
	codec     *object.Codec      // slices: the codec that reads them, told what the watch delivers (nil: none)
}

// targets are where a watch delivers reduced objects: Services and slices
// to the index, Nodes to the store that locates clients.
type targets struct {
	index      *index.Index
	nodes      *topology.Nodes
	nsSelector labels.Selector // namespace_labels: Namespaces in scope (a source that cannot filter sends them all)
}

func newWatch(id int, s watchSpec, to targets) *watchStore {
	w := &watchStore{id: id, spec: s, to: to, transform: object.TransformSlice, known: map[string]any{},
		events: watchEvents.WithLabelValues(s.resource)}
	switch s.resource {
	case "services":
		w.transform = object.TransformService
	case "nodes":
		w.transform = object.TransformNode
	case "namespaces":
		w.transform = object.TransformNamespace
	}
	return w
}

// Transformer lets the reflector reduce objects in its own temporary store
// (watch-list streaming) before they reach Replace.
func (w *watchStore) Transformer() cache.TransformFunc { return w.transform }

func (w *watchStore) Add(obj any) error    { return w.event(obj, false, true) }
func (w *watchStore) Update(obj any) error { return w.event(obj, false, true) }
func (w *watchStore) Delete(obj any) error { return w.event(obj, true, true) }
func (w *watchStore) Resync() error        { return nil }

// Bookmark is the API server's periodic heartbeat on an idle watch: the
// watch is alive and nothing changed.
func (w *watchStore) Bookmark(string) error {
	w.health.heard(time.Now())
	return nil
}

// Replace is a (re)list: the full set. What the watch delivered before and
// is not in it was deleted while the watch was away.
func (w *watchStore) Replace(list []any, _ string) error {
	next := make(map[string]any, len(list))
	for _, o := range list {
		o, err := w.transform(o)
		if err != nil {
			return err
		}
		key, err := cache.MetaNamespaceKeyFunc(o)
		if err != nil {
			return err
		}
		next[key] = o
	}
	for key, o := range w.known {
		if _, ok := next[key]; !ok {
			w.remember(key, o, true)
			w.deliver(o, true, false)
		}
	}
	for key, o := range next {
		w.remember(key, o, false)
		w.deliver(o, false, false)
	}
	w.known = next
	w.synced.Store(true)
	w.health.heard(time.Now())
	return nil
}

// event handles one watch event (streamed: from the watch stream).
func (w *watchStore) event(obj any, deleted, streamed bool) error {
	o, err := w.transform(obj)
	if err != nil {
		return err
	}
	key, err := cache.MetaNamespaceKeyFunc(o)
	if err != nil {
		return err
	}
	if deleted {
		delete(w.known, key)
	} else {
		w.known[key] = o
	}
	w.remember(key, o, deleted)
	w.deliver(o, deleted, streamed)
	w.health.heard(time.Now())
	return nil
}

// remember tells the codec what the watch delivered (the one place it is
// told: every add, update, delete and relist passes here).
func (w *watchStore) remember(key string, o any, deleted bool) {
	if w.codec != nil {
		w.codec.Remember(key, o, deleted)
	}
}

// deliver hands one object to its target. streamed: it came from the watch
// stream (not a relist), so its change counts for programming latency.
func (w *watchStore) deliver(o any, deleted, streamed bool) {
	w.events.Inc()
	switch v := o.(type) {
	case *object.Service:
		w.to.index.UpdateService(v, deleted)
	case *object.Node:
		if w.to.nodes != nil {
			w.to.nodes.Update(v, deleted)
		}
	case *object.Namespace:
		w.to.index.SetNamespace(v.Name, !deleted && w.to.nsSelector != nil && w.to.nsSelector.Matches(labels.Set(v.Labels)))
	case *object.Slice:
		var trigger time.Time
		if streamed {
			trigger = triggerTime(v, deleted)
		}
		w.to.index.UpdateSliceAt(v, deleted, w.id, trigger)
	}
}

// triggerTime is when the change a slice event carries began: the
// controller's last-change-trigger-time annotation (the pod change it
// reacts to), else now.
func triggerTime(s *object.Slice, deleted bool) time.Time {
	if !deleted {
		if v, ok := s.Annotations[annotationTriggerTime]; ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}
	return time.Now()
}

const annotationTriggerTime = "endpoints.kubernetes.io/last-change-trigger-time"

// staleAfter is how long a watch may fail before it is logged as serving
// the last known state.
var staleAfter = 10 * time.Second

// health is what a watch's calls and events say of it.
type health struct {
	lastHeard    atomic.Int64 // unix nanoseconds of the last event, list or bookmark
	up           atomic.Bool  // the last list or watch call succeeded
	mu           sync.Mutex
	failingSince time.Time // zero while up
	lastErr      string
	loggedStale  bool
	stale        *time.Timer   // armed while failing: logs once staleAfter has passed
	stopped      bool          // the watch is stopped: arm no timer
	staleCount   *atomic.Int32 // the watcher's count of watches serving the last known state
}

// staleSince reports since when the watch has been failing, once that is
// longer than staleAfter.
func (h *health) staleSince() (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failingSince, h.loggedStale
}

// setStale marks the watch stale or not, keeping the watcher's count.
func (h *health) setStale(stale bool) {
	if h.loggedStale == stale {
		return
	}
	h.loggedStale = stale
	if h.staleCount != nil {
		if stale {
			h.staleCount.Add(1)
		} else {
			h.staleCount.Add(-1)
		}
	}
}

func (h *health) heard(t time.Time) { h.lastHeard.Store(t.UnixNano()) }

// result records how a list or watch call went; a new error is logged once.
func (h *health) result(s watchSpec, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err == nil {
		if !h.failingSince.IsZero() && h.loggedStale {
			log.Infof("watch of %s is back after %s: answers are current again", s, time.Since(h.failingSince).Round(time.Millisecond))
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
		log.Errorf("watch of %s failed: %v", s, err)
		if !h.stopped { // a timer, not a poll: a healthy watch wakes nothing
			h.stale = time.AfterFunc(staleAfter, func() { h.check(s, time.Now()) })
		}
	}
	watchFailures.Inc()
}

func (h *health) disarm() {
	if h.stale != nil {
		h.stale.Stop()
		h.stale = nil
	}
}

// stop disarms the stale timer for good (the watch is stopped).
func (h *health) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	h.disarm()
}

// check logs once when the watch has been failing for staleAfter.
func (h *health) check(s watchSpec, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failingSince.IsZero() || h.loggedStale || now.Sub(h.failingSince) < staleAfter {
		return
	}
	h.setStale(true)
	last := time.Unix(0, h.lastHeard.Load())
	log.Warningf("watch of %s failing for %s: answering from the last known state (last heard %s ago); last error: %s", s,
		now.Sub(h.failingSince).Round(time.Second), now.Sub(last).Round(time.Second), h.lastErr)
}
