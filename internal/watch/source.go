package watch

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/manifests"
	"github.com/headlessdns/headless/internal/object"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

// Source is what the watches list and watch: a real API server, or the
// in-memory cluster of the manifests option.
type Source interface {
	// ListerWatcher lists and watches one watch's objects.
	ListerWatcher(w Spec) cache.ListerWatcher
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
	// ImportVersion is the version of multicluster.x-k8s.io ServiceImports
	// the source serves: v1beta1 where it is served, else v1alpha1; "" when
	// neither is (the MCS CRD is not installed).
	ImportVersion(ctx context.Context) (string, error)
	// ClusterID is this cluster's ID as the About API gives it: the value
	// of the ClusterProperty cluster.clusterset.k8s.io (about.k8s.io
	// v1alpha1, KEP-2149); "" when there is none or the CRD is not installed.
	ClusterID(ctx context.Context) (string, error)
	// Close stops what the source runs.
	Close()
}

// Spec is one watch: a resource, a namespace and selectors.
type Spec struct {
	Resource  string // "services", "endpointslices", "nodes", "namespaces" or "serviceimports"
	Version   string // serviceimports: the API version watched (v1beta1, v1alpha1)
	Namespace string // "" for all
	Label     string
	Field     string
}

// Name is the watch's metric label: resource, which slices, namespace.
func (s Spec) Name() string {
	n := s.Resource
	switch {
	case strings.HasPrefix(s.Label, object.LabelHeadless):
		n += "/controller"
	case strings.HasPrefix(s.Label, object.LabelManagedBy+"!="):
		n += "/other"
	case s.Label == object.LabelMCSService:
		n += "/imported"
	}
	if s.Namespace != "" {
		n += "@" + s.Namespace
	}
	return n
}

func (s Spec) String() string {
	return fmt.Sprintf("%s ns=%q labels=%q fields=%q", s.Resource, s.Namespace, s.Label, s.Field)
}

// Specs returns the watches for a set of namespaces. Services: only
// headless ones (spec.clusterIP=None). Slices: those the endpointslice
// controller made for headless Services, plus every slice that controller did
// not make (mirrored from hand-written Endpoints, or written by another
// manager), which is how selector-less headless Services get their endpoints.
// Slices of ClusterIP Services made by the controller are never received.
// With nodes (the topology option) Nodes are watched too, to locate clients.
// Slices labelled multicluster.kubernetes.io/service-name (an MCS
// controller's, for a ServiceImport) are never received here: they belong to
// the clusterset zone alone (ImportSpecs), even when they also name a local
// Service (an implementation's derived Service).
func Specs(namespaces []string, svcSelector string, filtered, nodes bool) []Spec {
	if len(namespaces) == 0 {
		namespaces = []string{meta.NamespaceAll}
	}
	var specs []Spec
	if nodes {
		specs = append(specs, Spec{Resource: "nodes"})
	}
	for _, ns := range namespaces {
		if !filtered {
			specs = append(specs,
				Spec{Resource: "services", Namespace: ns, Label: svcSelector},
				Spec{Resource: "endpointslices", Namespace: ns})
			continue
		}
		specs = append(specs,
			Spec{Resource: "services", Namespace: ns, Label: svcSelector, Field: fields.OneTermEqualSelector("spec.clusterIP", core.ClusterIPNone).String()},
			Spec{Resource: "endpointslices", Namespace: ns, Label: object.LabelHeadless + "," + object.LabelManagedBy + "=" + object.ManagerController + notImported},
			Spec{Resource: "endpointslices", Namespace: ns, Label: object.LabelManagedBy + "!=" + object.ManagerController + notImported},
		)
	}
	return specs
}

// notImported excludes the slices of ServiceImports from a selector.
const notImported = ",!" + object.LabelMCSService

// ImportSpecs returns the watches of the clusterset zone (the multicluster
// option): ServiceImports of the given API version, and the slices labelled
// multicluster.kubernetes.io/service-name.
func ImportSpecs(namespaces []string, svcSelector, version string) []Spec {
	if len(namespaces) == 0 {
		namespaces = []string{meta.NamespaceAll}
	}
	var specs []Spec
	for _, ns := range namespaces {
		specs = append(specs,
			Spec{Resource: "serviceimports", Version: version, Namespace: ns, Label: svcSelector},
			Spec{Resource: "endpointslices", Namespace: ns, Label: object.LabelMCSService})
	}
	return specs
}

