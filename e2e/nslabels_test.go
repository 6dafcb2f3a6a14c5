package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
)

// nsLabelsManifest is two namespaces, one labelled dns=on, each with a
// headless Service of one endpoint; labelB is team-b's labels.
func nsLabelsManifest(labelB string) string {
	var b strings.Builder
	for i, ns := range []string{"team-a", "team-b"} {
		labels := `{dns: "on"}`
		if ns == "team-b" {
			labels = labelB
		}
		fmt.Fprintf(&b, `apiVersion: v1
kind: Namespace
metadata: {name: %[1]s, labels: %[2]s}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: %[1]s}
spec:
  clusterIP: None
  ports: [{name: pg, port: 5432, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-1
  namespace: %[1]s
  labels: {kubernetes.io/service-name: db, endpointslice.kubernetes.io/managed-by: manual.example.com}
addressType: IPv4
ports: [{name: pg, port: 5432, protocol: TCP}]
endpoints:
- addresses: ["192.0.2.%[3]d"]
  hostname: db-0
---
`, ns, labels, 10+i)
	}
	return b.String()
}

// namespace_labels with manifests: the Namespaces of the files are matched
// as the API server's would be; a namespace out of scope is filtered (its
// EDE names the selector), and a relabelled file brings it into scope.
func TestManifestsNamespaceLabels(t *testing.T) {
	bin := testbed.OurCoreDNS(t)
	file := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(file, []byte(nsLabelsManifest(`{dns: "off"}`)), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testbed.StartCoreDNS(t, bin, `.:{PORT} {
    bind 127.0.0.1
    headless cluster.local {
        manifests `+file+`
        namespace_labels dns=on
        explain
    }
}`)
	ask := func(name string) (string, []string) {
		r, edes := explainEDE(t, c.Addr, name)
		rcode, rrs := testbed.Answers(r)
		return strings.TrimSpace(rcode + " " + strings.Join(rrs, " ")), edes
	}
	if got, _ := ask("db-0.db.team-a.svc.cluster.local."); got != "NOERROR A 192.0.2.10" {
		t.Errorf("team-a (dns=on): %q", got)
	}
	got, edes := ask("db-0.db.team-b.svc.cluster.local.")
	if got != "NXDOMAIN" || len(edes) != 1 || !strings.Contains(edes[0], "namespace team-b does not exist or its labels do not match namespace_labels (dns=on)") {
		t.Errorf("team-b (dns=off): %q, EDE %q", got, edes)
	}
	if err := os.WriteFile(file, []byte(nsLabelsManifest(`{dns: "on"}`)), 0o644); err != nil {
		t.Fatal(err)
	}
	testbed.Eventually(t, 10*time.Second, "team-b relabelled into scope", func() error {
		if got, _ := ask("db-0.db.team-b.svc.cluster.local."); got != "NOERROR A 192.0.2.11" {
			return fmt.Errorf("team-b: %q", got)
		}
		return nil
	})
}
