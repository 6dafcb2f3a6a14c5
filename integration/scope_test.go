package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestScope: the namespaces and labels options on the real control plane.
// A Service relabelled out of a labels stanza's scope passes its names to
// the next plugin and loses its PTRs; relabelled back, it is served again.
// A namespaces stanza serves its namespaces only, also for Services made
// after it started.
func TestScope(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	for _, ns := range []string{"app", "other"} {
		c.Namespace(t, ns)
	}
	byLabel := startOursWith(t, c.Admin, "", "startup_timeout 10s\n        labels dns in (yes)")
	byNS := startOursWith(t, c.Admin, "", "startup_timeout 10s\n        namespaces app")

	mk := func(ns, name, label, ip string) {
		s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"dns": label}},
			Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone, Selector: map[string]string{"app": name}, Ports: []core.ServicePort{testbed.ServicePort("http", 80)}}}
		if _, err := c.Client.CoreV1().Services(ns).Create(bg, s, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.Pod(t, testbed.PodSpec{Namespace: ns, Name: name + "-0", Node: "node-a", Labels: map[string]string{"app": name},
			Hostname: name + "-0", Subdomain: name, IPs: []string{ip}, Ready: true})
	}
	mk("app", "web", "yes", "10.244.1.10")
	mk("other", "db", "yes", "10.244.2.10")
	served := func(d *dut, name, ip, ptr string) {
		t.Helper()
		expect(t, d.Addr, name, dns.TypeA, "NOERROR A "+ip)
		expect(t, d.Addr, ptr, dns.TypePTR, "NOERROR PTR "+name)
	}
	// passed reports whether d passes name to the next plugin (its pass
	// counter rises) and the PTR is NXDOMAIN (kubernetes {noendpoints} has none).
	passed := func(d *dut, name, ptr string) {
		t.Helper()
		eventually(t, 30*time.Second, name+" passed on", func() error {
			before := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`)
			if got := answer(t, d.Addr, name, dns.TypeA, false); got != "NXDOMAIN" {
				return fmt.Errorf("%s: %q (kubernetes {noendpoints} has no endpoint names)", name, got)
			}
			if after := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`); after <= before {
				return fmt.Errorf("%s not passed to the next plugin (pass %v -> %v)", name, before, after)
			}
			if got := answer(t, d.Addr, ptr, dns.TypePTR, false); got != "NXDOMAIN" {
				return fmt.Errorf("PTR %s: %q", ptr, got)
			}
			return nil
		})
	}
	web, webPTR := "web-0.web.app"+zone, "10.1.244.10.in-addr.arpa."
	db, dbPTR := "db-0.db.other"+zone, "10.2.244.10.in-addr.arpa."

	served(byLabel, web, "10.244.1.10", webPTR)
	served(byLabel, db, "10.244.2.10", dbPTR)
	served(byNS, web, "10.244.1.10", webPTR)
	passed(byNS, db, dbPTR)

	relabel := func(ns, name, v string) {
		s, err := c.Client.CoreV1().Services(ns).Get(bg, name, meta.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Labels["dns"] = v
		if _, err := c.Client.CoreV1().Services(ns).Update(bg, s, meta.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	relabel("app", "web", "no")
	passed(byLabel, web, webPTR)
	served(byLabel, db, "10.244.2.10", dbPTR) // the other Service keeps its names
	served(byNS, web, "10.244.1.10", webPTR)  // labels are not that stanza's business
	relabel("app", "web", "yes")
	served(byLabel, web, "10.244.1.10", webPTR)

	// a Service made after start: in scope by its labels or namespace only
	mk("other", "late", "no", "10.244.2.20")
	mk("app", "late", "yes", "10.244.1.20")
	passed(byLabel, "late-0.late.other"+zone, "20.2.244.10.in-addr.arpa.")
	served(byLabel, "late-0.late.app"+zone, "10.244.1.20", "20.1.244.10.in-addr.arpa.")
	served(byNS, "late-0.late.app"+zone, "10.244.1.20", "20.1.244.10.in-addr.arpa.")
	passed(byNS, "late-0.late.other"+zone, "20.2.244.10.in-addr.arpa.")
}
