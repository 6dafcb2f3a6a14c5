package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// clientShaping measures the per-client step on the 100-endpoint Service
// (endpoints in zone-0..2): QPS with topology on (the load generator,
// 127.0.0.1, is placed by a Node's pod CIDR in zone-0) against ours with it
// off and stock; and that Service over plain UDP (512 bytes) with
// max_answers 8 against stock's truncated reply.
func clientShaping(res *result, fx *fixture, kubeconfig, ours, stock string) {
	n := &core.Node{ObjectMeta: meta.ObjectMeta{Name: "node-0", Labels: map[string]string{core.LabelTopologyZone: "zone-0"}},
		Spec: core.NodeSpec{PodCIDR: "127.0.0.0/24", PodCIDRs: []string{"127.0.0.0/24"}}}
	if _, err := fx.cs.CoreV1().Nodes().Create(context.Background(), n, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	with := func(opts string) string {
		return strings.Replace(corefileOurs, "startup_timeout 60s", "startup_timeout 60s\n        "+opts, 1)
	}
	// Two processes per configuration of ours, queried in a shuffled order
	// every run: on this shared machine two identical servers differ by up
	// to 15 % in one run, so one process per side decides nothing.
	s, _ := startServer("stock", stock, corefileStock, kubeconfig)
	offA, _ := startServer("ours", ours, corefileOurs, kubeconfig)
	topoA, _ := startServer("ours_topology", ours, with("topology PreferSameZone"), kubeconfig)
	offB, _ := startServer("ours", ours, corefileOurs, kubeconfig)
	topoB, _ := startServer("ours_topology", ours, with("topology PreferSameZone"), kubeconfig)
	capped, _ := startServer("ours_max8", ours, with("max_answers 8"), kubeconfig)
	defer func() {
		for _, sv := range []*server{s, offA, topoA, offB, topoB, capped} {
			sv.Stop()
		}
	}()
	name := "hundred.bench.svc.cluster.local."
	// the topology servers really order: zone-0 endpoints first
	for _, topo := range []*server{topoA, topoB} {
		r, err := testbed.Exchange(topo.Addr, name, dns.TypeA, false)
		if err != nil || len(r.Answer) != 100 {
			t.Fatalf("topology server: %v %v", r, err)
		}
		t.Logf("topology on, first answers: %v", r.Answer[:2])
	}

	file := filepath.Join(t.TempDir(), "q")
	os.WriteFile(file, []byte("hundred.bench.svc.cluster.local A\n"), 0o644)
	rng := rand.New(rand.NewPCG(1, 2))
	for run := 0; run < *runs; run++ {
		order := []*server{topoA, offA, s, topoB, offB}
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, sv := range order {
			qps, _ := dnsperfLost(sv.Port, file, "-e")
			res.add("qps_topo100/"+sv.name, qps)
			t.Logf("topology %s (port %d) run %d: %.0f qps", sv.name, sv.Port, run+1, qps)
		}
		for _, sv := range []*server{capped, s} {
			qps, lost := dnsperfLost(sv.Port, file) // plain DNS: a 512-byte buffer
			res.add("qps_cap100/"+sv.name, qps)
			res.add("lost_cap100/"+sv.name, lost)
			t.Logf("plain UDP %s run %d: %.0f qps, %.0f lost", sv.name, run+1, qps, lost)
		}
	}
	// what a plain UDP client gets: records per reply and truncated replies
	for _, sv := range []*server{capped, s} {
		tc, recs, fail := 0, 0, 0
		const n = 1000
		for i := 0; i < n; i++ {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, sv.Addr)
			switch {
			case err != nil || r.Rcode != dns.RcodeSuccess:
				fail++
			case r.Truncated:
				tc++
				recs += len(r.Answer)
			default:
				recs += len(r.Answer)
			}
		}
		res.set("cap100_tc/"+sv.name, float64(tc))
		res.set("cap100_fail/"+sv.name, float64(fail))
		res.set("cap100_records/"+sv.name, float64(recs)/float64(n-fail))
		t.Logf("plain UDP %s: %d of %d replies truncated, %d failed, %.1f records a reply", sv.name, tc, n, fail, float64(recs)/float64(n-fail))
	}
}

var lostRe = regexp.MustCompile(`Queries lost:\s+([0-9]+)`)

// dnsperfLost is dnsperf returning QPS and the queries lost.
func dnsperfLost(port int, file string, extra ...string) (float64, float64) {
	out := dnsperfOutput(port, file, extra...)
	m := lostRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no lost count in dnsperf output:\n%s", out)
	}
	lost, _ := strconv.ParseFloat(m[1], 64)
	q := qpsRe.FindStringSubmatch(out)
	qps, _ := strconv.ParseFloat(q[1], 64)
	return qps, lost
}

func shapingRows(f map[string]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| QPS, A on 100-endpoint Service, `topology PreferSameZone` on (client located by a Node's pod CIDR) | ≥ 0.9× ours with it off | %.4g | %.4g (stock) | %.2f× stock | ours off %.4g: on/off %.2f× |\n",
		f["qps_topo100/ours_topology"], f["qps_topo100/stock"], f["qps_topo100/ours_topology"]/f["qps_topo100/stock"], f["qps_topo100/ours"], f["qps_topo100/ours_topology"]/f["qps_topo100/ours"])
	fmt.Fprintf(&b, "| QPS, A on 100-endpoint Service over plain UDP (512 bytes), `max_answers 8` | > stock | %.4g | %.4g | %.2f× | lost: ours %.0f, stock %.0f |\n",
		f["qps_cap100/ours_max8"], f["qps_cap100/stock"], f["qps_cap100/ours_max8"]/f["qps_cap100/stock"], f["lost_cap100/ours_max8"], f["lost_cap100/stock"])
	fmt.Fprintf(&b, "| the same, 1,000 queries from a Go client: truncated replies (TC) | 0 | %.0f | %.0f | — | records a reply: ours %.1f, stock %.1f; failed: ours %.0f, stock %.0f |\n",
		f["cap100_tc/ours_max8"], f["cap100_tc/stock"], f["cap100_records/ours_max8"], f["cap100_records/stock"], f["cap100_fail/ours_max8"], f["cap100_fail/stock"])
	return b.String()
}
