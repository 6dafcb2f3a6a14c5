package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/headlessdns/headless/internal/testbed"
)

// Every helm command of the docs that installs the official chart pins the
// chart version the Helm test renders (deploy/helm/chart).
func TestHelmLinePinsChart(t *testing.T) {
	root := testbed.ModuleRoot()
	chart, err := os.ReadFile(filepath.Join(root, "deploy", "helm", "chart", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^version:\s*(\S+)`).FindSubmatch(chart)
	if m == nil {
		t.Fatal("Chart.yaml has no version")
	}
	want := "--version " + string(m[1])
	found := 0
	for _, doc := range []string{"README.md", "docs/deploy.md"} {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "helm ") && strings.Contains(line, "coredns/coredns") {
				found++
				if !strings.Contains(line, want) {
					t.Errorf("%s: %q does not pin %s", doc, line, want)
				}
			}
		}
	}
	if found == 0 {
		t.Error("no helm line installs coredns/coredns in README.md or docs/deploy.md")
	}
}
