package watch

import (
	"context"
	"errors"
	"math"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/object"
	core "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	kwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

// reflectorBackoff paces a watch's retries after a failed list or watch:
// 200 ms doubling to 1 s, with up to 50 % jitter (so at most 1.5 s between
// tries, about one request a second per watch while the API is down), reset
// after two minutes of health. client-go's default (0.8 s doubling to 30 s)
// leaves changes made during an outage unserved for up to a minute after the
// API returns; 429 answers are retried by the REST client after their
// Retry-After, before the reflector sees an error.
var reflectorBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.5, Cap: time.Second, Steps: math.MaxInt32}

// Hooks are told what the watches do (the plugin's metrics); a nil hook
// is not called.
type Hooks struct {
	// Events returns what each event of a watch of resource calls: it is
	// asked once per watch, not per event.
	Events func(resource string) func()
	// Failed is called for every failed list or watch call.
	Failed func()
	// Invalid is told of every part of an object skipped because the API
	// server would have rejected it.
	Invalid object.Counter
}

// Options are a Watcher's settings beyond its source and targets.
type Options struct {
	Hooks Hooks
	// StaleAfter is how long a watch may fail before it counts as stale
	// (answers from the last known state); 0 is DefaultStaleAfter.
	StaleAfter time.Duration
}

// Watcher runs the reflectors of one plugin instance. Each reflector feeds
// its store (a cache.ReflectorStore of ours) which hands objects straight to
// the index: no informer cache or delta queue holds a second copy.
type Watcher struct {
	index      Index
	watches    []*store
	reflectors []*cache.Reflector
	stop       chan struct{}
	stopOnce   sync.Once
	stale      atomic.Int32 // watches failing for StaleAfter: answers come from the last known state
	wg         sync.WaitGroup
}

// New makes the watches of specs, reading from src and delivering to to.
// Nothing runs until Start.
func New(src Source, specs []Spec, to Targets, opts Options) *Watcher {
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = DefaultStaleAfter
	}
	w := &Watcher{index: to.Index, stop: make(chan struct{})}
	for id, s := range specs {
		wt := newStore(id, s, to, opts.Hooks)
		wt.health.spec, wt.health.staleAfter, wt.health.staleCount = s, opts.StaleAfter, &w.stale
		if s.Resource == "endpointslices" {
			wt.codec = src.Codec() // nil when the source reads no slice itself
			if wt.codec != nil {
				wt.codec.Invalid = opts.Hooks.Invalid
			}
		}
		// a slice watch's events are API objects or, read by the codec,
		// Slices: no one type to expect
		var obj runtime.Object
		switch s.Resource {
		case "services":
			obj = &core.Service{}
		case "nodes":
			obj = &core.Node{}
		case "namespaces":
			obj = &core.Namespace{}
		case "serviceimports":
			obj = &mcsv1beta1.ServiceImport{}
			if s.Version == "v1alpha1" {
				obj = &mcsv1alpha1.ServiceImport{}
			}
		}
		lw := &observedLW{inner: src.ListerWatcher(s), health: &wt.health}
		r := cache.NewReflectorWithOptions(lw, obj, wt, cache.ReflectorOptions{
			Name: "headless " + s.String(), TypeDescription: s.Resource, Backoff: &reflectorBackoff,
		})
		w.watches = append(w.watches, wt)
		w.reflectors = append(w.reflectors, r)
	}
	return w
}

// Health is every watch's health, in the order of the specs.
func (w *Watcher) Health() []Health {
	out := make([]Health, len(w.watches))
	for i, wt := range w.watches {
		out[i] = wt.health.snapshot()
	}
	return out
}

// Stale is the first stale watch's health; false while none is stale (one
// atomic load).
func (w *Watcher) Stale() (Health, bool) {
	if w.stale.Load() == 0 {
		return Health{}, false
	}
	for _, wt := range w.watches {
		if h := wt.health.snapshot(); h.Stale {
			return h, true
		}
	}
	return Health{}, false
}

