package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// TestPluginCfgBuild does what the README ("Building CoreDNS with
// headless") tells a user with a CoreDNS checkout: CoreDNS v1.15.0's source
// (from the module cache), the README's line added to plugin.cfg before
// kubernetes:kubernetes, the module pointed at this checkout, go generate
// and go build. The binary lists the plugin, orders it before kubernetes
// and answers from the sample cluster.
func TestPluginCfgBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds CoreDNS from source (about a minute)")
	}
	line := readmeLine(t)
	modcache := strings.TrimSpace(run(t, testbed.ModuleRoot(), "go", "env", "GOMODCACHE"))
	run(t, testbed.ModuleRoot(), "go", "mod", "download", "github.com/coredns/coredns@v1.15.0")
	src := filepath.Join(modcache, "github.com", "coredns", "coredns@v1.15.0")
	dir := filepath.Join(t.TempDir(), "coredns")
	run(t, ".", "cp", "-r", src, dir)
	run(t, ".", "chmod", "-R", "u+w", dir)

	cfg := filepath.Join(dir, "plugin.cfg")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nkubernetes:kubernetes\n") {
		t.Fatalf("plugin.cfg of v1.15.0 has no kubernetes:kubernetes line")
	}
	edited := strings.Replace(string(b), "\nkubernetes:kubernetes\n", "\n"+line+"\nkubernetes:kubernetes\n", 1)
	if err := os.WriteFile(cfg, []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	module := strings.SplitN(line, ":", 2)[1]
	run(t, dir, "go", "mod", "edit", "-require="+module+"@v0.0.0", "-replace="+module+"="+testbed.ModuleRoot())
	run(t, dir, "go", "generate")
	run(t, dir, "go", "mod", "tidy")
	bin := filepath.Join(dir, "coredns-built")
	run(t, dir, "go", "build", "-o", bin)

	plugins := run(t, dir, bin, "-plugins")
	listed := map[string]bool{}
	for _, f := range strings.Fields(plugins) {
		listed[strings.TrimPrefix(f, "dns.")] = true
	}
	if !listed["headless"] || !listed["kubernetes"] {
		t.Fatalf("-plugins does not list headless and kubernetes:\n%s", plugins)
	}
	zd, err := os.ReadFile(filepath.Join(dir, "core", "dnsserver", "zdirectives.go"))
	if err != nil {
		t.Fatal(err)
	}
	order := regexp.MustCompile(`"([a-z0-9_]+)",`).FindAllStringSubmatch(string(zd), -1)
	at := map[string]int{}
	for i, m := range order {
		at[m[1]] = i
	}
	h, okH := at["headless"]
	k, okK := at["kubernetes"]
	if !okH || !okK || h+1 != k {
		t.Fatalf("directive order: headless at %d (%v), kubernetes at %d (%v); want headless immediately before kubernetes", h, okH, k, okK)
	}
	c := testbed.StartCoreDNS(t, bin, sampleCorefile(""))
	r, err := testbed.Exchange(c.Addr, "web-0.web.default.svc.cluster.local.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if rcode, rrs := testbed.Answers(r); rcode != "NOERROR" || len(rrs) != 1 || rrs[0] != "A 10.244.1.10" {
		t.Fatalf("web-0 from the plugin.cfg build: %s %v", rcode, rrs)
	}
}

// readmeLine is the plugin.cfg line the README gives.
func readmeLine(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testbed.ModuleRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?m)^(headless:[^\\s]+)$").FindStringSubmatch(string(b))
	if m == nil {
		t.Fatal("no headless:... plugin.cfg line in README.md")
	}
	return m[1]
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}
