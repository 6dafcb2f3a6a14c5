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

// Two server blocks with their own headless instances report their own
// gauges, labelled by server and zone, and a reload keeps them apart: no
// instance overwrites another's.
func TestGaugesPerServerBlock(t *testing.T) {
	dir := t.TempDir()
	sample, err := os.ReadFile(filepath.Join(testbed.ModuleRoot(), "sample", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.yaml")
	writeFile(t, filepath.Join(dir, "all.yaml"), string(sample))
	writeFile(t, one, `apiVersion: v1
kind: Service
metadata: {name: solo, namespace: default}
spec: {clusterIP: None}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: solo-a
  namespace: default
  labels: {kubernetes.io/service-name: solo, endpointslice.kubernetes.io/managed-by: hand}
addressType: IPv4
endpoints:
- addresses: [10.9.9.9]
`)
	second := testbed.FreePort(t)
	mport := testbed.FreePort(t)
	c := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    headless cluster.local in-addr.arpa {
        manifests %s
    }
}
.:%d {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    headless example.local {
        manifests %s
    }
}
`, mport, filepath.Join(dir, "all.yaml"), second, mport, one))
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	first := fmt.Sprintf(`{server="dns://127.0.0.1:%d",zone="cluster.local. in-addr.arpa."}`, c.Port)
	other := fmt.Sprintf(`{server="dns://127.0.0.1:%d",zone="example.local."}`, second)
	check := func() error {
		for _, w := range []struct {
			series string
			want   float64
		}{
			{"coredns_headless_services" + first, 4}, {"coredns_headless_services" + other, 1},
			{"coredns_headless_addresses" + other, 1}, {"coredns_headless_synced" + first, 1},
		} {
			if got := testbed.Metric(t, url, w.series); got != w.want {
				return fmt.Errorf("%s = %v, want %v", w.series, got, w.want)
			}
		}
		if got := testbed.Metric(t, url, "coredns_headless_services"); got != 5 {
			return fmt.Errorf("coredns_headless_services over all series = %v, want 5 (no stale instance)", got)
		}
		return nil
	}
	testbed.Eventually(t, 10*time.Second, "per-block gauges", check)
	testbed.Reload(t, c.Proc, 3)
	testbed.Eventually(t, 10*time.Second, "per-block gauges after reloads", check)
	if strings.Contains(c.Log(), "was collected before") {
		t.Errorf("duplicate series during reload:\n%s", c.Log())
	}
}
