package headless

import (
	"errors"
	"io"
	"sync"
	"time"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// watcher runs the informers of one plugin instance and feeds the index.
type watcher struct {
	index     *Index
	informers []cache.SharedIndexInformer
	svcSynced []cache.InformerSynced // per Service handler: its initial list was delivered
	synced    []cache.InformerSynced // per handler
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

func newWatcher(src source, specs []watchSpec, index *Index) *watcher {
	w := &watcher{index: index, stop: make(chan struct{})}
	for id, s := range specs {
		w.informers = append(w.informers, w.informer(src, id, s))
	}
	return w
}

// informer runs one watch; id tells its events apart from other watches'.
func (w *watcher) informer(src source, id int, s watchSpec) cache.SharedIndexInformer {
	var obj runtime.Object = &discovery.EndpointSlice{}
	transform := transformSlice
	if s.resource == "services" {
		obj, transform = &core.Service{}, transformService
	}
	inf := cache.NewSharedIndexInformerWithOptions(src.ListerWatcher(s), obj, cache.SharedIndexInformerOptions{})
	_ = inf.SetTransform(transform)
	// Watch failures are logged by this plugin, naming the watch: klog is
	// global and another plugin (kubernetes) may have taken its output.
	_ = inf.SetWatchErrorHandler(func(_ *cache.Reflector, err error) {
		switch {
		case errors.Is(err, io.EOF), apierrors.IsResourceExpired(err), apierrors.IsGone(err):
			// a watch closed or expired: the reflector re-watches or relists
		case errors.Is(err, io.ErrUnexpectedEOF):
			log.Debugf("watch of %s closed unexpectedly: %v", s, err)
		default:
			log.Errorf("watch of %s failed: %v", s, err)
		}
	})
	resource := s.resource
	reg, _ := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { w.event(resource, id, o, false) },
		UpdateFunc: func(_, o any) { w.event(resource, id, o, false) },
		DeleteFunc: func(o any) { w.event(resource, id, o, true) },
	})
	w.synced = append(w.synced, reg.HasSynced)
	if resource == "services" {
		w.svcSynced = append(w.svcSynced, reg.HasSynced)
	}
	return inf
}

func (w *watcher) event(resource string, id int, o any, deleted bool) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o, deleted = t.Obj, true
	}
	watchEvents.WithLabelValues(resource).Inc()
	switch v := o.(type) {
	case *Service:
		w.index.UpdateService(v, deleted)
	case *Slice:
		w.index.UpdateSlice(v, deleted, id)
	}
}

// Start runs every informer and the index builder.
func (w *watcher) Start() {
	for _, inf := range w.informers {
		w.wg.Add(1)
		go func() { defer w.wg.Done(); inf.Run(w.stop) }()
	}
	w.wg.Add(2)
	go func() { defer w.wg.Done(); w.index.Run(w.stop) }()
	go func() { defer w.wg.Done(); w.waitSync() }()
}

// waitSync tells the index when the Service watches, then all watches, have
// delivered their initial lists. It polls every 5 ms (WaitForCacheSync polls
// every 100 ms): start-up and readiness follow the sync closely.
func (w *watcher) waitSync() {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	svcDone := false
	for {
		if !svcDone && all(w.svcSynced) {
			w.index.MarkServicesSynced()
			svcDone = true
		}
		if all(w.synced) {
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

func all(fs []cache.InformerSynced) bool {
	for _, f := range fs {
		if !f() {
			return false
		}
	}
	return true
}

// WaitSynced waits until the index is built from a full sync or timeout passes.
func (w *watcher) WaitSynced(timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.index.synced:
		return true
	case <-t.C:
		return false
	case <-w.stop:
		return false
	}
}

// Stop ends every informer and waits for their goroutines.
func (w *watcher) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.wg.Wait()
}
