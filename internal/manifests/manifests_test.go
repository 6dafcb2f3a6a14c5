package manifests

import (
	"bytes"
	golog "log"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/headlessdns/headless/internal/object"
	discovery "k8s.io/api/discovery/v1"
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
	objs, err := Load([]string{list, mixed, js})
	if err != nil {
		t.Fatal(err)
	}
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
	objs, err := Load([]string{p})
	if err != nil || len(objs) != 1 {
		t.Fatalf("%v, %d objects", err, len(objs))
	}
	for _, want := range []string{`document 1: v1 Pod "p" ignored`, `document 2: discovery.k8s.io/v1beta1 EndpointSlice "old" ignored`} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("no warning %q in:\n%s", want, buf.String())
		}
	}
}
