#!/usr/bin/env bash
# Every test. Builds the control plane binaries on first use (cached under the
# user cache dir), so the integration suite runs, never skips.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed: $unformatted" >&2
  exit 1
fi
go vet ./...
export HEADLESS_TESTBED_BUILD=1
./testbed/build.sh >/dev/null
go test -race -count=1 -timeout 40m ./...
