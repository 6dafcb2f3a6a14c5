package headless

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"sync"
	"time"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// Labels and values the Kubernetes controllers put on EndpointSlices.
const (
	labelHeadless     = "service.kubernetes.io/headless"
	labelManagedBy    = discovery.LabelManagedBy
	labelServiceName  = discovery.LabelServiceName
	managerController = "endpointslice-controller.k8s.io"
)

// Service is what the index keeps of a core/v1 Service: its identity, its labels
// (per-Service policy is read from them) and whether it is headless.
type Service struct {
	meta.TypeMeta
	meta.ObjectMeta
	Headless bool
}

// DeepCopyObject implements runtime.Object.
func (s *Service) DeepCopyObject() runtime.Object {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// Slice is what the index keeps of a discovery/v1 EndpointSlice. Not-ready
// endpoints are kept with their conditions so a publish policy can use them.
type Slice struct {
	meta.TypeMeta
	meta.ObjectMeta
	Service   string // kubernetes.io/service-name
	Ports     []Port
	Endpoints []Endpoint
}

// DeepCopyObject implements runtime.Object. Slices are immutable once stored,
// so the endpoint and port slices are shared.
func (s *Slice) DeepCopyObject() runtime.Object {
	c := *s
	s.ObjectMeta.DeepCopyInto(&c.ObjectMeta)
	return &c
}

// Port is one EndpointSlice port; Port is -1 when the slice port has none.
type Port struct {
	Name     string
	Protocol string
	Port     int32
}

// Endpoint is one EndpointSlice endpoint.
type Endpoint struct {
	Addrs       []string // as written in the slice; validated in the transform
	Hostname    string
	TargetName  string // targetRef name when shorter than 64 characters
	NodeName    string
	Zone        string // lowercased, as the stock plugin compares zones
	Ready       bool   // conditions.ready true or absent
	Serving     bool   // conditions.serving true or absent
	Terminating bool
}

func condition(b *bool, absent bool) bool {
	if b == nil {
		return absent
	}
	return *b
}

// transformService keeps only what answers need of a Service.
func transformService(obj any) (any, error) {
	s, ok := obj.(*core.Service)
	if !ok {
		return obj, nil // tombstones and already transformed objects pass unchanged
	}
	return &Service{
		ObjectMeta: meta.ObjectMeta{Name: s.Name, Namespace: s.Namespace, ResourceVersion: s.ResourceVersion, Labels: s.Labels, UID: s.UID},
		Headless:   s.Spec.ClusterIP == core.ClusterIPNone,
	}, nil
}

// transformSlice keeps only what answers need of an EndpointSlice.
func transformSlice(obj any) (any, error) {
	es, ok := obj.(*discovery.EndpointSlice)
	if !ok {
		return obj, nil
	}
	return sliceFromAPI(es), nil
}

func sliceFromAPI(es *discovery.EndpointSlice) *Slice {
	s := &Slice{
		ObjectMeta: meta.ObjectMeta{Name: es.Name, Namespace: es.Namespace, ResourceVersion: es.ResourceVersion, Labels: es.Labels, CreationTimestamp: es.CreationTimestamp},
		Service:    es.Labels[labelServiceName],
	}
	if es.AddressType == discovery.AddressTypeFQDN {
		return s // FQDN slices carry no addresses to publish
	}
	if len(es.Ports) == 0 {
		s.Ports = []Port{{Port: -1}}
	} else {
		s.Ports = make([]Port, len(es.Ports))
		for i, p := range es.Ports {
			port := Port{Port: -1}
			if p.Port != nil {
				port.Port = *p.Port
			}
			if p.Name != nil {
				port.Name = *p.Name
			}
			if p.Protocol != nil {
				port.Protocol = string(*p.Protocol)
			}
			s.Ports[i] = port
		}
	}
	s.Endpoints = make([]Endpoint, 0, len(es.Endpoints))
	for _, e := range es.Endpoints {
		ep := Endpoint{
			Ready:       condition(e.Conditions.Ready, true),
			Serving:     condition(e.Conditions.Serving, condition(e.Conditions.Ready, true)),
			Terminating: condition(e.Conditions.Terminating, false),
		}
		for _, a := range e.Addresses {
			if _, err := netip.ParseAddr(a); err != nil {
				continue // the API server validates addresses; a bad one is skipped, never served
			}
			ep.Addrs = append(ep.Addrs, a)
		}
		if len(ep.Addrs) == 0 {
			continue
		}
		if e.Hostname != nil {
			ep.Hostname = *e.Hostname
		}
		if e.TargetRef != nil && len(e.TargetRef.Name) < 64 {
			ep.TargetName = e.TargetRef.Name
		}
		if e.NodeName != nil {
			ep.NodeName = *e.NodeName
		}
		if e.Zone != nil {
			ep.Zone = strings.ToLower(*e.Zone)
		}
		s.Endpoints = append(s.Endpoints, ep)
	}
	return s
}

// watchSpec is one informer: a resource, a namespace and selectors.
type watchSpec struct {
	resource  string // "services" or "endpointslices"
	namespace string // "" for all
	label     string
	field     string
}

// watchSpecs returns the watches for a set of namespaces. Services: only
// headless ones (spec.clusterIP=None). Slices: those the endpointslice
// controller made for headless Services, plus every slice that controller did
// not make (mirrored from hand-written Endpoints, or written by another
// manager), which is how selector-less headless Services get their endpoints.
// Slices of ClusterIP Services made by the controller are never received.
func watchSpecs(namespaces []string, svcSelector string, filtered bool) []watchSpec {
	if len(namespaces) == 0 {
		namespaces = []string{meta.NamespaceAll}
	}
	var specs []watchSpec
	for _, ns := range namespaces {
		if !filtered {
			// A source that cannot filter server side (the manifests' in-memory
			// clientset) gets one watch each; the transform and index filter.
			specs = append(specs,
				watchSpec{resource: "services", namespace: ns, label: svcSelector},
				watchSpec{resource: "endpointslices", namespace: ns})
			continue
		}
		specs = append(specs,
			watchSpec{resource: "services", namespace: ns, label: svcSelector, field: fields.OneTermEqualSelector("spec.clusterIP", core.ClusterIPNone).String()},
			watchSpec{resource: "endpointslices", namespace: ns, label: labelHeadless + "," + labelManagedBy + "=" + managerController},
			watchSpec{resource: "endpointslices", namespace: ns, label: labelManagedBy + "!=" + managerController},
		)
	}
	return specs
}

// source is what the informers list and watch: an API server through a
// clientset, or the manifests' in-memory object tracker.
type source struct {
	client   kubernetes.Interface
	tracker  clienttesting.ObjectTracker
	filtered bool   // label and field selectors are applied server side
	close    func() // stops what the source runs, if anything
}

// trackerLW lists and watches an object tracker. Trackers cannot stream a
// watch-list, which IsWatchListSemanticsUnSupported tells the reflector.
type trackerLW struct {
	t   clienttesting.ObjectTracker
	gvr schema.GroupVersionResource
	gvk schema.GroupVersionKind
	ns  string
}

func (l *trackerLW) List(o meta.ListOptions) (runtime.Object, error) {
	return l.t.List(l.gvr, l.gvk, l.ns, o)
}
func (l *trackerLW) Watch(o meta.ListOptions) (watch.Interface, error) {
	return l.t.Watch(l.gvr, l.ns, o)
}
func (l *trackerLW) IsWatchListSemanticsUnSupported() bool { return true }

// listWatcher is a typed client of one resource (Services, EndpointSlices).
type listWatcher[L runtime.Object] interface {
	List(context.Context, meta.ListOptions) (L, error)
	Watch(context.Context, meta.ListOptions) (watch.Interface, error)
}

// apiLW lists and watches c with the watch's selectors applied.
func apiLW[L runtime.Object](c listWatcher[L], opts func(*meta.ListOptions)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o meta.ListOptions) (runtime.Object, error) {
			opts(&o)
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
			opts(&o)
			return c.Watch(ctx, o)
		},
	}
}

