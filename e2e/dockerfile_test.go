package e2e

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/headlessdns/headless/internal/testbed"
)

// stage is what checkDockerfile reads of deploy/Dockerfile: per
// stage, its base and its instructions (continued lines joined, comments
// dropped).
type stage struct {
	from, name string
	inst       [][2]string // instruction (upper case), its arguments
}

func readDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		ins, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		ins, args = strings.ToUpper(ins), strings.TrimSpace(args)
		if ins == "FROM" {
			f := strings.Fields(args)
			s := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			if ins != "ARG" {
				t.Fatalf("%s: %s before the first FROM", path, ins)
			}
			continue
		}
		stages[len(stages)-1].inst = append(stages[len(stages)-1].inst, [2]string{ins, args})
	}
	return stages
}

// words splits a shell command line at blanks outside double quotes, and
// drops the quotes.
func words(s string) []string {
	var out []string
	var w strings.Builder
	quoted, in := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, in = !quoted, true
		case (r == ' ' || r == '\t') && !quoted:
			if in {
				out = append(out, w.String())
				w.Reset()
				in = false
			}
		default:
			w.WriteRune(r)
			in = true
		}
	}
	if in {
		out = append(out, w.String())
	}
	return out
}

// checkDockerfile holds deploy/Dockerfile to the image make image built
// (cf, and its /coredns extracted at bin): there is no engine here to build
// the Dockerfile, so what it would build is read from it. The go build
// command against the binary's own build settings (go version -m), the Go
// release of its builder against the binary's, the capability it sets, and
// the final stage's base, user, ports, entrypoint and labels against the
// image's config.
func checkDockerfile(t *testing.T, cf *v1.ConfigFile, bin string) {
	t.Helper()
	path := filepath.Join(testbed.ModuleRoot(), "deploy", "Dockerfile")
	stages := readDockerfile(t, path)
	if len(stages) != 2 {
		t.Fatalf("%s: %d stages, want a build stage and the image", path, len(stages))
	}
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	build, final := stages[0], stages[1]
	// the builder's Go release is the binary's (golang:1.26 for go1.26.x)
	if tag, ok := strings.CutPrefix(build.from, "golang:"); !ok || !strings.HasPrefix(bi.GoVersion, "go"+tag+".") && bi.GoVersion != "go"+tag {
		t.Errorf("build stage FROM %s; the image's binary was built by %s", build.from, bi.GoVersion)
	}
	var goBuild, setcap []string
	for _, in := range build.inst {
		if in[0] != "RUN" {
			continue
		}
		for _, cmd := range strings.Split(in[1], "&&") {
			w := words(strings.TrimSpace(cmd))
			if i := slices.Index(w, "go"); i >= 0 && i+1 < len(w) && w[i+1] == "build" {
				goBuild = w
			}
			if len(w) > 0 && w[0] == "setcap" {
				setcap = w
			}
		}
	}
	want := map[string]string{}
	var flags []string
	goAt := slices.Index(goBuild, "go") // env assignments before it, flags after "go build"
	for i, w := range goBuild {
		if k, v, ok := strings.Cut(w, "="); ok && i < goAt {
			want[k] = v // CGO_ENABLED=0 GOOS=linux GOARCH=amd64
		} else if i > goAt+1 {
			flags = append(flags, w)
		}
	}
	for _, f := range flags {
		switch k, v, _ := strings.Cut(f, "="); k {
		case "-trimpath":
			want["-trimpath"] = "true"
		case "-ldflags":
			want["-ldflags"] = v
		}
	}
	// with -trimpath go does not record -ldflags: compare what they leave
	if got := linked(t, bin); got != want["-ldflags"] {
		t.Errorf("Dockerfile's go build: -ldflags=%q; the image's binary is linked as with %q", want["-ldflags"], got)
	}
	for _, k := range []string{"CGO_ENABLED", "GOOS", "GOARCH", "-trimpath"} {
		if want[k] != settings[k] {
			t.Errorf("Dockerfile's go build: %s=%q; the image's binary: %s=%q (%q)", k, want[k], k, settings[k], goBuild)
		}
	}
	_, vcs := settings["vcs"]
	if slices.Contains(flags, "-buildvcs=false") == vcs {
		t.Errorf("Dockerfile's go build %q and the image's binary differ on -buildvcs (binary: vcs=%v)", goBuild, vcs)
	}
	if !slices.Contains(flags, "./cmd/coredns") || bi.Path != "github.com/headlessdns/headless/cmd/coredns" {
		t.Errorf("Dockerfile builds %q; the image's binary is %s", flags, bi.Path)
	}
	if strings.Join(setcap, " ") != "setcap cap_net_bind_service=+ep /coredns" {
		t.Errorf("Dockerfile's setcap: %q, want cap_net_bind_service=+ep on /coredns, as the image's layer carries", setcap)
	}
	checkFinalStage(t, final, build.name, cf.Config)
}

