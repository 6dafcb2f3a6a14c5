package e2e

import (
	"os/exec"
	"testing"
)

// staticELF tells a dynamically linked program from a static one.
func TestStaticELF(t *testing.T) {
	ls, err := exec.LookPath("ls")
	if err != nil {
		t.Fatal(err)
	}
	if err := staticELF(ls); err == nil {
		t.Errorf("%s (dynamically linked) passed as static", ls)
	}
	static := t.TempDir() + "/static"
	cmd := exec.Command("go", "build", "-o", static, "./testdata/static")
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := staticELF(static); err != nil {
		t.Error(err)
	}
}
