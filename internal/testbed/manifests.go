package testbed

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Helm is helm v3.22.0 built from its Go module: $HEADLESS_HELM, or
// ~/.cache/headless-tools/helm (.ci/run builds it there). Missing, the test
// skips, and fails under CI=true.
func Helm(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("HEADLESS_HELM"), filepath.Join(os.Getenv("HOME"), ".cache", "headless-tools", "helm")} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("helm missing: .ci/run builds it (go install helm.sh/helm/v3/cmd/helm@v3.22.0)")
	}
	t.Skip("helm not built: GOBIN=~/.cache/headless-tools go install helm.sh/helm/v3/cmd/helm@v3.22.0")
	return ""
}

// DecodeYAML returns every object of a multi-document YAML (or JSON) text.
func DecodeYAML(b []byte) []*unstructured.Unstructured {
	var objs []*unstructured.Unstructured
	d := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := d.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) > 0 {
			objs = append(objs, u)
		}
	}
	return objs
}

// DecodeFiles returns every object of the YAML files matching glob in dir.
func DecodeFiles(dir, glob string) ([]*unstructured.Unstructured, error) {
	files, _ := filepath.Glob(filepath.Join(dir, glob))
	var objs []*unstructured.Unstructured
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, DecodeYAML(b)...)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("no objects in %s", filepath.Join(dir, glob))
	}
	return objs, nil
}
