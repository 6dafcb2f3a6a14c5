# The two commands a newcomer needs:
#   make run    CoreDNS with the headless plugin on 127.0.0.1:1053, serving the
#               sample cluster (sample/cluster.yaml), or a real cluster when
#               KUBECONFIG=/path/to/kubeconfig is given.
#   make test   every test: unit, fuzz seeds, e2e, and the integration suite
#               against a real kube-apiserver/etcd/controller-manager (built
#               from the Go module proxy on first use, about 15 minutes cold).
# Beyond those two:
#   make bench  this CoreDNS against stock v1.15.0 (BENCHMARKS.md; needs dnsperf).
#   make fuzz   each fuzz target for FUZZTIME (default 5m), new inputs minimized
#               for at most 2 s (the default minute stalls the engine: see
#               FuzzDecodeSlice).
#   make image  the OCI image without a container engine: dist/coredns-headless.tar
#               (docker-archive) and dist/oci (OCI layout), reproducible.
.PHONY: run test bench build fuzz image

FUZZTIME ?= 5m

build:
	go build -o coredns ./cmd/coredns

run: build
	./hack/run.sh

test:
	./hack/test.sh

bench:
	go run ./bench

fuzz:
	go test -run XXX -fuzz '^FuzzServeDNS$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s .
	go test -run XXX -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s .
	go test -run XXX -fuzz '^FuzzDecodeSlice$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./internal/object
	go test -run XXX -fuzz '^FuzzExplainName$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./internal/explain

image:
	go run ./hack/image -out dist
