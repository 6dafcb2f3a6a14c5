#!/usr/bin/env bash
# Runs the custom CoreDNS on 127.0.0.1:1053: the sample cluster by default,
# a real cluster (headless + kubernetes{noendpoints}) when KUBECONFIG is set.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x ./coredns ] || go build -o coredns ./cmd/coredns
if [ -z "${KUBECONFIG:-}" ]; then
  echo "serving sample/cluster.yaml on 127.0.0.1:1053; try: dig @127.0.0.1 -p 1053 web-0.web.default.svc.cluster.local" >&2
  exec ./coredns -conf sample/Corefile
fi
conf=$(mktemp)
trap 'rm -f "$conf"' EXIT
cat > "$conf" <<COREFILE
.:1053 {
    bind 127.0.0.1
    errors
    ready 127.0.0.1:8181
    headless cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG
        explain
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $KUBECONFIG
        noendpoints
    }
}
COREFILE
echo "serving the cluster of $KUBECONFIG on 127.0.0.1:1053" >&2
./coredns -conf "$conf"