// watcher runs the informers of one plugin instance and feeds the index.
type watcher struct {
	src       *source
	index     *Index
	informers []cache.SharedIndexInformer
	synced    []cache.InformerSynced // per handler: its initial list was delivered
	stop      chan struct{}
	stopOnce  sync.Once
	wg        sync.WaitGroup
}

func newWatcher(src *source, specs []watchSpec, index *Index) *watcher {
	w := &watcher{src: src, index: index, stop: make(chan struct{})}
	for _, s := range specs {
		w.informers = append(w.informers, w.informer(s))
	}
	return w
}

func (w *watcher) informer(s watchSpec) cache.SharedIndexInformer {
	opts := func(o *meta.ListOptions) {
		o.LabelSelector = s.label
		o.FieldSelector = s.field
	}
	var lw cache.ListerWatcher
	var obj runtime.Object
	var transform cache.TransformFunc
	switch s.resource {
	case "services":
		obj, transform = &core.Service{}, transformService
		if w.src.tracker != nil {
			lw = &trackerLW{w.src.tracker, core.SchemeGroupVersion.WithResource("services"), core.SchemeGroupVersion.WithKind("Service"), s.namespace}
		} else {
			lw = apiLW(w.src.client.CoreV1().Services(s.namespace), opts)
		}
	default:
		obj, transform = &discovery.EndpointSlice{}, transformSlice
		if w.src.tracker != nil {
			lw = &trackerLW{w.src.tracker, discovery.SchemeGroupVersion.WithResource("endpointslices"), discovery.SchemeGroupVersion.WithKind("EndpointSlice"), s.namespace}
		} else {
			lw = apiLW(w.src.client.DiscoveryV1().EndpointSlices(s.namespace), opts)
		}
	}
	if l, ok := lw.(*cache.ListWatch); ok {
		// The wrapper tells the reflector when the client (a fake clientset in
		// tests) cannot stream a watch-list, so it lists instead.
		lw = cache.ToListWatcherWithWatchListSemantics(l, w.src.client)
	}
	inf := cache.NewSharedIndexInformerWithOptions(lw, obj, cache.SharedIndexInformerOptions{})
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
		AddFunc:    func(o any) { w.event(resource, o, false) },
		UpdateFunc: func(_, o any) { w.event(resource, o, false) },
		DeleteFunc: func(o any) { w.event(resource, o, true) },
	})
	w.synced = append(w.synced, reg.HasSynced)
	return inf
}

func (w *watcher) event(resource string, o any, deleted bool) {
	if t, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o, deleted = t.Obj, true
	}
	watchEvents.WithLabelValues(resource).Inc()
	switch v := o.(type) {
	case *Service:
		w.index.UpdateService(v, deleted)
	case *Slice:
		w.index.UpdateSlice(v, deleted)
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
	go func() {
		defer w.wg.Done()
		// Poll every 5 ms (WaitForCacheSync polls every 100 ms): start-up and
		// readiness follow the sync closely.
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			synced := true
			for _, s := range w.synced {
				synced = synced && s()
			}
			if synced {
				w.index.MarkSynced()
				return
			}
			select {
			case <-w.stop:
				return
			case <-t.C:
			}
		}
	}()
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

func (s watchSpec) String() string {
	return fmt.Sprintf("%s ns=%q labels=%q fields=%q", s.resource, s.namespace, s.label, s.field)
}
