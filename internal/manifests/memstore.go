package manifests

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

// memStore is a minimal API server in memory for the manifests: objects by
// "resource/namespace/name", one resource version counter, and watches that
// start at the current version. A watch asked to start at another version
// gets 410 Gone and the reflector lists again, as with a real API server.
type memStore struct {
	mu       sync.Mutex
	rv       uint64
	objs     map[string]runtime.Object
	watchers map[*memWatch]struct{}
}

func newMemStore() *memStore {
	return &memStore{objs: map[string]runtime.Object{}, watchers: map[*memWatch]struct{}{}}
}

// apply creates, updates or (o nil) deletes the object at key.
func (s *memStore) apply(key string, o runtime.Object) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, had := s.objs[key]
	if o == nil && !had {
		return
	}
	s.rv++
	ev := watch.Event{Type: watch.Added, Object: o}
	switch {
	case o == nil:
		ev = watch.Event{Type: watch.Deleted, Object: old}
		delete(s.objs, key)
	case had:
		ev.Type = watch.Modified
	}
	if o != nil {
		o.(metav1.Object).SetResourceVersion(strconv.FormatUint(s.rv, 10))
		s.objs[key] = o
	}
	resource, rest, _ := strings.Cut(key, "/")
	ns, _, _ := strings.Cut(rest, "/")
	for w := range s.watchers {
		if w.resource == resource && (w.namespace == "" || w.namespace == ns) {
			w.send(ev)
		}
	}
}

// get returns a copy of the object at key, or nil.
// raw is the stored object itself (not to be written to), or nil.
func (s *memStore) raw(key string) runtime.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.objs[key]
}

// keys are the stored objects' keys, sorted.
func (s *memStore) keys() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.objs))
	for k := range s.objs {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (s *memStore) get(key string) runtime.Object {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o, ok := s.objs[key]; ok {
		return o.DeepCopyObject()
	}
	return nil
}

// memLW lists and watches one resource of a memStore.
type memLW struct {
	store     *memStore
	resource  string
	namespace string
}

func (l *memLW) List(metav1.ListOptions) (runtime.Object, error) {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	rv := strconv.FormatUint(s.rv, 10)
	var svcs core.ServiceList
	var eps discovery.EndpointSliceList
	var nodes core.NodeList
	var nss core.NamespaceList
	var imports mcsv1beta1.ServiceImportList
	imports.ResourceVersion = rv
	svcs.ResourceVersion, eps.ResourceVersion, nodes.ResourceVersion, nss.ResourceVersion = rv, rv, rv, rv
	for key, o := range s.objs {
		resource, rest, _ := strings.Cut(key, "/")
		ns, _, _ := strings.Cut(rest, "/")
		if resource != l.resource || (l.namespace != "" && l.namespace != ns) {
			continue
		}
		switch v := o.(type) {
		case *core.Service:
			svcs.Items = append(svcs.Items, *v)
		case *discovery.EndpointSlice:
			eps.Items = append(eps.Items, *v)
		case *core.Node:
			nodes.Items = append(nodes.Items, *v)
		case *core.Namespace:
			nss.Items = append(nss.Items, *v)
		case *mcsv1beta1.ServiceImport:
			imports.Items = append(imports.Items, *v)
		}
	}
	switch l.resource {
	case "services":
		return &svcs, nil
	case "nodes":
		return &nodes, nil
	case "namespaces":
		return &nss, nil
	case "serviceimports":
		return &imports, nil
	}
	return &eps, nil
}

func (l *memLW) Watch(o metav1.ListOptions) (watch.Interface, error) {
	s := l.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if o.ResourceVersion != strconv.FormatUint(s.rv, 10) {
		return nil, apierrors.NewResourceExpired("resource version changed since the list")
	}
	w := &memWatch{store: s, resource: l.resource, namespace: l.namespace, ch: make(chan watch.Event, 1024)}
	s.watchers[w] = struct{}{}
	return w, nil
}

// IsWatchListSemanticsUnSupported tells the reflector to list, then watch.
func (l *memLW) IsWatchListSemanticsUnSupported() bool { return true }

// memWatch is one watch of a memStore.
type memWatch struct {
	store     *memStore
	resource  string
	namespace string
	ch        chan watch.Event
	closed    bool // under store.mu
}

// send delivers an event, under store.mu. A watcher too slow to take it is
// closed: its reflector watches again, gets 410 Gone and lists.
func (w *memWatch) send(ev watch.Event) {
	select {
	case w.ch <- ev:
	default:
		w.closeLocked()
	}
}

func (w *memWatch) closeLocked() {
	if !w.closed {
		w.closed = true
		delete(w.store.watchers, w)
		close(w.ch)
	}
}

func (w *memWatch) Stop() {
	w.store.mu.Lock()
	defer w.store.mu.Unlock()
	w.closeLocked()
}

func (w *memWatch) ResultChan() <-chan watch.Event { return w.ch }
