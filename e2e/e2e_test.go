// Package e2e runs the custom CoreDNS binary on the sample cluster and queries
// it over UDP and TCP with a real DNS client.
package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

func sampleCorefile(extra string) string {
	return `.:{PORT} {
    bind 127.0.0.1
    errors
    ` + extra + `
    headless cluster.local in-addr.arpa ip6.arpa {
        manifests ` + filepath.Join(testbed.ModuleRoot(), "sample", "cluster.yaml") + `
        zonal
    }
}
`
}

func TestSampleCluster(t *testing.T) {
	bin := testbed.OurCoreDNS(t)
	c := testbed.StartCoreDNS(t, bin, sampleCorefile(""))
	cases := []struct {
		name  string
		qtype uint16
		rcode string
		want  []string
	}{
		{"web-0.web.default.svc.cluster.local.", dns.TypeA, "NOERROR", []string{"A 10.244.1.10"}},
		{"web.default.svc.cluster.local.", dns.TypeA, "NOERROR", []string{"A 10.244.1.10", "A 10.244.1.12", "A 10.244.2.11"}},
		{"_http._tcp.web.default.svc.cluster.local.", dns.TypeSRV, "NOERROR", []string{
			"SRV 0 33 80 web-0.web.default.svc.cluster.local.", "SRV 0 33 80 web-1.web.default.svc.cluster.local.", "SRV 0 33 80 web-2.web.default.svc.cluster.local."}},
		{"zone-b.pin._zone.web.default.svc.cluster.local.", dns.TypeA, "NOERROR", []string{"A 10.244.2.11"}},
		{"primary.db.default.svc.cluster.local.", dns.TypeA, "NOERROR", []string{"A 192.0.2.10"}},
		{"_postgresql._tcp.db.default.svc.cluster.local.", dns.TypeSRV, "NOERROR", []string{
			"SRV 0 50 5432 primary.db.default.svc.cluster.local.", "SRV 0 50 5432 replica.db.default.svc.cluster.local."}},
		{"web6.default.svc.cluster.local.", dns.TypeAAAA, "NOERROR", []string{"AAAA fd00:10:244:1::", "AAAA fd00:10:244::a"}},
		{"fd00-10-244-1--0.web6.default.svc.cluster.local.", dns.TypeAAAA, "NOERROR", []string{"AAAA fd00:10:244:1::"}},
		{"10.1.244.10.in-addr.arpa.", dns.TypePTR, "NOERROR", []string{"PTR web-0.web.default.svc.cluster.local."}},
		{"a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.4.4.2.0.0.1.0.0.0.0.d.f.ip6.arpa.", dns.TypePTR, "NOERROR", []string{"PTR fd00-10-244--a.web6.default.svc.cluster.local."}},
		{"web-0.web.default.svc.cluster.local.", dns.TypeAAAA, "NOERROR", nil},
		{"web-7.web.default.svc.cluster.local.", dns.TypeA, "NXDOMAIN", nil},
		// not headless, no next plugin: NXDOMAIN
		{"api.default.svc.cluster.local.", dns.TypeA, "NXDOMAIN", nil},
	}
	for _, tcp := range []bool{false, true} {
		for _, tc := range cases {
			r, err := testbed.Exchange(c.Addr, tc.name, tc.qtype, tcp)
			if err != nil {
				t.Fatalf("%s (tcp=%v): %v", tc.name, tcp, err)
			}
			rcode, got := testbed.Answers(r)
			if rcode != tc.rcode || strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("%s %s (tcp=%v): got %s %q, want %s %q", tc.name, dns.TypeToString[tc.qtype], tcp, rcode, got, tc.rcode, tc.want)
			}
			if !r.Authoritative {
				t.Errorf("%s: not authoritative", tc.name)
			}
			if (tc.rcode == "NXDOMAIN" || len(tc.want) == 0) && (len(r.Ns) != 1 || r.Ns[0].Header().Rrtype != dns.TypeSOA) {
				t.Errorf("%s: negative answer without SOA: %v", tc.name, r.Ns)
			}
		}
	}
}

