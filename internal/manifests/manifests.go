package manifests

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
)

var log = clog.NewWithPlugin("headless")

// manifestPoll is how often the manifests are checked for changes.
var manifestPoll = time.Second

const (
	mirrorManager = "endpointslicemirroring-controller.k8s.io"
	lastApplied   = "kubectl.kubernetes.io/last-applied-configuration"
)

// Loaded is what Load read: the objects, and what the files were when read
// (so that a Source started from it neither reads nor decodes them again).
type Loaded struct {
	mu    sync.Mutex
	objs  map[string]runtime.Object // nil once taken
	files []fileStat
	sum   [32]byte
}

// Objects are the objects read, keyed by resource and namespace/name.
func (l *Loaded) Objects() map[string]runtime.Object {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.objs
}

// take hands the objects over (to a Source) and forgets them, so that a
// configuration that keeps the Loaded does not keep them alive too.
func (l *Loaded) take() map[string]runtime.Object {
	l.mu.Lock()
	defer l.mu.Unlock()
	o := l.objs
	l.objs = nil
	return o
}

// fileStat is what tells a changed file without reading it.
type fileStat struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func statOf(fi os.FileInfo) fileStat {
	st := fileStat{size: fi.Size(), mtime: fi.ModTime()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = sys.Ino
	}
	return st
}

// Load reads Services, EndpointSlices and Endpoints from YAML or JSON
// files (multi-document, List kinds included). Hand-written Endpoints become
// EndpointSlices as the mirroring controller would write them. Other kinds are
// skipped. The objects are keyed by resource and namespace/name.
func Load(paths []string) (*Loaded, error) {
	l := &Loaded{objs: map[string]runtime.Object{}}
	h := sha256.New()
	for _, p := range paths {
		data, st, err := readManifest(p)
		if err != nil {
			return nil, err
		}
		h.Write(data)
		l.files = append(l.files, st)
		if err := decodeAll(p, data, l.objs); err != nil {
			return nil, err
		}
	}
	copy(l.sum[:], h.Sum(nil))
	return l, nil
}

// reads and decodes count file reads and documents decoded (tests).
var reads, decodes atomic.Int64

// maxManifestBytes bounds one manifest file.
const maxManifestBytes = 64 << 20

// readManifest reads one regular file of at most maxManifestBytes, and
// what it was when read.
func readManifest(path string) ([]byte, fileStat, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fileStat{}, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fileStat{}, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxManifestBytes {
		return nil, fileStat{}, fmt.Errorf("%s is larger than %d bytes", path, maxManifestBytes)
	}
	reads.Add(1)
	b, err := os.ReadFile(path)
	return b, statOf(fi), err
}

func decodeAll(path string, data []byte, out map[string]runtime.Object) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	starts := documentStarts(data)
	for n := 1; ; n++ {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("%s: %s", path, inFile(err, n, starts))
		}
		if b := bytes.TrimSpace(raw.Raw); len(b) == 0 || string(b) == "null" {
			continue
		}
		var skipped []string
		if err := decodeObject(raw.Raw, out, &skipped); err != nil {
			return fmt.Errorf("%s: %s", path, inFile(err, n, starts))
		}
		for _, kind := range skipped {
			log.Warningf("manifests: %s: document %d: %s ignored: only Services, EndpointSlices (discovery.k8s.io/v1), Endpoints, Nodes and Namespaces are served", path, n, kind)
		}
	}
}

// documentStarts are the file lines (1-based) where each YAML document
// starts, as the YAML reader splits them: at lines starting "---", empty
// documents not counted.
func documentStarts(data []byte) []int {
	var starts []int
	start, empty := 1, true
	for i, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "---") && strings.TrimSpace(strings.TrimLeft(line, "-")) == "" {
			if !empty {
				starts = append(starts, start)
			}
			start, empty = i+2, true
			continue
		}
		empty = false
	}
	if !empty {
		starts = append(starts, start)
	}
	return starts
}

var yamlLine = regexp.MustCompile(`\byaml: line ([0-9]+):`)

// inFile makes an error of document n name its line in the file.
func inFile(err error, n int, starts []int) string {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatchIndex(msg); m != nil && n <= len(starts) {
		line, _ := strconv.Atoi(msg[m[2]:m[3]])
		return fmt.Sprintf("line %d (document %d): %s", starts[n-1]+line-1, n, msg[:m[0]]+"yaml:"+msg[m[1]:])
	}
	return fmt.Sprintf("document %d: %s", n, msg)
}

