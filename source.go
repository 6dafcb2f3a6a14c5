package headless

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/coredns/coredns/coremain"
	"github.com/headlessdns/headless/internal/manifests"
	"github.com/headlessdns/headless/internal/object"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	discoveryv1 "k8s.io/client-go/kubernetes/typed/discovery/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// source is what the watches list and watch: a real API server, or the
// in-memory cluster of the manifests option.
type source interface {
	// ListerWatcher lists and watches one watch's objects.
	ListerWatcher(w watchSpec) cache.ListerWatcher
	// Filtered reports whether label and field selectors are applied at the
	// source (else every object arrives and the index filters).
	Filtered() bool
	// Codec is the codec that reads the source's EndpointSlices, which the
	// slice watches tell what they delivered; nil when the source has none.
	Codec() *object.Codec
	// Service fetches one Service, whatever its type ((nil, nil): none), for
	// the explain option: a list with a name field selector, which the
	// watches' list permission allows.
	Service(ctx context.Context, namespace, name string) (*core.Service, error)
	// Close stops what the source runs.
	Close()
}

// watchSpec is one watch: a resource, a namespace and selectors.
type watchSpec struct {
	resource  string // "services", "endpointslices", "nodes" or "namespaces"
	namespace string // "" for all
	label     string
	field     string
}

// name is the watch's metric label: resource, which slices, namespace.
func (s watchSpec) name() string {
	n := s.resource
	switch {
	case strings.HasPrefix(s.label, object.LabelHeadless):
		n += "/controller"
	case strings.HasPrefix(s.label, object.LabelManagedBy+"!="):
		n += "/other"
	}
	if s.namespace != "" {
		n += "@" + s.namespace
	}
	return n
}

func (s watchSpec) String() string {
	return fmt.Sprintf("%s ns=%q labels=%q fields=%q", s.resource, s.namespace, s.label, s.field)
}

// watchSpecs returns the watches for a set of namespaces. Services: only
// headless ones (spec.clusterIP=None). Slices: those the endpointslice
// controller made for headless Services, plus every slice that controller did
// not make (mirrored from hand-written Endpoints, or written by another
// manager), which is how selector-less headless Services get their endpoints.
// Slices of ClusterIP Services made by the controller are never received.
// With nodes (the topology option) Nodes are watched too, to locate clients.
func watchSpecs(namespaces []string, svcSelector string, filtered, nodes bool) []watchSpec {
	if len(namespaces) == 0 {
		namespaces = []string{meta.NamespaceAll}
	}
	var specs []watchSpec
	if nodes {
		specs = append(specs, watchSpec{resource: "nodes"})
	}
	for _, ns := range namespaces {
		if !filtered {
			specs = append(specs,
				watchSpec{resource: "services", namespace: ns, label: svcSelector},
				watchSpec{resource: "endpointslices", namespace: ns})
			continue
		}
		specs = append(specs,
			watchSpec{resource: "services", namespace: ns, label: svcSelector, field: fields.OneTermEqualSelector("spec.clusterIP", core.ClusterIPNone).String()},
			watchSpec{resource: "endpointslices", namespace: ns, label: object.LabelHeadless + "," + object.LabelManagedBy + "=" + object.ManagerController},
			watchSpec{resource: "endpointslices", namespace: ns, label: object.LabelManagedBy + "!=" + object.ManagerController},
		)
	}
	return specs
}

// apiSource watches an API server through a clientset (or a fake one in
// tests, which cannot filter: filtered false).
type apiSource struct {
	client   kubernetes.Interface
	slices   discoveryv1.EndpointSlicesGetter // reads watch events straight into Slices (the codec's); nil: client's
	codec    *object.Codec                    // reads slices; nil with a fake client
	filtered bool
	http     *http.Client // nil in tests with a fake client
}

func (s *apiSource) Filtered() bool { return s.filtered }

func (s *apiSource) Codec() *object.Codec { return s.codec }

func (s *apiSource) Service(ctx context.Context, namespace, name string) (*core.Service, error) {
	l, err := s.client.CoreV1().Services(namespace).List(ctx, meta.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return nil, err
	}
	for i := range l.Items { // (a fake clientset ignores field selectors)
		if l.Items[i].Name == name {
			return &l.Items[i], nil
		}
	}
	return nil, nil
}

// Close lets the idle connections go once the watches have stopped (a
// transport client-go shares between instances keeps its busy ones).
func (s *apiSource) Close() {
	if s.http != nil {
		s.http.CloseIdleConnections()
	}
}