// A change to the manifest file is served without a restart.
func TestManifestReload(t *testing.T) {
	bin := testbed.OurCoreDNS(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "cluster.yaml")
	orig, err := os.ReadFile(filepath.Join(testbed.ModuleRoot(), "sample", "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	c := testbed.StartCoreDNS(t, bin, `.:{PORT} {
    bind 127.0.0.1
    headless cluster.local {
        manifests `+file+`
    }
}`)
	changed := strings.Replace(string(orig), "{ip: 192.0.2.11, hostname: replica}", "{ip: 192.0.2.12, hostname: replica}", 1)
	if err := os.WriteFile(file, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	replica := func() error {
		r, err := testbed.Exchange(c.Addr, "replica.db.default.svc.cluster.local.", dns.TypeA, false)
		if err != nil {
			return err
		}
		if _, got := testbed.Answers(r); strings.Join(got, "") != "A 192.0.2.12" {
			return fmt.Errorf("answer %v", got)
		}
		return nil
	}
	testbed.Eventually(t, 10*time.Second, "manifest change served", replica)
	// a broken file keeps the last good answers
	if err := os.WriteFile(file, []byte("kind: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	testbed.Eventually(t, 10*time.Second, "broken manifest noticed", func() error {
		if !strings.Contains(c.Log(), "manifests not reloaded") {
			return fmt.Errorf("no log line for the broken manifest")
		}
		return nil
	})
	r, err := testbed.Exchange(c.Addr, "replica.db.default.svc.cluster.local.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := testbed.Answers(r); strings.Join(got, "") != "A 192.0.2.12" {
		t.Fatalf("broken manifest dropped answers: %v", got)
	}
}

// Reloading the Corefile many times leaves no goroutine behind.
func TestReloadNoLeak(t *testing.T) {
	bin := testbed.OurCoreDNS(t)
	mport := testbed.FreePort(t)
	c := testbed.StartCoreDNS(t, bin, sampleCorefile(fmt.Sprintf("prometheus 127.0.0.1:%d", mport)))
	metricsURL := fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)
	goroutines := func() float64 { return testbed.Metric(t, metricsURL, "go_goroutines") }
	testbed.Reload(t, c.Proc, 3) // warm up: first reloads allocate long-lived pieces (metrics, listeners)
	base := testbed.Settled(t, 20*time.Second, "goroutines", goroutines)
	testbed.Reload(t, c.Proc, 30)
	after := testbed.Settled(t, 20*time.Second, "goroutines", goroutines)
	t.Logf("goroutines after 3 reloads: %v, after 30 more: %v", base, after)
	if after > base+5 {
		t.Errorf("goroutines grew from %v to %v over 30 reloads", base, after)
	}
	r, err := testbed.Exchange(c.Addr, "web-0.web.default.svc.cluster.local.", dns.TypeA, false)
	if err != nil || len(r.Answer) != 1 {
		t.Fatalf("no answer after reloads: %v %v", r, err)
	}
}

// The README's quick start: sample/Corefile as shipped (port and ready port
// moved to free ones) answers the README's dig.
func TestQuickStartCorefile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testbed.ModuleRoot(), "sample", "Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	cf := strings.Replace(string(b), ".:1053", ".:{PORT}", 1)
	cf = strings.Replace(cf, "127.0.0.1:8181", fmt.Sprintf("127.0.0.1:%d", testbed.FreePort(t)), 1)
	if !strings.Contains(cf, "{PORT}") || !strings.Contains(cf, "manifests sample/cluster.yaml") {
		t.Fatalf("sample/Corefile changed shape:\n%s", b)
	}
	c := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), cf)
	r, err := testbed.Exchange(c.Addr, "web-0.web.default.svc.cluster.local.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := testbed.Answers(r); strings.Join(got, "") != "A 10.244.1.10" {
		t.Fatalf("quick start answer %v", got)
	}
	// the sample's imported headless Service, as the README's transcript shows it
	r, err = testbed.Exchange(c.Addr, "cassandra.default.svc.clusterset.local.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, got := testbed.Answers(r); strings.Join(got, " | ") != "A 10.1.0.10 | A 10.1.0.11 | A 10.2.0.10" {
		t.Fatalf("sample clusterset answer %v", got)
	}
	// the quick start's missing name says why, in an Extended DNS Error
	r, err = testbed.Exchange(c.Addr, "web-3.web.default.svc.cluster.local.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	var ede []string
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				ede = append(ede, e.ExtraText)
			}
		}
	}
	if r.Rcode != dns.RcodeNameError || len(ede) != 1 || ede[0] != "headless: web-3.web.default: no endpoint of Service web has the name web-3; its hostnames: web-0, web-1, web-2" {
		t.Fatalf("quick start's missing name: %s %q", dns.RcodeToString[r.Rcode], ede)
	}
	// and a clusterset name asked with a cluster the import lacks (the README's transcript)
	r, err = testbed.Exchange(c.Addr, "cassandra-0.north.cassandra.default.svc.clusterset.local.", dns.TypeA, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := edeTexts(r); r.Rcode != dns.RcodeNameError || len(got) != 1 ||
		got[0] != "headless: cassandra-0.north.cassandra.default: no EndpointSlice of ServiceImport cassandra comes from cluster north; its clusters: east, west" {
		t.Fatalf("clusterset name of an unknown cluster: %s %q", dns.RcodeToString[r.Rcode], got)
	}
}

// edeTexts are the Extended DNS Errors' texts of a reply.
func edeTexts(r *dns.Msg) []string {
	var out []string
	if opt := r.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				out = append(out, e.ExtraText)
			}
		}
	}
	return out
}
