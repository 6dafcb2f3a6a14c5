package integration

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Drop-in for stock: what an operator who moves headless names from the
// stock plugin to ours keeps. One control plane for all of it; the API
// server also trusts client certificates of a CA the test makes (tls).

// axfr transfers zone from addr: the records as text, sorted, each once,
// the SOA's serial zeroed; and that serial.
func axfr(addr, zone string) ([]string, uint32, error) {
	m := new(dns.Msg)
	m.SetAxfr(zone)
	env, err := (&dns.Transfer{}).In(m, addr)
	if err != nil {
		return nil, 0, err
	}
	var out []string
	var serial uint32
	for e := range env {
		if e.Error != nil {
			return nil, 0, e.Error
		}
		for _, rr := range e.RR {
			if soa, ok := rr.(*dns.SOA); ok {
				serial = soa.Serial
				c := *soa
				c.Serial = 0
				rr = &c
			}
			out = append(out, rr.String())
		}
	}
	slices.Sort(out)
	return slices.Compact(out), serial, nil
}

// transferCorefiles: ours (headless ahead of kubernetes {noendpoints}) and
// stock alone, each with the transfer plugin.
func transferCorefiles(kubeconfig string, metricsPort int, headlessExtra string) (ours, stock string) {
	ours = fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    prometheus 127.0.0.1:%d
    transfer cluster.local {
        to *
    }
    headless cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        startup_timeout 10s
        %s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        noendpoints
    }
}
`, metricsPort, kubeconfig, headlessExtra, kubeconfig)
	stock = fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    transfer cluster.local {
        to *
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
    }
}
`, kubeconfig)
	return ours, stock
}

func TestDropIn(t *testing.T) {
	pki := newClientPKI(t)
	c := testbed.StartCluster(t, "--client-ca-file="+pki.caFile)
	c.Node(t, "node-a", "zone-a")
	for _, ns := range []string{"app", "ext", "team", "other"} {
		c.Namespace(t, ns)
	}
	// a StatefulSet's headless Service, each member also behind a Service of
	// its own (a per-pod LoadBalancer's ClusterIP), and a second headless
	// Service over the same pods (peers)
	sts := map[string]string{"app": "web"}
	c.Service(t, "app", "web", "None", sts, false, testbed.ServicePort("http", 80), testbed.ServicePort("peer", 7000))
	c.Service(t, "app", "peers", "None", sts, false, testbed.ServicePort("gossip", 7001))
	c.Service(t, "app", "api", "", map[string]string{"app": "api"}, false, testbed.ServicePort("http", 80))
	ips := []string{"10.244.1.10", "10.244.1.11", "10.244.1.12"}
	for i, ip := range ips {
		name := fmt.Sprintf("web-%d", i)
		c.Service(t, "app", name+"-lb", "", map[string]string{"statefulset.kubernetes.io/pod-name": name}, false, testbed.ServicePort("http", 80))
		c.Pod(t, testbed.PodSpec{Namespace: "app", Name: name, Node: "node-a", Hostname: name, Subdomain: "web",
			Labels: map[string]string{"app": "web", "statefulset.kubernetes.io/pod-name": name}, IPs: []string{ip}, Ready: true})
	}
	// a selector-less headless Service with a hand-made slice (an external database)
	c.Service(t, "ext", "pg", "None", nil, false, testbed.ServicePort("pg", 5432))
	handMadeSlice(t, c, "ext", "pg", "10.9.0.5", "primary")

	t.Run("transfer", func(t *testing.T) { testTransfer(t, c) })
	t.Run("ptr", func(t *testing.T) { testOnePTR(t, c, ips[0]) })
	t.Run("fallthrough", func(t *testing.T) { testFallthrough(t, c) })
	t.Run("namespace_labels", func(t *testing.T) { testNamespaceLabels(t, c) })
	t.Run("tls", func(t *testing.T) { testTLS(t, c, pki) })
}

