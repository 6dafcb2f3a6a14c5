package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// explainQPS measures the explain option's cost: ours with explain on
// against off, both behind cache 30 as deployed, two processes each queried
// in a shuffled order every run (two identical servers differ by up to
// 15 % in one run here): a positive answer (the 100-endpoint Service's A,
// EDNS 4096: explain must leave it alone) and a negative one (an endpoint
// name the Service lacks: NXDOMAIN from cache, its reason added by the
// front step on every reply).
func explainQPS(res *result, kubeconfig, ours string) {
	with := func(opts string) string {
		cf := strings.Replace(corefileOurs, "    headless cluster.local", "    cache 30\n    headless cluster.local", 1)
		if opts != "" {
			cf = strings.Replace(cf, "startup_timeout 60s", "startup_timeout 60s\n        "+opts, 1)
		}
		return cf
	}
	offA, _ := startServer("explain_off", ours, with(""), kubeconfig)
	onA, _ := startServer("explain_on", ours, with("explain"), kubeconfig)
	offB, _ := startServer("explain_off", ours, with(""), kubeconfig)
	onB, _ := startServer("explain_on", ours, with("explain"), kubeconfig)
	all := []*server{offA, onA, offB, onB}
	defer func() {
		for _, sv := range all {
			sv.Stop()
		}
	}()
	neg := "nosuch.hundred.bench.svc.cluster.local."
	for _, sv := range all { // what each side answers
		m := new(dns.Msg)
		m.SetQuestion(neg, dns.TypeA)
		m.SetEdns0(4096, false)
		r, _, err := (&dns.Client{}).Exchange(m, sv.Addr)
		if err != nil || r.Rcode != dns.RcodeNameError {
			t.Fatalf("%s: %v %v", sv.name, r, err)
		}
		ede := ""
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if x, ok := e.(*dns.EDNS0_EDE); ok {
					ede = x.ExtraText
				}
			}
		}
		if (sv.name == "explain_on") != (ede != "") {
			t.Fatalf("%s: EDE %q", sv.name, ede)
		}
	}
	dir := t.TempDir()
	pos, negf := filepath.Join(dir, "pos"), filepath.Join(dir, "neg")
	os.WriteFile(pos, []byte("hundred.bench.svc.cluster.local A\n"), 0o644)
	os.WriteFile(negf, []byte(neg+" A\n"), 0o644)
	rng := rand.New(rand.NewPCG(3, 4))
	for run := 0; run < *runs; run++ {
		order := append([]*server(nil), all...)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, sv := range order {
			for _, q := range []struct{ key, file, rcode string }{{"qps_explain_pos", pos, "NOERROR"}, {"qps_explain_neg", negf, "NXDOMAIN"}} {
				m := qpsRe.FindStringSubmatch(dnsperfExpect(sv.Port, q.file, q.rcode, "-e"))
				qps, _ := strconv.ParseFloat(m[1], 64)
				res.add(q.key+"/"+sv.name, qps)
				t.Logf("%s %s (port %d) run %d: %.0f qps", q.key, sv.name, sv.Port, run+1, qps)
			}
		}
	}
}

func explainRows(f map[string]float64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| QPS with `explain` on, A on 100-endpoint Service (positive, through `cache 30`) | = off | %.4g | %.4g (off) | %.2f× off | |\n",
		f["qps_explain_pos/explain_on"], f["qps_explain_pos/explain_off"], f["qps_explain_pos/explain_on"]/f["qps_explain_pos/explain_off"])
	fmt.Fprintf(&b, "| QPS with `explain` on, NXDOMAIN endpoint name (its EDE added to every reply from cache) | — | %.4g | %.4g (off) | %.2f× off | |\n",
		f["qps_explain_neg/explain_on"], f["qps_explain_neg/explain_off"], f["qps_explain_neg/explain_on"]/f["qps_explain_neg/explain_off"])
	return b.String()
}