// Start runs every reflector and the index builder.
func (w *Watcher) Start() {
	for _, r := range w.reflectors {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); r.Run(w.stop) }()
	}
	w.wg.Add(2)
	go func() { defer w.wg.Done(); w.index.Run(w.stop) }()
	go func() { defer w.wg.Done(); w.waitSync() }()
}

// waitSync tells the index when the Service watches, then all watches, have
// delivered their initial lists. It polls every 5 ms: start-up and readiness
// follow the sync closely.
func (w *Watcher) waitSync() {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	svcDone := false
	for {
		svcs, all := true, true
		for _, wt := range w.watches {
			if wt.spec.Resource == "nodes" {
				continue // locates clients only: never holds answers back (topology order waits for it)
			}
			synced := wt.synced.Load()
			all = all && synced
			if r := wt.spec.Resource; r == "services" || r == "serviceimports" || r == "namespaces" { // which Services are served
				svcs = svcs && synced
			}
		}
		if svcs && !svcDone {
			w.index.MarkServicesSynced()
			svcDone = true
		}
		if all {
			w.index.MarkSynced()
			return
		}
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
	}
}

// WaitSynced waits until the index holds a full sync (true) or timeout
// passes (false).
func (w *Watcher) WaitSynced(timeout time.Duration) bool {
	return w.index.WaitSynced(timeout, w.stop)
}

// Stop ends every reflector and waits for their goroutines.
func (w *Watcher) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.wg.Wait()
	for _, wt := range w.watches {
		wt.health.stop()
	}
}

// observedLW lists and watches through the source and tells the watch's
// health how each call went. It keeps the source's watch-list capability.
type observedLW struct {
	inner  cache.ListerWatcher
	health *health
}

func (l *observedLW) List(o meta.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), o)
}

func (l *observedLW) Watch(o meta.ListOptions) (kwatch.Interface, error) {
	return l.WatchWithContext(context.Background(), o)
}

func (l *observedLW) ListWithContext(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
	obj, err := cache.ToListerWatcherWithContext(l.inner).ListWithContext(ctx, o)
	l.health.result(err)
	honourRetryAfter(ctx, err)
	return obj, err
}

func (l *observedLW) WatchWithContext(ctx context.Context, o meta.ListOptions) (kwatch.Interface, error) {
	wi, err := cache.ToListerWatcherWithContext(l.inner).WatchWithContext(ctx, o)
	if err == nil && reflect.TypeOf(wi) == emptyWatch {
		// client-go's answer when its retries of a connection that keeps
		// failing (reset, EOF, timeout) run out: no error, a watch that ends
		// at once. The reflector watches again; the watch is failing.
		l.health.result(errConnectionLost)
		return wi, nil
	}
	l.health.result(err)
	honourRetryAfter(ctx, err)
	return wi, err
}

// emptyWatch is the type of client-go's watch.NewEmptyWatch.
var emptyWatch = reflect.TypeOf(kwatch.NewEmptyWatch())

var errConnectionLost = errors.New("the connection to the API server keeps failing (reset, EOF or timeout): client-go's retries of the watch call ran out")

// maxRetryAfter bounds how long a server's Retry-After holds a watch back.
const maxRetryAfter = 30 * time.Second

// honourRetryAfter waits as long as an API server answer (429, 503) asked,
// at most maxRetryAfter, before the reflector's own backoff: a recovering
// API server that sheds load is not retried sooner than it asks.
func honourRetryAfter(ctx context.Context, err error) {
	if err == nil {
		return
	}
	secs, ok := apierrors.SuggestsClientDelay(err)
	if !ok || secs <= 0 {
		return
	}
	t := time.NewTimer(min(time.Duration(secs)*time.Second, maxRetryAfter))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// IsWatchListSemanticsUnSupported passes on whether the source can stream a
// watch-list (a fake clientset or the manifests cannot: the reflector lists).
func (l *observedLW) IsWatchListSemanticsUnSupported() bool {
	u, ok := l.inner.(interface{ IsWatchListSemanticsUnSupported() bool })
	return ok && u.IsWatchListSemanticsUnSupported()
}