// linked says which of the Dockerfile's link flags bin shows: -s (no
// symbol table), -w (no DWARF), -buildid= (an empty Go build ID).
func linked(t *testing.T, bin string) string {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	if f.Section(".symtab") == nil {
		out = append(out, "-s")
	}
	if f.Section(".debug_info") == nil && f.Section(".zdebug_info") == nil {
		out = append(out, "-w")
	}
	// -buildid= leaves no Go build ID note (or one with an empty ID)
	n := f.Section(".note.go.buildid")
	if n == nil {
		out = append(out, "-buildid=")
	} else if b, err := n.Data(); err == nil && len(b) >= 8 && binary.LittleEndian.Uint32(b[4:8]) == 0 {
		out = append(out, "-buildid=")
	}
	return strings.Join(out, " ")
}

// checkFinalStage holds the Dockerfile's image stage to the image's config.
func checkFinalStage(t *testing.T, final stage, buildName string, c v1.Config) {
	t.Helper()
	if final.from != "scratch" {
		t.Errorf("image stage FROM %s, want scratch as make image", final.from)
	}
	got := map[string][]string{}
	for _, in := range final.inst {
		got[in[0]] = append(got[in[0]], in[1])
	}
	if copies := got["COPY"]; len(copies) != 1 || copies[0] != "--from="+buildName+" /coredns /coredns" {
		t.Errorf("image stage COPY %q, want the one binary from %s", copies, buildName)
	}
	if u := got["USER"]; len(u) != 1 || u[0] != c.User {
		t.Errorf("USER %q; image %q", u, c.User)
	}
	var ports, imagePorts []string
	for _, e := range got["EXPOSE"] {
		ports = append(ports, strings.Fields(e)...)
	}
	for p := range c.ExposedPorts {
		imagePorts = append(imagePorts, p)
	}
	sort.Strings(ports)
	sort.Strings(imagePorts)
	if !slices.Equal(ports, imagePorts) {
		t.Errorf("EXPOSE %v; image %v", ports, imagePorts)
	}
	var ep []string
	if e := got["ENTRYPOINT"]; len(e) != 1 || json.Unmarshal([]byte(e[0]), &ep) != nil || !slices.Equal(ep, c.Entrypoint) {
		t.Errorf("ENTRYPOINT %q; image %q", e, c.Entrypoint)
	}
	labels := map[string]string{}
	for _, l := range got["LABEL"] {
		for _, kv := range words(l) {
			k, v, _ := strings.Cut(kv, "=")
			labels[k] = v
		}
	}
	for k, v := range c.Labels {
		if _, ok := labels[k]; !ok {
			t.Errorf("label %s of the image is not in the Dockerfile (%v)", k, labels)
		} else if !strings.HasPrefix(labels[k], "$") && labels[k] != v {
			t.Errorf("label %s: Dockerfile %q, image %q", k, labels[k], v)
		}
	}
	if len(labels) != len(c.Labels) {
		t.Errorf("Dockerfile labels %v; image %v", labels, c.Labels)
	}
}