// apiSource watches an API server through a clientset (or a fake one in
// tests, which cannot filter: filtered false).
type apiSource struct {
	client   kubernetes.Interface
	mcs      mcsclient.Interface              // ServiceImports (JSON: a CRD has no protobuf); nil with a fake client
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

func (s *apiSource) ListerWatcher(w Spec) cache.ListerWatcher {
	opts := func(o *meta.ListOptions) {
		o.LabelSelector = w.Label
		o.FieldSelector = w.Field
	}
	var lw *cache.ListWatch
	switch {
	case w.Resource == "services":
		lw = typedLW(s.client.CoreV1().Services(w.Namespace), opts)
	case w.Resource == "nodes":
		lw = typedLW(s.client.CoreV1().Nodes(), opts)
	case w.Resource == "namespaces":
		lw = typedLW(s.client.CoreV1().Namespaces(), opts)
	case w.Resource == "serviceimports" && s.mcs == nil:
		return failingLW{fmt.Errorf("no client for %s", w.Resource)}
	case w.Resource == "serviceimports" && w.Version == "v1alpha1":
		lw = typedLW(s.mcs.MulticlusterV1alpha1().ServiceImports(w.Namespace), opts)
	case w.Resource == "serviceimports":
		lw = typedLW(s.mcs.MulticlusterV1beta1().ServiceImports(w.Namespace), opts)
	case s.slices != nil:
		lw = typedLW(s.slices.EndpointSlices(w.Namespace), opts)
	default:
		lw = typedLW(s.client.DiscoveryV1().EndpointSlices(w.Namespace), opts)
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

// FromManifests serves the manifests' in-memory cluster (loaded: what the
// Corefile's parse read of them, or nil).
func FromManifests(paths []string, loaded *manifests.Loaded) (Source, error) {
	m, err := manifests.NewSource(paths, loaded)
	if err != nil {
		return nil, err
	}
	return manifestSource{m}, nil
}

// FromClient watches through a clientset that applies no selector (a fake
// one in tests): every object arrives and the index filters.
func FromClient(client kubernetes.Interface) Source { return &apiSource{client: client} }

// FromAPI connects to an API server: from a kubeconfig (with the endpoint
// overriding its server), an endpoint URL, or the in-cluster config.
func FromAPI(cfg Client) (Source, error) {
	var rc *rest.Config
	var err error
	switch {
	case cfg.Kubeconfig != "":
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.Kubeconfig}
		over := &clientcmd.ConfigOverrides{CurrentContext: cfg.Context}
		if cfg.Endpoint != "" {
			over.ClusterInfo.Server = cfg.Endpoint
		}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
	case cfg.Endpoint != "":
		rc = &rest.Config{Host: cfg.Endpoint}
	default:
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, err
	}
	cfg.apply(rc)
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	// Inflating a gzip watch stream was half of decoding an EndpointSlice
	// event (and the API server spends as much compressing it); a DNS
	// server next to its API server has the bandwidth for plain protobuf.
	rc.DisableCompression = !cfg.Compression
	if tc, err := rest.TLSConfigFor(rc); err == nil && tc == nil && rc.DisableCompression && rc.Dial == nil {
		// client-go hands a config without TLS settings (a plain http
		// endpoint) Go's default transport, which asks for gzip whatever
		// the config says; a dialer of our own gets it its own transport
		// (not shared: Close lets its connections go)
		rc.Dial = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	rc.UserAgent = fmt.Sprintf("%s headless (%s/%s/%s)", cfg.Agent, runtime.GOOS, runtime.GOARCH, runtime.Version())
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
	jc := *rc
	jc.ContentType = "application/json"
	mcs, err := mcsclient.NewForConfigAndClient(&jc, hc)
	if err != nil {
		return nil, err
	}
	return &apiSource{client: client, mcs: mcs, slices: discoveryv1.New(src), codec: codec, filtered: true, http: hc}, nil
}

// ImportVersion asks the API server's discovery which ServiceImport version
// it serves.
func (s *apiSource) ImportVersion(context.Context) (string, error) {
	for _, v := range []string{"v1beta1", "v1alpha1"} {
		l, err := s.client.Discovery().ServerResourcesForGroupVersion("multicluster.x-k8s.io/" + v)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return "", err
		}
		for _, r := range l.APIResources {
			if r.Name == "serviceimports" {
				return v, nil
			}
		}
	}
	return "", nil
}

// ClusterIDProperty is the ClusterProperty that names this cluster in its
// clusterset (KEP-2149).
const ClusterIDProperty = "cluster.clusterset.k8s.io"

// ClusterID reads the ClusterProperty cluster.clusterset.k8s.io.
func (s *apiSource) ClusterID(ctx context.Context) (string, error) {
	raw, err := s.client.Discovery().RESTClient().Get().AbsPath("/apis/about.k8s.io/v1alpha1/clusterproperties/" + ClusterIDProperty).DoRaw(ctx)
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var cp struct {
		Spec struct {
			Value string `json:"value"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(raw, &cp); err != nil {
		return "", fmt.Errorf("ClusterProperty %s: %w", ClusterIDProperty, err)
	}
	return cp.Spec.Value, nil
}

// failingLW fails every list and watch (a resource the source cannot read).
type failingLW struct{ err error }

func (f failingLW) List(meta.ListOptions) (kruntime.Object, error)  { return nil, f.err }
func (f failingLW) Watch(meta.ListOptions) (watch.Interface, error) { return nil, f.err }

// manifestSource serves the manifests' in-memory cluster. It applies no
// selector (every object arrives, the transforms and index filter) and
// reads no protobuf.
type manifestSource struct{ *manifests.Source }

func (m manifestSource) ListerWatcher(w Spec) cache.ListerWatcher {
	return m.Source.ListerWatcher(w.Resource, w.Namespace)
}

func (manifestSource) Filtered() bool { return false }

func (manifestSource) Codec() *object.Codec { return nil }

// ImportVersion: the manifests serve ServiceImports of either version as v1beta1.
func (manifestSource) ImportVersion(context.Context) (string, error) { return "v1beta1", nil }

// ClusterID: the manifests hold no ClusterProperty (the Corefile's
// cluster names this cluster).
func (manifestSource) ClusterID(context.Context) (string, error) { return "", nil }

func (m manifestSource) Service(_ context.Context, namespace, name string) (*core.Service, error) {
	svc, _ := m.Source.Object("services", namespace, name).(*core.Service)
	return svc, nil
}
