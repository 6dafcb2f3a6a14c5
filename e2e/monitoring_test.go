package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	"sigs.k8s.io/yaml"
)

// Every metric the dashboard and the alerting rules in deploy/monitoring use
// is exported by the built CoreDNS, and the PrometheusRule carries exactly
// the plain rules file's groups.
func TestMonitoringReferencesExportedMetrics(t *testing.T) {
	mon := filepath.Join(testbed.ModuleRoot(), "deploy", "monitoring")
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(mon, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var rules, operator struct {
		Groups []any `json:"groups"`
		Spec   struct {
			Groups []any `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(read("headless-rules.yaml"), &rules); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(read("prometheusrule.yaml"), &operator); err != nil {
		t.Fatal(err)
	}
	if len(rules.Groups) == 0 || !reflect.DeepEqual(rules.Groups, operator.Spec.Groups) {
		t.Fatal("prometheusrule.yaml and headless-rules.yaml carry different groups")
	}
	var dash map[string]any
	if err := json.Unmarshal(read("grafana-dashboard.json"), &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	names := map[string]bool{}
	re := regexp.MustCompile(`coredns_[a-z0-9_]+`)
	for _, f := range []string{"headless-rules.yaml", "grafana-dashboard.json"} {
		for _, n := range re.FindAllString(string(read(f)), -1) {
			names[n] = true
		}
	}
	if len(names) < 8 {
		t.Fatalf("only %d metric names referenced: %v", len(names), names)
	}

	mport := testbed.FreePort(t)
	c := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), sampleCorefile(fmt.Sprintf("prometheus 127.0.0.1:%d", mport)))
	if _, err := testbed.Exchange(c.Addr, "web.default.svc.cluster.local.", dns.TypeA, false); err != nil {
		t.Fatal(err)
	}
	var missing []string
	testbed.Eventually(t, 10*time.Second, "metrics exported", func() error {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		missing = missing[:0]
		for n := range names {
			if !regexp.MustCompile(`(?m)^` + n + `[{ ]`).Match(b) {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("not exported: %s", strings.Join(missing, ", "))
		}
		return nil
	})
	t.Logf("%d metric names referenced by deploy/monitoring, all exported", len(names))
}
