package testbed

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Images the node runs, all built here and imported into its containerd:
// nothing is pulled.
const (
	ImageCoreDNS     = "headless.test/coredns-headless:node" // make image's image, re-tagged
	ImagePause       = "headless.test/pause:1"
	ImageClientGlibc = "headless.test/client-glibc:1" // dnsq (glibc), dig, getent and their libraries
	ImageClientMusl  = "headless.test/client-musl:1"  // dnsq, static musl: no other file
	ImageClientGo    = "headless.test/client-go:1"    // dnsqgo (pure Go) and dnsqgo-cgo (glibc through cgo)
)

// BuildImages writes every image of the node as a docker-archive into dir
// and returns their paths. It compiles the clients in testbed/images with
// go, gcc and musl-gcc, and our image with hack/image (make image).
func BuildImages(t TB, dir string) []string {
	t.Helper()
	src := filepath.Join(ModuleRoot(), "testbed", "images")
	bin := filepath.Join(dir, "bin")
	must(t, os.MkdirAll(bin, 0o755))
	run(t, ModuleRoot(), []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", filepath.Join(bin, "pause"), "./testbed/images/pause")
	run(t, ModuleRoot(), []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-tags", "netgo", "-o", filepath.Join(bin, "dnsqgo"), "./testbed/images/dnsqgo")
	run(t, ModuleRoot(), []string{"CGO_ENABLED=1"}, "go", "build", "-trimpath", "-tags", "netcgo", "-o", filepath.Join(bin, "dnsqgo-cgo"), "./testbed/images/dnsqgo")
	run(t, src, nil, "gcc", "-O2", "-Wall", "-o", filepath.Join(bin, "dnsq-glibc"), "dnsq/dnsq.c", "-lresolv")
	run(t, src, nil, "musl-gcc", "-static", "-O2", "-Wall", "-o", filepath.Join(bin, "dnsq-musl"), "dnsq/dnsq.c")
	run(t, ModuleRoot(), nil, "go", "run", "./hack/image", "-out", filepath.Join(dir, "coredns"), "-tag", ImageCoreDNS)

	nss := []byte("hosts: files dns\n")
	images := []struct {
		ref   string
		files map[string]string // path in the image -> file here
		extra map[string][]byte
		entry string
	}{
		{ImagePause, map[string]string{"/pause": filepath.Join(bin, "pause")}, nil, "/pause"},
		{ImageClientMusl, map[string]string{"/bin/dnsq": filepath.Join(bin, "dnsq-musl")}, nil, "/bin/dnsq"},
		{ImageClientGlibc, withLibs(t, map[string]string{"/bin/dnsq": filepath.Join(bin, "dnsq-glibc"),
			"/usr/bin/dig": lookPath(t, "dig"), "/usr/bin/getent": lookPath(t, "getent")}),
			map[string][]byte{"/etc/nsswitch.conf": nss}, "/bin/dnsq"},
		{ImageClientGo, withLibs(t, map[string]string{"/bin/dnsqgo": filepath.Join(bin, "dnsqgo"),
			"/bin/dnsqgo-cgo": filepath.Join(bin, "dnsqgo-cgo")}), map[string][]byte{"/etc/nsswitch.conf": nss}, "/bin/dnsqgo"},
	}
	paths := []string{filepath.Join(dir, "coredns", "coredns-headless.tar")}
	for _, im := range images {
		p := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(im.ref)+".tar")
		if err := writeImage(p, im.ref, im.files, im.extra, im.entry); err != nil {
			t.Fatalf("image %s: %v", im.ref, err)
		}
		paths = append(paths, p)
	}
	return paths
}

var lddLine = regexp.MustCompile(`(?m)^\s*(?:\S+ => )?(/\S+) \(0x`)

// withLibs adds the shared libraries each binary loads (ldd), at the paths
// the dynamic linker looks them up.
func withLibs(t TB, files map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for dst, src := range files {
		out[dst] = src
		b, err := exec.Command("ldd", src).CombinedOutput()
		if err != nil {
			continue // static
		}
		for _, m := range lddLine.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = m[1]
		}
	}
	return out
}

func writeImage(path, ref string, files map[string]string, extra map[string][]byte, entry string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	all := map[string][]byte{}
	for dst, src := range files {
		b, err := os.ReadFile(src) // follows symlinks: each library is a regular file
		if err != nil {
			return err
		}
		all[dst] = b
	}
	for dst, b := range extra {
		all[dst] = b
	}
	var names []string
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, n := range names {
		for d := filepath.Dir(n); d != "/" && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var dl []string
	for d := range dirs {
		dl = append(dl, d)
	}
	sort.Strings(dl)
	for _, d := range dl {
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(d, "/") + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
			return err
		}
	}
	for _, n := range names {
		b := all[n]
		if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(n, "/"), Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	lb := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(lb)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = v1.Config{Entrypoint: []string{entry}, WorkingDir: "/", Env: []string{"PATH=/bin:/usr/bin"}}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	tag, err := name.NewTag(ref)
	if err != nil {
		return err
	}
	return tarball.WriteToFile(path, tag, img)
}

func lookPath(t TB, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Fatalf("%s not found: the node's client image carries it (apt-get install bind9-dnsutils libc-bin)", prog)
	}
	return p
}

func run(t TB, dir string, env []string, prog string, args ...string) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, b)
	}
}

func must(t TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Sprint(err))
	}
}