func handMadeSlice(t *testing.T, c *testbed.Cluster, ns, svc, ip, host string) {
	t.Helper()
	port, proto, name := int32(5432), core.ProtocolTCP, "pg"
	s := &discovery.EndpointSlice{
		ObjectMeta:  meta.ObjectMeta{Namespace: ns, Name: svc + "-manual", Labels: map[string]string{discovery.LabelServiceName: svc, discovery.LabelManagedBy: "manual.example.com"}},
		AddressType: discovery.AddressTypeIPv4,
		Ports:       []discovery.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
		Endpoints:   []discovery.Endpoint{{Addresses: []string{ip}, Hostname: &host}},
	}
	if _, err := c.Client.DiscoveryV1().EndpointSlices(ns).Create(bg, s, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testTransfer: an AXFR of cluster.local from ours (merged with kubernetes
// {noendpoints}) holds the same records as stock's alone, through a
// readiness flip; IXFR with the current serial gets the SOA alone; the
// serial moves with a headless change, in the transfer and at the apex.
func testTransfer(t *testing.T, c *testbed.Cluster) {
	mp := testbed.FreePort(t)
	oursCF, stockCF := transferCorefiles(c.Admin, mp, "")
	ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
	stock := testbed.StartCoreDNS(t, testbed.StockCoreDNS(t), stockCF)
	same := func(what string, mustHave ...string) []string {
		var got []string
		eventually(t, 30*time.Second, "same transfer as stock "+what, func() error {
			a, _, err := axfr(ours.Addr, "cluster.local.")
			if err != nil {
				return fmt.Errorf("ours: %w", err)
			}
			b, _, err := axfr(stock.Addr, "cluster.local.")
			if err != nil {
				return fmt.Errorf("stock: %w", err)
			}
			if !slices.Equal(a, b) {
				return fmt.Errorf("ours (%d records) and stock (%d) differ:\nonly ours: %q\nonly stock: %q", len(a), len(b), diff(a, b), diff(b, a))
			}
			for _, m := range mustHave {
				if !slices.ContainsFunc(a, func(s string) bool { return strings.HasPrefix(s, m) }) {
					return fmt.Errorf("no %q in the transfer", m)
				}
			}
			got = a
			return nil
		})
		return got
	}
	rrs := same("with every member ready",
		"web-1.web.app.svc.cluster.local.\t5\tIN\tA\t10.244.1.11",
		"_peer._tcp.web.app.svc.cluster.local.\t5\tIN\tSRV\t0 33 7000 web-2.web.app.svc.cluster.local.",
		"primary.pg.ext.svc.cluster.local.\t5\tIN\tA\t10.9.0.5",
		"api.app.svc.cluster.local.\t5\tIN\tA\t10.96.")
	t.Logf("%d records, the same as stock's", len(rrs))

	// IXFR with the current serial: the SOA alone
	_, serial, err := axfr(ours.Addr, "cluster.local.")
	if err != nil {
		t.Fatal(err)
	}
	if got := ixfr(t, ours.Addr, serial); len(got) != 1 || got[0].Header().Rrtype != dns.TypeSOA || got[0].(*dns.SOA).Serial != serial {
		t.Errorf("IXFR with the current serial %d: %v", serial, got)
	}
	// a readiness flip: the serial moves (it counts seconds: let one pass)
	time.Sleep(1100 * time.Millisecond)
	c.SetPodStatus(t, "app", "web-1", []string{"10.244.1.11"}, false)
	same("with web-1 not ready")
	eventually(t, 30*time.Second, "the serial moves", func() error {
		_, now, err := axfr(ours.Addr, "cluster.local.")
		if err != nil {
			return err
		}
		r, err := testbed.Exchange(ours.Addr, "cluster.local.", dns.TypeSOA, false)
		if err != nil || len(r.Answer) != 1 {
			return fmt.Errorf("apex SOA: %v %v", r, err)
		}
		if apex := r.Answer[0].(*dns.SOA).Serial; now <= serial || apex != now {
			return fmt.Errorf("serial %d before the flip, %d in the transfer, %d at the apex", serial, now, apex)
		}
		return nil
	})
	if got := ixfr(t, ours.Addr, serial); len(got) < 3 {
		t.Errorf("IXFR with the old serial %d: %d records, want the whole zone", serial, len(got))
	}
	c.SetPodStatus(t, "app", "web-1", []string{"10.244.1.11"}, true)
	same("with web-1 ready again")
}

func ixfr(t *testing.T, addr string, serial uint32) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetIxfr("cluster.local.", serial, "ns.dns.cluster.local.", "hostmaster.cluster.local.")
	env, err := (&dns.Transfer{}).In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	for e := range env {
		if e.Error != nil {
			t.Fatal(e.Error)
		}
		out = append(out, e.RR...)
	}
	return out
}

func diff(a, b []string) []string {
	var out []string
	for _, s := range a {
		if !slices.Contains(b, s) {
			out = append(out, s)
		}
	}
	return out
}

// testOnePTR: a StatefulSet member behind its headless Service and a
// Service of its own gets two PTRs from stock and one from ours (ours never
// sees the ClusterIP Service's slices). Selected by a second headless
// Service, it gets two from ours too, and one with single_ptr: its
// hostname's.
func testOnePTR(t *testing.T, c *testbed.Cluster, ip string) {
	ptr := reverseName(ip)
	stock := startStock(t, c.Admin)
	ours := startOurs(t, c.Admin, "")
	single := startOursWith(t, c.Admin, "", "startup_timeout 10s\n        single_ptr")
	want := "web-0.web.app.svc.cluster.local."
	ptrs := func(addr string) []string {
		r, err := testbed.Exchange(addr, ptr, dns.TypePTR, false)
		if err != nil {
			return []string{err.Error()}
		}
		var out []string
		for _, rr := range r.Answer {
			out = append(out, rr.(*dns.PTR).Ptr)
		}
		slices.Sort(out)
		return out
	}
	eventually(t, 30*time.Second, "PTRs of "+ip, func() error {
		s, o, one := ptrs(stock.Addr), ptrs(ours.Addr), ptrs(single.Addr)
		// stock: the hostname's, the dashed name in peers and in web-0-lb
		wantStock := []string{"10-244-1-10.peers.app.svc.cluster.local.", "10-244-1-10.web-0-lb.app.svc.cluster.local.", want}
		wantOurs := []string{"10-244-1-10.peers.app.svc.cluster.local.", want}
		if !slices.Equal(s, wantStock) || !slices.Equal(o, wantOurs) || !slices.Equal(one, []string{want}) {
			return fmt.Errorf("stock %q (want %q), ours %q (want %q), single_ptr %q (want %q)", s, wantStock, o, wantOurs, one, want)
		}
		return nil
	})
	// without the second headless Service: one PTR from ours, two from stock
	if err := c.Client.CoreV1().Services("app").Delete(bg, "peers", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "one PTR without peers", func() error {
		s, o := ptrs(stock.Addr), ptrs(ours.Addr)
		if len(s) != 2 || !slices.Equal(o, []string{want}) {
			return fmt.Errorf("stock %q (want 2), ours %q (want %q)", s, o, want)
		}
		return nil
	})
	c.Service(t, "app", "peers", "None", map[string]string{"app": "web"}, false, testbed.ServicePort("gossip", 7001))
}

func reverseName(ip string) string {
	r, err := dns.ReverseAddr(ip)
	if err != nil {
		panic(err)
	}
	return r
}

// testFallthrough: an NXDOMAIN below a headless Service passes to the next
// plugin with fallthrough (the pass counter rises), and stays ours without.
func testFallthrough(t *testing.T, c *testbed.Cluster) {
	ft := startOursWith(t, c.Admin, "", "startup_timeout 10s\n        fallthrough cluster.local")
	plain := startOurs(t, c.Admin, "")
	name := "web-9.web.app.svc.cluster.local."
	expect(t, ft.Addr, "web-0.web.app.svc.cluster.local.", dns.TypeA, "NOERROR A 10.244.1.10")
	for _, d := range []*dut{ft, plain} {
		before := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`)
		if got := answer(t, d.Addr, name, dns.TypeA, false); got != "NXDOMAIN" {
			t.Errorf("%s: %q", name, got)
		}
		passed := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`) > before
		if passed != (d == ft) {
			t.Errorf("fallthrough %v: passed %v", d == ft, passed)
		}
	}
	// reverse names are not in fallthrough's zones: an unknown address stays
	// the next plugin's as always, a known one ours
	expect(t, ft.Addr, reverseName("10.244.1.10"), dns.TypePTR, "NOERROR PTR 10-244-1-10.peers.app.svc.cluster.local. | PTR web-0.web.app.svc.cluster.local.")
}

// testNamespaceLabels: only namespaces matching the expression are served;
// one relabelled into or out of scope is served or passed on within seconds.
func testNamespaceLabels(t *testing.T, c *testbed.Cluster) {
	for _, ns := range []string{"team", "other"} {
		c.Service(t, ns, "db", "None", map[string]string{"app": "db-" + ns}, false, testbed.ServicePort("pg", 5432))
	}
	c.Pod(t, testbed.PodSpec{Namespace: "team", Name: "db-0", Node: "node-a", Hostname: "db-0", Subdomain: "db",
		Labels: map[string]string{"app": "db-team"}, IPs: []string{"10.244.3.10"}, Ready: true})
	c.Pod(t, testbed.PodSpec{Namespace: "other", Name: "db-0", Node: "node-a", Hostname: "db-0", Subdomain: "db",
		Labels: map[string]string{"app": "db-other"}, IPs: []string{"10.244.4.10"}, Ready: true})
	label(t, c, "team", map[string]string{"dns": "yes"})
	d := startOursWith(t, c.Admin, "", "startup_timeout 10s\n        namespace_labels dns in (yes)\n        explain")
	expect(t, d.Addr, "db-0.db.team.svc.cluster.local.", dns.TypeA, "NOERROR A 10.244.3.10")
	passedOn := func(name string) func() error {
		return func() error {
			before := metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`)
			if got := answer(t, d.Addr, name, dns.TypeA, false); got != "NXDOMAIN" {
				return fmt.Errorf("%s: %q", name, got)
			}
			if metric(t, d.metrics, `coredns_headless_requests_total{outcome="pass"}`) <= before {
				return fmt.Errorf("%s not passed on", name)
			}
			return nil
		}
	}
	eventually(t, 5*time.Second, "other passed on", passedOn("db-0.db.other.svc.cluster.local."))
	if _, got := edes(t, d.Addr, "db-0.db.other.svc.cluster.local.", dns.TypeA); len(got) != 1 ||
		!strings.Contains(got[0], "headless: db-0.db.other: namespace other does not exist or its labels do not match namespace_labels (dns in (yes))") {
		t.Errorf("out of namespace_labels' scope: EDE %q", got)
	}
	start := time.Now()
	label(t, c, "other", map[string]string{"dns": "yes"})
	expect(t, d.Addr, "db-0.db.other.svc.cluster.local.", dns.TypeA, "NOERROR A 10.244.4.10")
	t.Logf("relabelled into scope: served after %s", time.Since(start).Round(time.Millisecond))
	start = time.Now()
	label(t, c, "team", nil)
	eventually(t, 30*time.Second, "team passed on", passedOn("db-0.db.team.svc.cluster.local."))
	t.Logf("relabelled out of scope: passed on after %s", time.Since(start).Round(time.Millisecond))
}

func label(t *testing.T, c *testbed.Cluster, ns string, lbls map[string]string) {
	t.Helper()
	n, err := c.Client.CoreV1().Namespaces().Get(bg, ns, meta.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels = lbls
	if _, err := c.Client.CoreV1().Namespaces().Update(bg, n, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testTLS: endpoint and tls with a client certificate the API server
// trusts, no kubeconfig, with the API client limits set; a certificate it
// does not trust never syncs.
func testTLS(t *testing.T, c *testbed.Cluster, pki clientPKI) {
	serverCA := filepath.Join(c.Dir, "certs", "apiserver.crt")
	corefile := func(cert, key string) string {
		return fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    headless cluster.local in-addr.arpa ip6.arpa {
        endpoint %s
        tls %s %s %s
        apiserver_qps 20
        apiserver_burst 40
        apiserver_max_inflight 2
        startup_timeout 10s
    }
}
`, c.URL, cert, key, serverCA)
	}
	d := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), corefile(pki.certFile, pki.keyFile))
	expect(t, d.Addr, "web-0.web.app.svc.cluster.local.", dns.TypeA, "NOERROR A 10.244.1.10")
	expect(t, d.Addr, "primary.pg.ext.svc.cluster.local.", dns.TypeA, "NOERROR A 10.9.0.5")

	// a certificate of another CA: Unauthorized, never synced
	other := newClientPKI(t)
	bad := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), corefile(other.certFile, other.keyFile))
	if got := answer(t, bad.Addr, "web-0.web.app.svc.cluster.local.", dns.TypeA, false); got != "SERVFAIL" {
		t.Errorf("untrusted client certificate: %q, want SERVFAIL", got)
	}
	if !strings.Contains(bad.Log(), "Unauthorized") {
		t.Errorf("no Unauthorized in the log:\n%s", bad.Log())
	}
}

// clientPKI is a CA and a client certificate it signed, for the system:masters group.
type clientPKI struct{ caFile, certFile, keyFile string }

func newClientPKI(t *testing.T) clientPKI {
	t.Helper()
	dir := t.TempDir()
	key := func() *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, clientKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "headless-test-ca"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	client := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "headless-tls", Organization: []string{"system:masters"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	clientDER, err := x509.CreateCertificate(rand.Reader, client, ca, &clientKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	p := clientPKI{caFile: filepath.Join(dir, "ca.crt"), certFile: filepath.Join(dir, "client.crt"), keyFile: filepath.Join(dir, "client.key")}
	writePEM(t, p.caFile, "CERTIFICATE", caDER)
	writePEM(t, p.certFile, "CERTIFICATE", clientDER)
	writePEM(t, p.keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(clientKey))
	return p
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