// codecs decode the Kubernetes API's types and the MCS API's ServiceImports
// (v1alpha1 and v1beta1).
var codecs = func() serializer.CodecFactory {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{scheme.AddToScheme, mcsv1alpha1.AddToScheme, mcsv1beta1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(s)
}()

func decodeObject(raw []byte, out map[string]runtime.Object, skipped *[]string) error {
	decodes.Add(1)
	obj, _, err := codecs.UniversalDeserializer().Decode(raw, nil, nil)
	if err != nil {
		if runtime.IsNotRegisteredError(err) {
			*skipped = append(*skipped, kindOf(raw))
			return nil
		}
		return err
	}
	switch o := obj.(type) {
	case *core.Service:
		add(out, "services", o)
	case *discovery.EndpointSlice:
		add(out, "endpointslices", o)
	case *core.Node:
		add(out, "nodes", o)
	case *core.Namespace:
		add(out, "namespaces", o)
	case *mcsv1beta1.ServiceImport:
		add(out, "serviceimports", o)
	case *mcsv1alpha1.ServiceImport:
		add(out, "serviceimports", importV1beta1(o)) // served as one version, as the API server does
	case *core.Endpoints:
		for _, s := range mirror(o) {
			add(out, "endpointslices", s)
		}
	case *core.List:
		for _, item := range o.Items {
			if err := decodeObject(item.Raw, out, skipped); err != nil {
				return err
			}
		}
	default:
		if !meta.IsListType(obj) {
			*skipped = append(*skipped, kindOf(raw))
			return nil
		}
		items, err := meta.ExtractList(obj)
		if err != nil {
			return err
		}
		for _, item := range items {
			b, err := runtime.Encode(codecs.LegacyCodec(core.SchemeGroupVersion, discovery.SchemeGroupVersion, mcsv1beta1.SchemeGroupVersion), item)
			if err != nil {
				return err
			}
			if err := decodeObject(b, out, skipped); err != nil {
				return err
			}
		}
	}
	return nil
}

// kindOf names an object's apiVersion, kind and name from its JSON.
func kindOf(raw []byte) string {
	var o struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        struct{ Name, Namespace string } `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &o)
	return fmt.Sprintf("%s %s %q", o.APIVersion, o.Kind, o.Metadata.Name)
}

func add(out map[string]runtime.Object, resource string, o metav1.Object) {
	if o.GetNamespace() == "" && resource != "nodes" && resource != "namespaces" {
		o.SetNamespace(metav1.NamespaceDefault)
	}
	o.SetResourceVersion("")
	// what no answer needs and dumps are full of (kubectl get -o yaml)
	o.SetManagedFields(nil)
	if _, ok := o.GetAnnotations()[lastApplied]; ok {
		a := maps.Clone(o.GetAnnotations())
		delete(a, lastApplied)
		o.SetAnnotations(a)
	}
	key := resource + "/" + o.GetNamespace() + "/" + o.GetName()
	if _, dup := out[key]; dup {
		log.Warningf("manifests: %s given more than once; the last one is served", key)
	}
	out[key] = o.(runtime.Object)
}

// mirror turns hand-written Endpoints into EndpointSlices, one per subset and
// address family, the way the endpointslicemirroring controller does.
func mirror(e *core.Endpoints) []*discovery.EndpointSlice {
	var out []*discovery.EndpointSlice
	for si, ss := range e.Subsets {
		byFamily := map[discovery.AddressType]*discovery.EndpointSlice{}
		addr := func(a core.EndpointAddress, ready bool) {
			t := discovery.AddressTypeIPv4
			if bytes.ContainsRune([]byte(a.IP), ':') {
				t = discovery.AddressTypeIPv6
			}
			s := byFamily[t]
			if s == nil {
				s = &discovery.EndpointSlice{
					ObjectMeta: metav1.ObjectMeta{
						Name:      fmt.Sprintf("%s-%d-%s", e.Name, si, map[discovery.AddressType]string{discovery.AddressTypeIPv4: "ipv4", discovery.AddressTypeIPv6: "ipv6"}[t]),
						Namespace: e.Namespace,
						Labels:    map[string]string{discovery.LabelServiceName: e.Name, discovery.LabelManagedBy: mirrorManager},
					},
					AddressType: t,
				}
				for _, p := range ss.Ports {
					p := p
					s.Ports = append(s.Ports, discovery.EndpointPort{Name: &p.Name, Port: &p.Port, Protocol: &p.Protocol})
				}
				byFamily[t] = s
			}
			ep := discovery.Endpoint{Addresses: []string{a.IP}, Conditions: discovery.EndpointConditions{Ready: &ready}, NodeName: a.NodeName}
			if a.Hostname != "" {
				h := a.Hostname
				ep.Hostname = &h
			}
			if a.TargetRef != nil {
				ref := *a.TargetRef
				ep.TargetRef = &ref
			}
			s.Endpoints = append(s.Endpoints, ep)
		}
		for _, a := range ss.Addresses {
			addr(a, true)
		}
		for _, a := range ss.NotReadyAddresses {
			addr(a, false)
		}
		for _, t := range []discovery.AddressType{discovery.AddressTypeIPv4, discovery.AddressTypeIPv6} {
			if s := byFamily[t]; s != nil {
				out = append(out, s)
			}
		}
	}
	return out
}

// importV1beta1 is a v1alpha1 ServiceImport as v1beta1 (the same fields,
// without trafficDistribution), as the API server serves one stored in the
// other version (the CRD converts nothing).
func importV1beta1(in *mcsv1alpha1.ServiceImport) *mcsv1beta1.ServiceImport {
	out := &mcsv1beta1.ServiceImport{ObjectMeta: in.ObjectMeta, Spec: mcsv1beta1.ServiceImportSpec{
		IPs: in.Spec.IPs, Type: mcsv1beta1.ServiceImportType(in.Spec.Type), SessionAffinity: in.Spec.SessionAffinity,
	}}
	out.APIVersion, out.Kind = mcsv1beta1.SchemeGroupVersion.String(), "ServiceImport"
	for _, p := range in.Spec.Ports {
		out.Spec.Ports = append(out.Spec.Ports, mcsv1beta1.ServicePort{Name: p.Name, Protocol: p.Protocol, AppProtocol: p.AppProtocol, Port: p.Port})
	}
	return out
}
