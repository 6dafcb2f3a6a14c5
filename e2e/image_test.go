package e2e

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/headlessdns/headless/internal/testbed"
	"golang.org/x/sys/unix"
)

// TestImage builds the image as `make image` does (hack/image, no container
// engine) twice, and reads it without an engine: the same digest both
// times, the docker-archive and the OCI layout agree, the config runs
// /coredns as 65532:65532 with ports 53/udp and 53/tcp and the labels, and
// the layer's /coredns carries cap_net_bind_service=+ep. Extracted with its
// extended attribute, the entrypoint is run exactly as deploy/deployment.yaml
// runs it (uid 65532, no_new_privs, only NET_BIND_SERVICE) and serves :53 on
// loopback. deploy/Dockerfile is read against it (checkDockerfile).
func TestImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the image (about a minute)")
	}
	var digests []string // the OCI manifest's: what a registry stores
	var dist string
	var img v1.Image
	for i := 0; i < 2; i++ {
		dist = filepath.Join(t.TempDir(), "dist")
		cmd := exec.Command("go", "run", "./hack/image", "-out", dist)
		cmd.Dir = testbed.ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hack/image: %v\n%s", err, out)
		}
		p, err := layout.FromPath(filepath.Join(dist, "oci"))
		if err != nil {
			t.Fatal(err)
		}
		idx, err := p.ImageIndex()
		if err != nil {
			t.Fatal(err)
		}
		m, err := idx.IndexManifest()
		if err != nil || len(m.Manifests) != 1 {
			t.Fatalf("OCI layout: %v %+v", err, m)
		}
		digests = append(digests, m.Manifests[0].Digest.String())
		oci, err := idx.Image(m.Manifests[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		// the docker-archive holds the same config and layer
		img, err = tarball.ImageFromPath(filepath.Join(dist, "coredns-headless.tar"), nil)
		if err != nil {
			t.Fatal(err)
		}
		a, err1 := img.ConfigName()
		b, err2 := oci.ConfigName()
		if err1 != nil || err2 != nil || a != b {
			t.Fatalf("docker-archive config %s, OCI layout config %s (%v %v)", a, b, err1, err2)
		}
	}
	if digests[0] != digests[1] {
		t.Errorf("not reproducible: %s then %s", digests[0], digests[1])
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || strings.Join(c.Entrypoint, " ") != "/coredns" || len(c.Cmd) != 0 || cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("config: user %q entrypoint %v cmd %v os %s/%s", c.User, c.Entrypoint, c.Cmd, cf.OS, cf.Architecture)
	}
	if _, u := c.ExposedPorts["53/udp"]; !u || len(c.ExposedPorts) != 2 {
		t.Errorf("ports %v", c.ExposedPorts)
	}
	for _, l := range []string{"org.opencontainers.image.version", "org.opencontainers.image.source", "org.opencontainers.image.revision"} {
		if c.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, c.Labels)
		}
	}
	// extract the entrypoint with its extended attribute, as an engine does
	dir, err := os.MkdirTemp("", "headless-image-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "coredns")
	extract(t, img, bin)
	checkDockerfile(t, cf, bin)
	cap := make([]byte, 64)
	n, err := unix.Getxattr(bin, "security.capability", cap)
	if err != nil || !bytes.Equal(cap[:n], netBindServiceEP) {
		t.Fatalf("extracted /coredns: security.capability %x, %v; want %x (cap_net_bind_service=+ep)", cap[:max(n, 0)], err, netBindServiceEP)
	}
	if err := staticELF(bin); err != nil {
		t.Error(err)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI runs as root; running the entrypoint as uid 65532 needs root")
		}
		t.Skip("needs root to switch to uid 65532")
	}
	copyFile(t, filepath.Join(testbed.ModuleRoot(), "sample", "cluster.yaml"), filepath.Join(dir, "cluster.yaml"), 0o644)
	addr := fmt.Sprintf("127.54.%d.%d", os.Getpid()%250+1, time.Now().Nanosecond()%250+1)
	writeFile(t, filepath.Join(dir, "Corefile"), fmt.Sprintf(".:53 {\n    bind %s\n    headless cluster.local {\n        manifests %s\n    }\n}\n", addr, filepath.Join(dir, "cluster.yaml")))
	asPod := asPodArgs(bin, filepath.Join(dir, "Corefile"))
	proc := testbed.Start(t, asPod[0], dir, asPod[1:]...)
	servesSample(t, proc, addr+":53", time.Now().Add(30*time.Second), "the image's entrypoint")
	t.Logf("image %s: entrypoint serves on %s:53 as uid 65532 with only NET_BIND_SERVICE", digests[1], addr)
}

// extract writes the image's /coredns to path, with its mode and the
// extended attributes of its PAX header.
func extract(t *testing.T, img v1.Image, path string) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimPrefix(h.Name, "/") != "coredns" {
				continue
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			for k, v := range h.PAXRecords {
				if x, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
					if err := unix.Setxattr(path, x, []byte(v), 0); err != nil {
						t.Fatalf("setxattr %s: %v", x, err)
					}
				}
			}
			rc.Close()
			return
		}
		rc.Close()
	}
	t.Fatal("no /coredns in the image's layers")
}

// netBindServiceEP is the security.capability xattr setcap writes for
// cap_net_bind_service=+ep: struct vfs_cap_data, revision 2 with the
// effective bit (0x02000001), permitted bit 10 (CAP_NET_BIND_SERVICE), no
// inheritable, no high words; little endian.
var netBindServiceEP = []byte{
	0x01, 0x00, 0x00, 0x02, // magic_etc
	0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // permitted, inheritable (low words)
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // permitted, inheritable (high words)
}

// staticELF checks that bin is an ELF executable that needs no dynamic
// loader and no shared library.
func staticELF(bin string) error {
	f, err := elf.Open(bin)
	if err != nil {
		return fmt.Errorf("%s: not an ELF file: %w", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			return fmt.Errorf("%s: not a static binary (program header %v)", bin, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		return fmt.Errorf("%s: not a static binary: needs %v (%v)", bin, libs, err)
	}
	return nil
}