func (s *apiSource) ListerWatcher(w watchSpec) cache.ListerWatcher {
	opts := func(o *meta.ListOptions) {
		o.LabelSelector = w.label
		o.FieldSelector = w.field
	}
	var lw *cache.ListWatch
	switch {
	case w.resource == "services":
		lw = typedLW(s.client.CoreV1().Services(w.namespace), opts)
	case w.resource == "nodes":
		lw = typedLW(s.client.CoreV1().Nodes(), opts)
	case w.resource == "namespaces":
		lw = typedLW(s.client.CoreV1().Namespaces(), opts)
	case s.slices != nil:
		lw = typedLW(s.slices.EndpointSlices(w.namespace), opts)
	default:
		lw = typedLW(s.client.DiscoveryV1().EndpointSlices(w.namespace), opts)
	}
	// The wrapper tells the reflector when the client (a fake clientset in
	// tests) cannot stream a watch-list, so it lists instead.
	return cache.ToListWatcherWithWatchListSemantics(lw, s.client)
}

// typedClient is a typed client of one resource (Services, EndpointSlices).
type typedClient[L kruntime.Object] interface {
	List(context.Context, meta.ListOptions) (L, error)
	Watch(context.Context, meta.ListOptions) (watch.Interface, error)
}

// typedLW lists and watches c with the watch's selectors applied.
func typedLW[L kruntime.Object](c typedClient[L], opts func(*meta.ListOptions)) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o meta.ListOptions) (kruntime.Object, error) {
			opts(&o)
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o meta.ListOptions) (watch.Interface, error) {
			opts(&o)
			return c.Watch(ctx, o)
		},
	}
}

// sourceFor returns what the Corefile asks to watch: the manifests'
// in-memory cluster, or an API server from a kubeconfig (with endpoint
// overriding its server), an endpoint URL, or the in-cluster config.
func sourceFor(cfg config) (source, error) {
	if len(cfg.manifests) > 0 {
		m, err := manifests.NewSource(cfg.manifests, cfg.loaded)
		if err != nil {
			return nil, err
		}
		return manifestSource{m}, nil
	}
	var rc *rest.Config
	var err error
	switch {
	case cfg.kubeconfig != "":
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.kubeconfig}
		over := &clientcmd.ConfigOverrides{CurrentContext: cfg.context}
		if cfg.endpoint != "" {
			over.ClusterInfo.Server = cfg.endpoint
		}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
	case cfg.endpoint != "":
		rc = &rest.Config{Host: cfg.endpoint}
	default:
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, err
	}
	cfg.client.apply(rc)
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	// Inflating a gzip watch stream was half of decoding an EndpointSlice
	// event (and the API server spends as much compressing it); a DNS
	// server next to its API server has the bandwidth for plain protobuf.
	rc.DisableCompression = !cfg.compression
	if tc, err := rest.TLSConfigFor(rc); err == nil && tc == nil && rc.DisableCompression && rc.Dial == nil {
		// client-go hands a config without TLS settings (a plain http
		// endpoint) Go's default transport, which asks for gzip whatever
		// the config says; a dialer of our own gets it its own transport
		// (not shared: Close lets its connections go)
		rc.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	rc.UserAgent = fmt.Sprintf("%s/%s headless (%s/%s/%s)", coremain.CoreName, coremain.CoreVersion, runtime.GOOS, runtime.GOARCH, runtime.Version())
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		return nil, err
	}
	client, err := kubernetes.NewForConfigAndClient(rc, hc)
	if err != nil {
		return nil, err
	}
	// the EndpointSlice client of the same config, its decoder ours
	sc := *rc
	gv := discovery.SchemeGroupVersion
	sc.GroupVersion, sc.APIPath = &gv, "/apis"
	codec := object.NewCodec()
	sc.NegotiatedSerializer = codec.Serializer(rest.CodecFactoryForGeneratedClient(scheme.Scheme, scheme.Codecs).WithoutConversion())
	src, err := rest.RESTClientForConfigAndClient(&sc, hc)
	if err != nil {
		return nil, err
	}
	return &apiSource{client: client, slices: discoveryv1.New(src), codec: codec, filtered: true, http: hc}, nil
}

// manifestSource serves the manifests' in-memory cluster. It applies no
// selector (every object arrives, the transforms and index filter) and
// reads no protobuf.
type manifestSource struct{ *manifests.Source }

func (m manifestSource) ListerWatcher(w watchSpec) cache.ListerWatcher {
	return m.Source.ListerWatcher(w.resource, w.namespace)
}

func (manifestSource) Filtered() bool { return false }

func (manifestSource) Codec() *object.Codec { return nil }

func (m manifestSource) Service(_ context.Context, namespace, name string) (*core.Service, error) {
	svc, _ := m.Source.Object("services", namespace, name).(*core.Service)
	return svc, nil
}
