package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// zoneTransfer: an AXFR of cluster.local holding *scaleEps headless
// endpoints (Services of 100), from ours (merged with kubernetes
// {noendpoints}) and from stock alone, both with the transfer plugin. Per
// server and run: one transfer alone (its time), then -seconds of dnsperf
// on a 100-endpoint Service name while transfers run back to back (the QPS
// of other queries, against a run without transfers), and the peak RSS
// sampled every 10 ms through both, against the RSS before.
func zoneTransfer(res *result, c *testbed.Cluster, fx *fixture, ours, stock string) {
	scaleFixture(fx)
	withTransfer := func(cf string) string {
		return strings.Replace(cf, "    ready 127.0.0.1:%d\n", "    ready 127.0.0.1:%d\n    transfer cluster.local {\n        to *\n    }\n", 1)
	}
	o, _ := startServer("ours", ours, withTransfer(corefileOurs), c.Admin)
	s, _ := startServer("stock", stock, withTransfer(corefileStock), c.Admin)
	servers := []*server{o, s}
	file := filepath.Join(t.TempDir(), "q")
	os.WriteFile(file, []byte("big-0.scale.svc.cluster.local A\n"), 0o644)
	time.Sleep(5 * time.Second)
	for r := 0; r < *runs; r++ {
		order := servers
		if r%2 == 1 {
			order = []*server{s, o}
		}
		for _, sv := range order {
			before := rssMiB(sv.Cmd.Process.Pid)
			var peak atomic.Int64
			stop := sampleRSS(sv.Cmd.Process.Pid, &peak)
			start := time.Now()
			records, err := countAXFR(sv.Addr)
			if err != nil {
				t.Fatalf("%s: transfer: %v", sv.name, err)
			}
			took := time.Since(start)
			alone := dnsperfArgs(sv.Port, file, "-e")
			var xfrs atomic.Int64
			done := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-done:
						return
					default:
					}
					if _, err := countAXFR(sv.Addr); err == nil {
						xfrs.Add(1)
					}
				}
			}()
			during := dnsperfArgs(sv.Port, file, "-e")
			close(done)
			wg.Wait()
			stop()
			res.add("xfr_s/"+sv.name, took.Seconds())
			res.add("xfr_records/"+sv.name, float64(records))
			res.add("xfr_rss_before_mib/"+sv.name, before)
			res.add("xfr_rss_peak_mib/"+sv.name, float64(peak.Load())/1024)
			res.add("xfr_qps_alone/"+sv.name, alone)
			res.add("xfr_qps_during/"+sv.name, during)
			res.add("xfr_during_count/"+sv.name, float64(xfrs.Load()))
			t.Logf("transfer %s run %d: %d records in %s; RSS %.0f MiB before, peak %.0f MiB; QPS alone %.0f, during %d transfers %.0f",
				sv.name, r+1, records, took.Round(time.Millisecond), before, float64(peak.Load())/1024, alone, xfrs.Load(), during)
			time.Sleep(3 * time.Second) // let the transfers' garbage go before the next server's turn
		}
	}
}

// countAXFR transfers cluster.local over TCP and counts its records.
func countAXFR(addr string) (int, error) {
	m := new(dns.Msg)
	m.SetAxfr("cluster.local.")
	env, err := (&dns.Transfer{}).In(m, addr)
	if err != nil {
		return 0, err
	}
	n := 0
	for e := range env {
		if e.Error != nil {
			return n, e.Error
		}
		n += len(e.RR)
	}
	return n, nil
}

// sampleRSS keeps the largest RSS of pid (KiB) in peak every 10 ms until
// the returned stop is called.
func sampleRSS(pid int, peak *atomic.Int64) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(10 * time.Millisecond)
		defer tk.Stop()
		for {
			if v := int64(rssMiB(pid) * 1024); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// transferRows are the report rows of zoneTransfer.
func transferRows(f map[string]float64, row func(figure, target, unit string, ours, stock float64, better string) string) string {
	var b strings.Builder
	b.WriteString(row(fmt.Sprintf("AXFR of cluster.local, %d headless endpoints", *scaleEps), "≤ stock", "s", f["xfr_s/ours"], f["xfr_s/stock"], fmt.Sprintf("records ours %.0f, stock %.0f", f["xfr_records/ours"], f["xfr_records/stock"])))
	b.WriteString(row("peak RSS through transfers", "≤ stock", "MiB", f["xfr_rss_peak_mib/ours"], f["xfr_rss_peak_mib/stock"], fmt.Sprintf("before: ours %.0f, stock %.0f MiB", f["xfr_rss_before_mib/ours"], f["xfr_rss_before_mib/stock"])))
	b.WriteString(row("QPS, A on a 100-endpoint Service, transfers running", "≥ stock", "", f["xfr_qps_during/ours"], f["xfr_qps_during/stock"], fmt.Sprintf("alone: ours %.0f, stock %.0f; transfers meanwhile: ours %.0f, stock %.0f", f["xfr_qps_alone/ours"], f["xfr_qps_alone/stock"], f["xfr_during_count/ours"], f["xfr_during_count/stock"])))
	return b.String()
}
