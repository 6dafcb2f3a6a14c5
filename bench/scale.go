package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// startToReady: *scaleEps headless endpoints (Services of 100), each server
// started fresh *runs times; time from process start to /ready, a
// 100-record answer checked, and RSS once settled.
func startToReady(res *result, c *testbed.Cluster, fx *fixture, ours, stock string) {
	n := scaleFixture(fx)
	for _, name := range []string{"stock", "ours"} {
		for r := 0; r < *runs; r++ {
			var d time.Duration
			var sv *server
			cf := map[string]string{"ours": corefileOurs, "stock": corefileStock}[name]
			pp := 0
			if *scaleProfile && r == 0 {
				pp = testbed.FreePort(t)
				cf = strings.Replace(cf, "ready 127.0.0.1:%d", fmt.Sprintf("ready 127.0.0.1:%%d\n    pprof 127.0.0.1:%d", pp), 1)
			}
			sv, d = startServer(name, map[string]string{"ours": ours, "stock": stock}[name], cf, c.Admin)
			// it must really answer a scale name once ready; start to that
			// answer is the figure a client sees (ours builds a Service on
			// its first read if the background build has not reached it)
			q := time.Now()
			if m, err := testbed.Exchange(sv.Addr, fmt.Sprintf("big-%d.scale.svc.cluster.local.", n-1), dns.TypeA, false); err != nil || len(m.Answer) != 100 {
				t.Fatalf("%s ready but scale Service not answered: %v %v", name, m, err)
			}
			res.add("ready_s/"+name, d.Seconds())
			res.add("first_answer_s/"+name, d.Seconds()+time.Since(q).Seconds())
			if r == 0 {
				time.Sleep(3 * time.Second)
				res.set("rss_scale_mib/"+name, rssMiB(sv.Cmd.Process.Pid))
				if pp != 0 {
					saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap", pp), filepath.Join(*out, "heap-"+name+".prof"))
					saveProfile(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/heap?debug=1", pp), filepath.Join(*out, "heap-"+name+".txt"))
				}
			}
			t.Logf("start to ready with %d headless endpoints, %s: %s", n*100, name, d)
			sv.Stop()
		}
	}
}

// scaleFixture creates *scaleEps headless endpoints in namespace scale, as
// Services big-0... of 100 each, and returns how many Services.
func scaleFixture(fx *fixture) int {
	n := *scaleEps / 100
	t.Logf("creating %d headless Services x 100 endpoints", n)
	fx.namespace("scale")
	fx.services("scale", "big", n, 100, true)
	return n
}

// scaleRows are the report rows of startToReady and relistPeak.
func scaleRows(f map[string]float64, row func(figure, target, unit string, ours, stock float64, better string) string) string {
	var b strings.Builder
	b.WriteString(row(fmt.Sprintf("start to Ready, %d headless endpoints", *scaleEps), "≤ 3 s", "s", f["ready_s/ours"], f["ready_s/stock"], fmt.Sprintf("RSS then: ours %.0f MiB, stock %.0f MiB; start to the first 100-record answer: ours %.3g s, stock %.3g s",
		f["rss_scale_mib/ours"], f["rss_scale_mib/stock"], f["first_answer_s/ours"], f["first_answer_s/stock"])))
	b.WriteString(row(fmt.Sprintf("RSS peak through a forced relist (API server restart, 410 Gone), %d headless endpoints", *scaleEps), "peak ≤ 1.2× steady", "MiB",
		f["relist_peak_mib/ours"], f["relist_peak_mib/stock"], fmt.Sprintf("steady ours %.0f MiB, stock %.0f MiB; peak/steady ours %.2f×, stock %.2f×",
			f["relist_steady_mib/ours"], f["relist_steady_mib/stock"], f["relist_peak_mib/ours"]/f["relist_steady_mib/ours"], f["relist_peak_mib/stock"]/f["relist_steady_mib/stock"])))
	return b.String()
}
