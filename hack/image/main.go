// Command image builds the OCI image of the custom CoreDNS without a
// container engine: a static binary at /coredns carrying the file
// capability cap_net_bind_service=+ep (as deploy/Dockerfile's setcap leaves
// it), run as 65532:65532 with entrypoint /coredns. It writes a
// docker-archive (docker load -i, kind load image-archive) and an OCI
// layout beside it. The same commit gives the same digest: the binary is
// built with -trimpath and no build ID, and every timestamp is the commit's.
//
//	go run ./hack/image -out dist [-tag REGISTRY/coredns-headless:TAG]
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CapNetBindService is security.capability for cap_net_bind_service=+ep:
// struct vfs_cap_data, revision 2, effective, permitted bit 10.
var CapNetBindService = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// Image labels.
const (
	LabelVersion  = "org.opencontainers.image.version"
	LabelSource   = "org.opencontainers.image.source"
	LabelRevision = "org.opencontainers.image.revision"
	Source        = "https://github.com/headlessdns/headless"
)

func main() {
	out := flag.String("out", "dist", "directory for coredns-headless.tar and the OCI layout oci/")
	tag := flag.String("tag", "", "image reference in the archive (default coredns-headless:VERSION)")
	flag.Parse()
	if err := build(*out, *tag); err != nil {
		log.Fatal(err)
	}
}

func build(out, tag string) error {
	rev, when, version, err := revision()
	if err != nil {
		return err
	}
	if tag == "" {
		tag = "coredns-headless:" + version
	}
	ref, err := name.NewTag(tag)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	bin := filepath.Join(out, "coredns")
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", bin, "./cmd/coredns")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	defer os.Remove(bin)
	img, err := Image(data, when, version, rev)
	if err != nil {
		return err
	}
	archive := filepath.Join(out, "coredns-headless.tar")
	if err := tarball.WriteToFile(archive, ref, img); err != nil {
		return err
	}
	oci := filepath.Join(out, "oci")
	if err := os.RemoveAll(oci); err != nil {
		return err
	}
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()})); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("%s %s\n%s (docker-archive), %s (OCI layout)\n", ref, d, archive, oci)
	return nil
}

// Image is the image of a static CoreDNS binary: one layer holding
// /coredns with the file capability, its config as deploy/ runs it.
func Image(binary []byte, when time.Time, version, rev string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{Name: "coredns", Mode: 0o755, Size: int64(len(binary)), ModTime: when, Typeflag: tar.TypeReg,
		Format: tar.FormatPAX, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": string(CapNetBindService)}}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(binary); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1), mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: when}, CreatedBy: "hack/image: CGO_ENABLED=0 go build ./cmd/coredns; cap_net_bind_service=+ep"}})
	if err != nil {
		return nil, err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: when}
	cf.Config = v1.Config{
		User:         "65532:65532",
		Entrypoint:   []string{"/coredns"},
		ExposedPorts: map[string]struct{}{"53/udp": {}, "53/tcp": {}},
		Labels:       map[string]string{LabelVersion: version, LabelSource: Source, LabelRevision: rev},
		WorkingDir:   "/",
	}
	return mutate.ConfigFile(img, cf)
}

// revision is the checkout's commit, its time, and a version: the tag at
// the commit, else v0.0.0-<short commit>; "-dirty" with uncommitted changes.
func revision() (rev string, when time.Time, version string, err error) {
	git := func(args ...string) (string, error) {
		b, err := exec.Command("git", args...).Output()
		return strings.TrimSpace(string(b)), err
	}
	if rev, err = git("rev-parse", "HEAD"); err != nil {
		return "", time.Time{}, "", fmt.Errorf("git rev-parse: %w", err)
	}
	ts, err := git("log", "-1", "--format=%ct")
	if err != nil {
		return "", time.Time{}, "", err
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", time.Time{}, "", err
	}
	version, err = git("describe", "--tags", "--exact-match")
	if err != nil || version == "" {
		version = "v0.0.0-" + rev[:12]
	}
	if st, _ := git("status", "--porcelain", "--untracked-files=no"); st != "" {
		version += "-dirty"
	}
	return rev, time.Unix(sec, 0).UTC(), version, nil
}
