package manifests

import (
	"bytes"
	"fmt"
	golog "log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/object"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestLoadManifestsForms(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// kubectl get -o yaml shape: kind List with mixed items
	list := write("list.yaml", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a, namespace: ns1}
  spec: {clusterIP: None}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: a-1, namespace: ns1, labels: {kubernetes.io/service-name: a}}
  addressType: IPv4
  endpoints: [{addresses: [10.0.0.1]}]
`)
	// a typed list, a Pod (ignored), an empty document, Endpoints (mirrored), JSON
	mixed := write("mixed.yaml", `apiVersion: v1
kind: ServiceList
items:
- metadata: {name: b}
  spec: {clusterIP: None}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
---
---
apiVersion: v1
kind: Endpoints
metadata: {name: b}
subsets:
- addresses: [{ip: 10.0.0.2}, {ip: "fd00::2"}]
  notReadyAddresses: [{ip: 10.0.0.3}]
  ports: [{name: http, port: 80, protocol: TCP}]
`)
	js := write("c.json", `{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "c", "namespace": "ns2"}, "spec": {"clusterIP": "None"}}`)
	l, err := Load([]string{list, mixed, js})
	if err != nil {
		t.Fatal(err)
	}
	objs := l.Objects()
	var keys []string
	for k := range objs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := "endpointslices/default/b-0-ipv4 endpointslices/default/b-0-ipv6 endpointslices/ns1/a-1 services/default/b services/ns1/a services/ns2/c"
	if got := strings.Join(keys, " "); got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	// the mirrored IPv4 slice: mirroring manager, ready and not-ready addresses
	s := object.SliceFromAPI(objs["endpointslices/default/b-0-ipv4"].(*discovery.EndpointSlice))
	if s.Service != "b" || s.Labels[object.LabelManagedBy] != mirrorManager || len(s.Endpoints) != 2 ||
		!s.Endpoints[0].Ready || s.Endpoints[1].Ready || s.Ports[0].Name != "http" {
		t.Fatalf("mirrored slice %+v", s)
	}
}

// A YAML error names its line in the file, not in its document.
func TestLoadManifestsErrorLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	body := `apiVersion: v1
kind: Service
metadata:
  name: a
  namespace: ns
spec:
  clusterIP: None
---
apiVersion: v1
kind: Service
metadata:
  name: b
spec:
  ports: [
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load([]string{p})
	if err == nil || !strings.Contains(err.Error(), "m.yaml: line 14 (document 2): error converting YAML to JSON: yaml:") {
		t.Fatalf("error %v, want one naming line 14 of the file", err)
	}
}

// A kind the loader does not serve, or an apiVersion it does not take, is
// warned about by name, with its file and document.
func TestLoadManifestsUnknownKinds(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	body := `apiVersion: v1
kind: Pod
metadata: {name: p}
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: old}
addressType: IPv4
endpoints: []
---
apiVersion: v1
kind: Service
metadata: {name: s}
spec: {clusterIP: None}
`
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	golog.SetOutput(&buf)
	defer golog.SetOutput(os.Stderr)
	l, err := Load([]string{p})
	objs := map[string]runtime.Object{}
	if l != nil {
		objs = l.Objects()
	}
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v, %d objects", err, len(objs))
	}
	for _, want := range []string{`document 1: v1 Pod "p" ignored`, `document 2: discovery.k8s.io/v1beta1 EndpointSlice "old" ignored`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no warning %q in:\n%s", want, buf.String())
		}
	}
}

// A manifest is decoded once (parse's Load hands its objects to the
// source), read again only when its size, mtime or inode changed, and
// applied only when its content did; what no answer needs is dropped.
func TestSourceReadsOnlyChanges(t *testing.T) {
	defer func(d time.Duration) { manifestPoll = d }(manifestPoll)
	manifestPoll = 10 * time.Millisecond
	p := filepath.Join(t.TempDir(), "m.yaml")
	svc := func(port int) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: a
  namespace: ns
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"big": "blob"}'
    keep: me
  managedFields:
  - {manager: kubectl, operation: Apply, apiVersion: v1, fieldsType: FieldsV1, fieldsV1: {"f:spec": {}}}
spec:
  clusterIP: None
  ports: [{name: http, port: %d}]
`, port)
	}
	if err := os.WriteFile(p, []byte(svc(80)), 0o644); err != nil {
		t.Fatal(err)
	}
	r0, d0 := reads.Load(), decodes.Load()
	l, src := startSource(t, p)
	if r, d := reads.Load()-r0, decodes.Load()-d0; r != 1 || d != 1 {
		t.Errorf("start: %d reads and %d decodes, want 1 and 1", r, d)
	}
	if l.Objects() != nil {
		t.Error("the Loaded still holds the objects after the source took them")
	}
	s := src.Object("services", "ns", "a").(*core.Service)
	if len(s.ManagedFields) != 0 || s.Annotations[lastApplied] != "" || s.Annotations["keep"] != "me" {
		t.Errorf("kept %v managed fields, annotations %v", len(s.ManagedFields), s.Annotations)
	}
	rv := s.ResourceVersion
	time.Sleep(100 * time.Millisecond) // ten polls
	if r := reads.Load() - r0; r != 1 {
		t.Errorf("unchanged file read %d times in ten polls, want 0", r-1)
	}
	// touched, same content: read once, nothing applied
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(p, later, later); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return reads.Load()-r0 == 2 })
	time.Sleep(50 * time.Millisecond)
	if d := decodes.Load() - d0; d != 1 || src.Object("services", "ns", "a").(*core.Service).ResourceVersion != rv {
		t.Errorf("a touched file: %d decodes, resource version %s -> %s", d, rv, src.Object("services", "ns", "a").(*core.Service).ResourceVersion)
	}
	// changed: applied
	if err := os.WriteFile(p, []byte(svc(81)), 0o644); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool {
		s := src.Object("services", "ns", "a").(*core.Service)
		return len(s.Spec.Ports) == 1 && s.Spec.Ports[0].Port == 81
	})
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every resource the plugin watches lists as its own kind of list, with the
// file's objects of that resource (namespaces for namespace_labels too).
func TestSourceListsEveryResource(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	doc := `apiVersion: v1
kind: Namespace
metadata: {name: team, labels: {dns: "on"}}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: team}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: team, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints: [{addresses: ["192.0.2.1"]}]
`
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	_, src := startSource(t, p)
	for resource, want := range map[string]string{"namespaces": "team", "nodes": "node-a", "services": "db", "endpointslices": "db-1"} {
		o, err := src.ListerWatcher(resource, "").List(metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		switch v := o.(type) {
		case *core.NamespaceList:
			for _, x := range v.Items {
				names = append(names, x.Name)
			}
		case *core.NodeList:
			for _, x := range v.Items {
				names = append(names, x.Name)
			}
		case *core.ServiceList:
			for _, x := range v.Items {
				names = append(names, x.Name)
			}
		case *discovery.EndpointSliceList:
			for _, x := range v.Items {
				names = append(names, x.Name)
			}
		}
		if len(names) != 1 || names[0] != want || !strings.HasSuffix(fmt.Sprintf("%T", o), "List") {
			t.Errorf("%s: a %T of %v, want %s", resource, o, names, want)
		}
	}
}

// startSource loads the manifest at p and serves it until the test ends;
// it returns what Load read too.
func startSource(t *testing.T, p string) (*Loaded, *Source) {
	t.Helper()
	l, err := Load([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewSource([]string{p}, l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.Close)
	return l, src
}
