package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

func report(r *result) {
	for k, v := range r.Samples {
		if strings.HasPrefix(k, "fresh_ms/") {
			s := append([]float64(nil), v...)
			sort.Float64s(s)
			r.set("fresh_p50_ms/"+strings.TrimPrefix(k, "fresh_ms/"), percentile(s, 50))
			r.set("fresh_p99_ms/"+strings.TrimPrefix(k, "fresh_ms/"), percentile(s, 99))
		} else {
			r.set(k, median(v))
		}
	}
	f := r.Figures
	row := func(figure, target, unit string, ours, stock float64, better string) string {
		ratio := fmt.Sprintf("%.2f×", ours/stock)
		if math.IsInf(ours, 0) || math.IsInf(stock, 0) || ours == 0 || stock == 0 {
			ratio = "—" // no ratio of an infinite or zero figure: both are given
		}
		return fmt.Sprintf("| %s | %s | %s | %s | %s | %s |\n", figure, target, value(ours, unit), value(stock, unit), ratio, better)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Machine: %s. Run took %s.\n\n", r.Machine, r.Duration)
	if *only != "replicas" { // (it has a table of its own)
		b.WriteString("| figure | target | ours | stock | ours/stock | note |\n|---|---|---|---|---|---|\n")
	}
	if *only == "" || *only == "shaping" {
		b.WriteString(shapingRows(f))
	}
	if *only == "explain" {
		b.WriteString(explainRows(f))
	}
	if *only != "" {
		switch *only {
		case "sts":
			b.WriteString(stsRows(f, row))
		case "scale":
			b.WriteString(scaleRows(f, row))
		case "transfer":
			b.WriteString(transferRows(f, row))
		case "mcs":
			b.WriteString(mcsRows(r, row))
		case "replicas":
			b.WriteString(replicaRows(r))
		}
		fmt.Print(b.String())
		os.MkdirAll(*out, 0o755)
		os.WriteFile(filepath.Join(*out, "results-"+*only+".md"), []byte(b.String()), 0o644)
		j, _ := json.MarshalIndent(r, "", "  ")
		os.WriteFile(filepath.Join(*out, "results-"+*only+".json"), j, 0o644)
		return
	}
	b.WriteString(row("QPS, headless A, 2 endpoints", "≥ 1.2× stock, ≥ 0.9× whoami", "", f["qps_a2/ours"], f["qps_a2/stock"], fmt.Sprintf("whoami %.0f qps; ours/whoami %.2f×", f["qps_whoami"], f["qps_a2/ours"]/f["qps_whoami"])))
	b.WriteString(row("QPS, A on 100-endpoint Service (EDNS 4096)", "≥ 2× stock", "", f["qps_a100/ours"], f["qps_a100/stock"], ""))
	b.WriteString(row("QPS, SRV on 100-endpoint Service (EDNS 4096)", "≥ 2× stock", "", f["qps_srv100/ours"], f["qps_srv100/stock"], ""))
	b.WriteString(row(fmt.Sprintf("p99 latency at %.0f qps (80%% of stock max)", f["lat_rate_qps"]), "≤ stock", "ms", f["lat_p99_ms/ours"], f["lat_p99_ms/stock"], fmt.Sprintf("a lost query counts as infinite (∞: more than 1 %% lost); lost ours %.0f stock %.0f; p50 ours %s, stock %s", f["lat_lost/ours"], f["lat_lost/stock"], value(f["lat_p50_ms/ours"], "ms"), value(f["lat_p50_ms/stock"], "ms"))))
	b.WriteString(row("RSS after sync", "≤ stock", "MiB", f["rss_mib/ours"], f["rss_mib/stock"], ""))
	b.WriteString(row(fmt.Sprintf("CPU during %d ClusterIP slice updates", *updates), "≥ 10× less", "s", f["churn_cpu_s/ours"], f["churn_cpu_s/stock"], fmt.Sprintf("%s vs %s; %.0f updates/s", value(f["churn_cpu_s/ours"], "s"), value(f["churn_cpu_s/stock"], "s"), f["churn_updates_per_s"])))
	b.WriteString(row("slice write → answer, p50", "≤ 10 ms", "ms", f["fresh_p50_ms/ours"], f["fresh_p50_ms/stock"], fmt.Sprintf("%d writes", *freshN)))
	b.WriteString(row("slice write → answer, p99", "≤ 50 ms", "ms", f["fresh_p99_ms/ours"], f["fresh_p99_ms/stock"], ""))
	b.WriteString(scaleRows(f, row))
	b.WriteString(fmt.Sprintf("| DNS programming latency histogram, same writes (ours) | ≈ write → answer | %.3g ms mean over %.0f changes | — | — | from event arrival to the index taking it in (from then on every answer shows it); the external figure adds API server → watch delivery and polling |\n", f["prog_mean_ms"], f["prog_count"]))
	if *outageSeconds > 0 {
		b.WriteString(row(fmt.Sprintf("catch-up: kube-apiserver stopped %d s, slice written at /readyz → served", *outageSeconds), "≤ 2 s", "s", f["catchup_s/ours"], f["catchup_s/stock"], fmt.Sprintf("median of %d runs", *runs)))
	}
	if *stsPods > 0 {
		b.WriteString(stsRows(f, row))
	}
	fmt.Print(b.String())
	os.MkdirAll(*out, 0o755)
	os.WriteFile(filepath.Join(*out, "results.md"), []byte(b.String()), 0o644)
	j, _ := json.MarshalIndent(r, "", "  ")
	os.WriteFile(filepath.Join(*out, "results.json"), j, 0o644)
}

func stsRows(f map[string]float64, row func(figure, target, unit string, ours, stock float64, better string) string) string {
	var b strings.Builder
	b.WriteString(row(fmt.Sprintf("QPS, pod name of a %d-pod headless Service", *stsPods), "> stock", "", f["sts_qps_pod/ours"], f["sts_qps_pod/stock"], ""))
	b.WriteString(row(fmt.Sprintf("QPS, its Service name over TCP (%d records, 64 KiB cap)", *stsPods), "> stock", "", f["sts_qps_svc_tcp/ours"], f["sts_qps_svc_tcp/stock"], "Go client, 4 persistent connections (dnsperf cannot read 64 KiB replies)"))
	b.WriteString(row(fmt.Sprintf("RSS after sync, %d-pod Service", *stsPods), "≤ stock", "MiB", f["sts_rss_mib/ours"], f["sts_rss_mib/stock"], fmt.Sprintf("after the flips: ours %.0f MiB, stock %.0f MiB", f["sts_rss_after_mib/ours"], f["sts_rss_after_mib/stock"])))
	b.WriteString(row(fmt.Sprintf("false negatives for always-ready pods while the %d-pod Service churns", *stsPods), "0 (ours)", "", f["sts_churn_false_negatives/ours"], f["sts_churn_false_negatives/stock"],
		fmt.Sprintf("%.0f queries a server over %.0f s: flips, delete-recreates, 10 %% scale-down and up; failed exchanges (timeouts) ours %.0f, stock %.0f", f["sts_churn_queries"], f["sts_churn_s"],
			f["sts_churn_failed_exchanges/ours"], f["sts_churn_failed_exchanges/stock"])))
	b.WriteString(row(fmt.Sprintf("CoreDNS CPU, %d readiness flips/s for %d s on it", *flipRate, *flipSeconds), "≤ stock", "s", f["sts_flip_cpu_s/ours"], f["sts_flip_cpu_s/stock"], fmt.Sprintf("%.0f flips/s achieved; %.0f EndpointSlice events reached ours", f["sts_flips_per_s"], f["sts_flip_slice_events"])))
	if _, ok := f["sts_flipq_cpu_s/ours"]; ok {
		b.WriteString(row(fmt.Sprintf("CoreDNS CPU, the same flips for another %d s while each server is asked %d pod names/s", *flipSeconds, *flipQPS), "", "s", f["sts_flipq_cpu_s/ours"], f["sts_flipq_cpu_s/stock"], fmt.Sprintf("%.0f flips/s achieved; %.0f EndpointSlice events reached ours; %.1f answers/s a server", f["sts_flipqs_per_s"], f["sts_flipq_slice_events"], f["sts_flipq_qps"])))
	}
	return b.String()
}

// value is a figure with its unit; an infinite one is ∞.
func value(v float64, unit string) string {
	if math.IsInf(v, 0) {
		return "∞"
	}
	if math.Abs(v) >= 10000 { // a rate or a count: whole, not 5.822e+04
		return strings.TrimSpace(fmt.Sprintf("%.0f %s", v, unit))
	}
	return strings.TrimSpace(fmt.Sprintf("%.4g %s", v, unit))
}
