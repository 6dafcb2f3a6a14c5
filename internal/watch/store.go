package watch

import (
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/object"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/tools/cache"
)

// Index is what the watches fill and what tells when they have synced: the
// plugin's index (internal/index).
type Index interface {
	UpdateService(s *object.Service, deleted bool)
	// UpdateSliceAt takes in a slice from watch number watch; trigger is when
	// its change began (zero: a relist, which programming latency ignores).
	UpdateSliceAt(s *object.Slice, deleted bool, watch int, trigger time.Time)
	// SetNamespace puts a namespace in or out of namespace_labels' scope.
	SetNamespace(ns string, in bool)
	MarkServicesSynced()
	MarkSynced()
	// Run builds and publishes until stop is closed.
	Run(stop <-chan struct{})
	WaitSynced(timeout time.Duration, stop <-chan struct{}) bool
}

// Nodes locates clients by their Node (the topology option).
type Nodes interface {
	Update(n *object.Node, deleted bool)
}

// Targets are where the watches deliver reduced objects: Services, slices
// and Namespaces to the index, Nodes to the store that locates clients.
type Targets struct {
	Index      Index
	Nodes      Nodes           // nil: no Node watch
	NSSelector labels.Selector // namespace_labels: Namespaces in scope (a source that cannot filter sends them all)
}

// store is the store one reflector writes to: it reduces each object
// (transform), hands it to its target and remembers what it delivered, so
// a relist (Replace) can tell the index what disappeared meanwhile.
type store struct {
	id        int
	spec      Spec
	to        Targets
	transform cache.TransformFunc
	known     map[string]any // namespace/name -> reduced object; reflector goroutine only
	synced    atomic.Bool
	health    health
	event     func()        // Hooks.Events of its resource
	codec     *object.Codec // slices: the codec that reads them, told what the watch delivers (nil: none)
}

func newStore(id int, s Spec, to Targets, hooks Hooks) *store {
	w := &store{id: id, spec: s, to: to, transform: hooks.Invalid.TransformSlice, known: map[string]any{}, event: func() {}}
	if hooks.Events != nil {
		w.event = hooks.Events(s.Resource)
	}
	w.health.failed = hooks.Failed
	switch s.Resource {
	case "services":
		w.transform = hooks.Invalid.TransformService
	case "nodes":
		w.transform = object.TransformNode
	case "namespaces":
		w.transform = object.TransformNamespace
	case "serviceimports":
		w.transform = hooks.Invalid.TransformServiceImport
	}
	return w
}

// Transformer lets the reflector reduce objects in its own temporary store
// (watch-list streaming) before they reach Replace.
func (w *store) Transformer() cache.TransformFunc { return w.transform }

func (w *store) Add(obj any) error    { return w.apply(obj, false) }
func (w *store) Update(obj any) error { return w.apply(obj, false) }
func (w *store) Delete(obj any) error { return w.apply(obj, true) }
func (w *store) Resync() error        { return nil }

// Bookmark is the API server's periodic heartbeat on an idle watch: the
// watch is alive and nothing changed.
func (w *store) Bookmark(string) error {
	w.health.heard(time.Now())
	return nil
}

// Replace is a (re)list: the full set. What the watch delivered before and
// is not in it was deleted while the watch was away.
func (w *store) Replace(list []any, _ string) error {
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

// apply handles one event of the watch stream.
func (w *store) apply(obj any, deleted bool) error {
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
	w.deliver(o, deleted, true)
	w.health.heard(time.Now())
	return nil
}

// remember tells the codec what the watch delivered (the one place it is
// told: every add, update, delete and relist passes here).
func (w *store) remember(key string, o any, deleted bool) {
	if w.codec != nil {
		w.codec.Remember(key, o, deleted)
	}
}

// deliver hands one object to its target. streamed: it came from the watch
// stream (not a relist), so its change counts for programming latency.
func (w *store) deliver(o any, deleted, streamed bool) {
	w.event()
	switch v := o.(type) {
	case *object.Service:
		w.to.Index.UpdateService(v, deleted)
	case *object.Node:
		if w.to.Nodes != nil {
			w.to.Nodes.Update(v, deleted)
		}
	case *object.Namespace:
		w.to.Index.SetNamespace(v.Name, !deleted && w.to.NSSelector != nil && w.to.NSSelector.Matches(labels.Set(v.Labels)))
	case *object.Slice:
		var trigger time.Time
		if streamed {
			trigger = triggerTime(v, deleted)
		}
		w.to.Index.UpdateSliceAt(v, deleted, w.id, trigger)
	}
}

// triggerTime is when the change a slice event carries began: the
// controller's last-change-trigger-time annotation (the pod change it
// reacts to), else now.
func triggerTime(s *object.Slice, deleted bool) time.Time {
	if !deleted {
		if v, ok := s.Annotations[object.AnnotationTriggerTime]; ok {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				return t
			}
		}
	}
	return time.Now()
}
