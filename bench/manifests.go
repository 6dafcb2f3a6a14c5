package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
)

var manifestsBefore = flag.String("manifests-before", "", "manifests: a second CoreDNS binary (e.g. built from an earlier commit) measured the same way, for before/after")

// writeManifest writes a manifest of about mb MB: headless Services of 10
// endpoints, each with one EndpointSlice as the controller writes it.
func writeManifest(path string, mb int) (services int) {
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	written := 0
	for i := 0; written < mb<<20; i++ {
		var b strings.Builder
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: svc-%d\n  namespace: ns-%d\n  labels: {app: svc-%d}\nspec:\n  clusterIP: None\n  selector: {app: svc-%d}\n  ports:\n  - {name: http, port: 80, protocol: TCP}\n", i, i%50, i, i)
		fmt.Fprintf(&b, "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-%d-abcde\n  namespace: ns-%d\n  labels:\n    kubernetes.io/service-name: svc-%d\n    endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io\n    service.kubernetes.io/headless: \"\"\naddressType: IPv4\nports:\n- {name: http, port: 80, protocol: TCP}\nendpoints:\n", i, i%50, i)
		for j := 0; j < 10; j++ {
			fmt.Fprintf(&b, "- addresses: [10.%d.%d.%d]\n  hostname: svc-%d-%d\n  nodeName: node-%d\n  zone: zone-%d\n  conditions: {ready: true, serving: true, terminating: false}\n  targetRef: {kind: Pod, name: svc-%d-%d, namespace: ns-%d}\n",
				(i*10+j)>>16&255, (i*10+j)>>8&255, (i*10+j)&255, i, j, j, j%3, i, j, i%50)
		}
		n, _ := w.WriteString(b.String())
		written += n
		services = i + 1
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return services
}

// manifestMemory measures, per manifest size, a CoreDNS serving it alone:
// RSS at /ready, RSS 20 s later, and its CPU over those idle 20 s (the poll).
func manifestMemory(res *result, ours string) {
	bins := map[string]string{"ours": ours}
	if *manifestsBefore != "" {
		bins["before"] = *manifestsBefore
	}
	dir := *out
	for _, mb := range []int{10, 50} {
		path := filepath.Join(dir, fmt.Sprintf("manifest-%dmb.yaml", mb))
		n := writeManifest(path, mb)
		t.Logf("manifest of %d MB: %d Services, %d endpoints", mb, n, 10*n)
		for name, bin := range bins {
			for run := 0; run < 2; run++ {
				rp := testbed.FreePort(t)
				cf := fmt.Sprintf(".:{PORT} {\n    bind 127.0.0.1\n    ready 127.0.0.1:%d\n    headless cluster.local in-addr.arpa {\n        manifests %s\n        startup_timeout 120s\n    }\n}\n", rp, path)
				start := time.Now()
				c := testbed.StartCoreDNSWith(t, []string{"taskset", "-c", "1"}, bin, cf)
				waitReady(fmt.Sprintf("%s on %d MB", name, mb), fmt.Sprintf("http://127.0.0.1:%d/ready", rp), start)
				ready := time.Since(start)
				pid := c.Cmd.Process.Pid
				rssReady, cpu0 := rssMiB(pid), cpuSeconds(pid)
				peak := rssReady
				for i := 0; i < 40; i++ {
					time.Sleep(500 * time.Millisecond)
					peak = max(peak, rssMiB(pid))
				}
				rssAfter, idle := rssMiB(pid), (cpuSeconds(pid)-cpu0)/20
				c.Stop()
				key := fmt.Sprintf("%s/%dmb", name, mb)
				res.add("manifest_ready_s/"+key, ready.Seconds())
				res.add("manifest_rss_ready_mib/"+key, rssReady)
				res.add("manifest_rss_after_mib/"+key, rssAfter)
				res.add("manifest_rss_peak_mib/"+key, peak)
				res.add("manifest_idle_cpu/"+key, idle)
				t.Logf("%s, %d MB manifest: ready in %.1f s, RSS %.0f MiB at ready, %.0f MiB 20 s later (peak %.0f), idle CPU %.1f %% of a core",
					name, mb, ready.Seconds(), rssReady, rssAfter, peak, 100*idle)
			}
		}
	}
}
