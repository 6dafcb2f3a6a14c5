#!/usr/bin/env bash
# Builds the real control plane and node used by the integration tests and
# benchmarks: kube-apiserver, kube-controller-manager, kubelet and kube-proxy
# (k8s.io/kubernetes, in one go build so they share its compile cache) and etcd,
# from the Go module proxy, cached under the user cache dir keyed by version.
# Prints the cache directory holding the binaries on stdout.
set -euo pipefail
K8S_VERSION=${K8S_VERSION:-v1.37.2}
ETCD_VERSION=${ETCD_VERSION:-v3.6.6}
cache=${HEADLESS_TESTBED_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/headless-testbed}
dir="$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$dir"
log() { echo "testbed/build.sh: $*" >&2; }
flags=(-trimpath -ldflags=-s\ -w)
k8s=(kube-apiserver kube-controller-manager kubelet kube-proxy)

missing=()
for c in "${k8s[@]}"; do [ -x "$dir/$c" ] || missing+=("$c"); done
if [ ${#missing[@]} -gt 0 ]; then
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  staging_ver="v0.${K8S_VERSION#v1.}"
  ( cd "$work"
    go mod init scratch/k8s >/dev/null 2>&1
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    gomod=$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod
    # every k8s.io/<repo> => ./staging/src/k8s.io/<repo> becomes k8s.io/<repo> vX
    repl=$(awk '/=> \.\/staging\/src\//{print $1}' "$gomod" | sort -u)
    args=(-require="k8s.io/kubernetes@$K8S_VERSION")
    for r in $repl; do args+=(-replace="$r=$r@$staging_ver"); done
    go mod edit "${args[@]}"
    { echo '//go:build tools'; echo; echo 'package tools'; echo; echo 'import ('
      for c in "${k8s[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
      echo ')'; } > tools.go
    log "resolving k8s.io/kubernetes $K8S_VERSION modules"
    pkgs=(); for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1 || GOFLAGS=-mod=mod go get "${pkgs[@]}"
    log "building ${missing[*]} (about 15 minutes cold on 2 cores)"
    mkdir -p out
    GOFLAGS=-mod=mod go build "${flags[@]}" -o out/ "${pkgs[@]}"
    for c in "${missing[@]}"; do mv "out/$c" "$dir/$c"; done )
fi

if [ ! -x "$dir/etcd" ]; then
  work2=$(mktemp -d)
  ( cd "$work2"
    go mod init scratch/etcd >/dev/null 2>&1
    cat > main.go <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
    log "building etcd $ETCD_VERSION"
    GOFLAGS=-mod=mod go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null 2>&1
    GOFLAGS=-mod=mod go mod tidy >/dev/null 2>&1
    GOFLAGS=-mod=mod go build "${flags[@]}" -o "$dir/etcd.tmp" . 
    mv "$dir/etcd.tmp" "$dir/etcd" )
  rm -rf "$work2"
fi
echo "$dir"
