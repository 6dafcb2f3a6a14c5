package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	rbac "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	mcsv1alpha1 "sigs.k8s.io/mcs-api/pkg/apis/v1alpha1"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

// cs is the clusterset zone below the namespace of these tests.
const cs = ".mcs.svc.clusterset.local."

// mcsCorefiles are ours (headless serving clusterset.local, kubernetes
// without multicluster and with noendpoints) and stock's (kubernetes with
// multicluster clusterset.local), on one cluster.
func mcsCorefiles(kubeconfig string, metricsPort int, headlessExtra string) (ours, stock string) {
	ours = fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:%d
    headless cluster.local clusterset.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        multicluster clusterset.local
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
    errors
    kubernetes cluster.local clusterset.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        multicluster clusterset.local
    }
}
`, kubeconfig)
	return ours, stock
}

// importedSlice is a slice an MCS controller writes for the import svc,
// with the endpoints of one source cluster.
func importedSlice(name, svc, cluster string, family discovery.AddressType, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	p, proto := int32(5432), core.ProtocolTCP
	pn := "sql"
	return &discovery.EndpointSlice{
		ObjectMeta: meta.ObjectMeta{Namespace: "mcs", Name: name, Labels: map[string]string{
			discovery.LabelManagedBy:      "mcs-controller.example.com",
			mcsv1beta1.LabelServiceName:   svc,
			mcsv1beta1.LabelSourceCluster: cluster,
		}},
		AddressType: family,
		Ports:       []discovery.EndpointPort{{Name: &pn, Protocol: &proto, Port: &p}},
		Endpoints:   eps,
	}
}

// mcsCluster makes the objects every clusterset test serves, in namespace
// mcs: a headless import "db" (v1beta1) with slices from clusters east
// (both families) and west (one endpoint not ready, one without hostname),
// a ClusterSetIP import "web" made through v1alpha1, a headless import
// "none" whose only endpoint is not ready, a local selector-less headless
// Service "db" sharing east's db-0 address, and Cilium's shape of a derived
// Service: a local headless Service "derived-db" whose slice is also an
// imported one.
func mcsCluster(t *testing.T, c *testbed.Cluster, mcs mcsclient.Interface) {
	t.Helper()
	c.Namespace(t, "mcs")
	sql := []mcsv1beta1.ServicePort{{Name: "sql", Protocol: core.ProtocolTCP, Port: 5432}}
	if _, err := mcs.MulticlusterV1beta1().ServiceImports("mcs").Create(bg, &mcsv1beta1.ServiceImport{ObjectMeta: meta.ObjectMeta{Name: "db"},
		Spec: mcsv1beta1.ServiceImportSpec{Type: mcsv1beta1.Headless, Ports: sql}}, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mcs.MulticlusterV1beta1().ServiceImports("mcs").Create(bg, &mcsv1beta1.ServiceImport{ObjectMeta: meta.ObjectMeta{Name: "none"},
		Spec: mcsv1beta1.ServiceImportSpec{Type: mcsv1beta1.Headless, Ports: sql}}, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mcs.MulticlusterV1alpha1().ServiceImports("mcs").Create(bg, &mcsv1alpha1.ServiceImport{ObjectMeta: meta.ObjectMeta{Name: "web"},
		Spec: mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.ClusterSetIP, IPs: []string{"10.96.50.5"},
			Ports: []mcsv1alpha1.ServicePort{{Name: "http", Protocol: core.ProtocolTCP, Port: 80}}}}, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ready := func(host, ip string, ok bool) discovery.Endpoint {
		e := handEndpoint(host, ip, ok, ok, false)
		return e
	}
	for _, s := range []*discovery.EndpointSlice{
		importedSlice("db-east", "db", "east", discovery.AddressTypeIPv4, ready("db-0", "10.10.0.1", true), ready("db-1", "10.10.0.2", true)),
		importedSlice("db-east-6", "db", "east", discovery.AddressTypeIPv6, ready("db-0", "fd00:10::1", true), ready("db-1", "fd00:10::2", true)),
		importedSlice("db-west", "db", "west", discovery.AddressTypeIPv4, ready("db-0", "10.20.0.1", true), ready("db-1", "10.20.0.2", false), ready("", "10.20.0.9", true)),
		importedSlice("none-east", "none", "east", discovery.AddressTypeIPv4, ready("none-0", "10.10.9.1", false)),
	} {
		if _, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Create(bg, s, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// a local Service of the same name: its PTR is the cluster-local one
	c.Service(t, "mcs", "db", core.ClusterIPNone, nil, false, testbed.ServicePort("sql", 5432))
	local := handSlice("db-local", "db", discovery.AddressTypeIPv4, handEndpoint("db-0", "10.10.0.1", true, true, false))
	local.Namespace = "mcs"
	if _, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Create(bg, local, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Cilium's derived Service: its slices name it and the import
	c.Service(t, "mcs", "derived-db", core.ClusterIPNone, nil, false, testbed.ServicePort("sql", 5432))
	derived := importedSlice("derived-db-west", "db", "west", discovery.AddressTypeIPv4, ready("db-2", "10.20.0.3", true))
	derived.Labels[discovery.LabelServiceName] = "derived-db"
	if _, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Create(bg, derived, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// mcsNames are the clusterset queries compared with stock.
func mcsNames() []q {
	var qs []q
	add := func(name string, types ...uint16) {
		for _, qt := range types {
			qs = append(qs, q{name: name, qtype: qt})
		}
	}
	all := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT}
	for _, n := range []string{"db", "web", "none", "nope", "derived-db",
		"db-0.east.db", "db-1.east.db", "db-0.west.db", "db-1.west.db", "db-2.west.db", "10-20-0-9.west.db", "db-0.north.db",
		"east.db", "db-0.db", "_sql._tcp.db", "_sql.tcp.db", "sql._tcp.db", "sql.tcp.db", "_._tcp.db", "_sql._.db", "_._.db", "_http._tcp.web",
		"east.web", "_sql._tcp.none", "a.b.c.db", "DB-0.East.db"} {
		add(n+cs, all...)
	}
	add("mcs.svc.clusterset.local.", dns.TypeA, dns.TypeSRV)
	add("other.svc.clusterset.local.", dns.TypeA)
	add("x.mcs.pod.clusterset.local.", dns.TypeA)
	add("svc.clusterset.local.", dns.TypeA)
	add("derived-db.mcs.svc.cluster.local.", dns.TypeA)
	add("db.mcs.svc.cluster.local.", dns.TypeA, dns.TypeSRV)
	for _, ip := range []string{"10.10.0.1", "10.10.0.2", "fd00:10::2", "10.20.0.1", "10.20.0.2", "10.20.0.3", "10.20.0.9", "10.96.50.5"} {
		add(reverseName(ip), dns.TypePTR)
	}
	return qs
}

// mcsDisagreements are where ours and stock's multicluster differ, each for
// a reason the README lists ("clusterset.local"): a function of the query
// and both replies that says which, or "".
func mcsDisagreement(x q, ours, stock string) string {
	switch {
	case strings.HasPrefix(x.name, "dns-version."):
		return "§2.2: dns-version is 1.0.0 (stock 1.1.0)"
	case x.qtype == dns.TypePTR && strings.HasPrefix(stock, "NXDOMAIN") && strings.Contains(ours, "clusterset.local."):
		return "§2.3.3/§2.4.3: a PTR where the address has no cluster-local one (stock: none)"
	case x.qtype == dns.TypePTR && strings.HasPrefix(stock, "error:") && strings.Contains(ours, "\tPTR\t"):
		// stock's local slice watch takes imported slices in too, with no
		// Service name: its PTR target "db-0..mcs.svc.cluster.local." does
		// not pack, and no reply leaves
		return "§2.4.3: stock sends no reply for an address of an imported slice"
	case x.name == "derived-db.mcs.svc.cluster.local." && strings.HasPrefix(ours, "NXDOMAIN"),
		x.qtype == dns.TypePTR && strings.Contains(stock, ".derived-db.mcs.svc.cluster.local.") && strings.Contains(ours, ".clusterset.local."):
		return "an imported slice is never a cluster.local endpoint (stock serves a derived Service's)"
	}
	return ""
}

func compareMCS(t *testing.T, what, ours, stock string) {
	t.Helper()
	compared, reasons := 0, map[string]int{}
	for _, x := range append(mcsNames(), q{name: "dns-version.clusterset.local.", qtype: dns.TypeTXT}) {
		for _, tr := range []transport{udp512, udpEDNS, tcp} {
			a, b := fullReply(ours, x.name, x.qtype, tr), fullReply(stock, x.name, x.qtype, tr)
			compared++
			if a == b {
				continue
			}
			if r := mcsDisagreement(x, a, b); r != "" {
				reasons[r]++
				continue
			}
			t.Errorf("%s: %s %s over %s:\nours:  %s\nstock: %s", what, x.name, dns.TypeToString[x.qtype], tr, a, b)
		}
	}
	t.Logf("%s: %d replies compared whole; the listed disagreements: %v", what, compared, reasons)
}

// TestMulticluster: clusterset.local on a real control plane with the MCS
// CRDs of mcs-api v0.5.2, dual-stack, slices of two source clusters, next
// to stock's multicluster on the same objects: whole replies compared, the
// disagreements the README lists checked one by one, then readiness flips,
// a cluster's slices deleted and an import deleted.
func TestMulticluster(t *testing.T) {
	c := testbed.StartCluster(t, "--service-cluster-ip-range=10.96.0.0/16,fd00:96::/112")
	mcs := c.MCS(t, false)
	mcsCluster(t, c, mcs)
	mp := testbed.FreePort(t)
	oursCF, stockCF := mcsCorefiles(c.Admin, mp, "")
	ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
	stock := testbed.StartCoreDNS(t, testbed.StockCoreDNS(t), stockCF)
	for _, addr := range []string{ours.Addr, stock.Addr} {
		expect(t, addr, "db"+cs, dns.TypeA, "NOERROR A 10.10.0.1 | A 10.10.0.2 | "+
			"A 10.20.0.1 | A 10.20.0.3 | A 10.20.0.9")
		expect(t, addr, "web"+cs, dns.TypeA, "NOERROR A 10.96.50.5")
	}
	if !strings.Contains(ours.Log(), "watching ServiceImports multicluster.x-k8s.io/v1beta1") {
		t.Errorf("no log line of the ServiceImport version chosen:\n%s", ours.Log())
	}
	// every record type, as the specification writes it
	for _, tc := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"db" + cs, dns.TypeAAAA, "NOERROR AAAA fd00:10::1 | AAAA fd00:10::2"},
		{"db-0.east.db" + cs, dns.TypeAAAA, "NOERROR AAAA fd00:10::1"},
		{"db-1.west.db" + cs, dns.TypeA, "NXDOMAIN"},
		{"east.db" + cs, dns.TypeA, "NXDOMAIN"},
		{"none" + cs, dns.TypeA, "NXDOMAIN"},
		{"dns-version.clusterset.local.", dns.TypeTXT, "NOERROR TXT \"1.0.0\""},
		{reverseName("10.20.0.1"), dns.TypePTR, "NOERROR PTR db-0.west.db.mcs.svc.clusterset.local."},
		{reverseName("fd00:10::2"), dns.TypePTR, "NOERROR PTR db-1.east.db.mcs.svc.clusterset.local."},
		{reverseName("10.96.50.5"), dns.TypePTR, "NOERROR PTR web.mcs.svc.clusterset.local."},
		{reverseName("10.10.0.1"), dns.TypePTR, "NOERROR PTR db-0.db.mcs.svc.cluster.local."},
		{"derived-db.mcs.svc.cluster.local.", dns.TypeA, "NXDOMAIN"},
	} {
		expect(t, ours.Addr, tc.name, tc.qtype, tc.want)
	}
	// the SRV assertions of mcs-api's conformance suite: the bare Service
	// name of a headless import has one SRV per ready endpoint with the
	// port, that of a ClusterSetIP import exactly one, targeting itself
	for _, name := range []string{"_sql._tcp.db" + cs, "db" + cs} {
		srv := answer(t, ours.Addr, name, dns.TypeSRV, true)
		if got := strings.Count(srv, "SRV "); got != 5 {
			t.Errorf("%s SRV: %d records, want 5: %s", name, got, srv)
		}
		for _, target := range []string{"db-0.east.db", "db-1.east.db", "db-0.west.db", "db-2.west.db", "10-20-0-9.west.db"} {
			if !strings.Contains(srv, "5432 "+target+cs) {
				t.Errorf("%s SRV has no target %s: %s", name, target+cs, srv)
			}
		}
	}
	expect(t, ours.Addr, "web"+cs, dns.TypeSRV, "NOERROR SRV 0 100 80 web"+cs+" || web"+cs+"\t5\tIN\tA\t10.96.50.5")
	compareMCS(t, "imports", ours.Addr, stock.Addr)

	// readiness flips both ways; a cluster's slices deleted; an import deleted
	sl := c.Client.DiscoveryV1().EndpointSlices("mcs")
	west, err := sl.Get(bg, "db-west", meta.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	west.Endpoints[0] = handEndpoint("db-0", "10.20.0.1", false, false, false)
	west.Endpoints[1] = handEndpoint("db-1", "10.20.0.2", true, true, false)
	if _, err := sl.Update(bg, west, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{ours.Addr, stock.Addr} {
		expect(t, addr, "db-1.west.db"+cs, dns.TypeA, "NOERROR A 10.20.0.2")
		expect(t, addr, "db-0.west.db"+cs, dns.TypeA, "NXDOMAIN")
	}
	compareMCS(t, "after a readiness flip", ours.Addr, stock.Addr)
	for _, n := range []string{"db-east", "db-east-6"} {
		if err := sl.Delete(bg, n, meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mcs.MulticlusterV1beta1().ServiceImports("mcs").Delete(bg, "web", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, addr := range []string{ours.Addr, stock.Addr} {
		expect(t, addr, "db"+cs, dns.TypeAAAA, "NOERROR")
		expect(t, addr, "db-0.east.db"+cs, dns.TypeA, "NXDOMAIN")
		expect(t, addr, "web"+cs, dns.TypeA, "NXDOMAIN")
	}
	expect(t, ours.Addr, reverseName("10.96.50.5"), dns.TypePTR, "NXDOMAIN")
	expect(t, ours.Addr, reverseName("10.10.0.2"), dns.TypePTR, "NXDOMAIN")
	compareMCS(t, "after deletions", ours.Addr, stock.Addr)

	// the clusterset watch's metrics
	if up := testbed.Metric(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", mp), fmt.Sprintf(`coredns_headless_synced{server="dns://127.0.0.1:%d",zone="clusterset.local."}`, ours.Port)); up != 1 {
		t.Errorf("coredns_headless_synced of the clusterset zone: %v", up)
	}
}

// TestMulticlusterWatches: imported slices reach ours once, through the
// clusterset watch alone; without multicluster they are never received.
// Stock's kubernetes (noendpoints, no multicluster) beside it watches no
// ServiceImport.
func TestMulticlusterWatches(t *testing.T) {
	c := testbed.StartCluster(t)
	mcs := c.MCS(t, false)
	mcsCluster(t, c, mcs)
	with, without := testbed.FreePort(t), testbed.FreePort(t)
	oursCF, _ := mcsCorefiles(c.Admin, with, "")
	ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
	bare := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), ourCorefile(c.Admin, without, testbed.FreePort(t), "", "startup_timeout 10s"))
	expect(t, ours.Addr, "db-0.east.db"+cs, dns.TypeA, "NOERROR A 10.10.0.1")
	expect(t, bare.Addr, "db.mcs.svc.cluster.local.", dns.TypeA, "NOERROR A 10.10.0.1")
	events := func(port int) float64 {
		return testbed.Metric(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), `coredns_headless_watch_events_total{resource="endpointslices"}`)
	}
	w0, b0 := events(with), events(without)
	sl := c.Client.DiscoveryV1().EndpointSlices("mcs")
	const updates = 20
	for i := 0; i < updates; i++ {
		s, err := sl.Get(bg, "db-west", meta.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Endpoints[1] = handEndpoint("db-1", "10.20.0.2", i%2 == 0, i%2 == 0, false)
		if _, err := sl.Update(bg, s, meta.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, ours.Addr, "db-1.west.db"+cs, dns.TypeA, "NXDOMAIN") // the last update: not ready
	time.Sleep(time.Second)                                        // anything else in flight arrives
	if got := events(with) - w0; got != updates {
		t.Errorf("multicluster: %v slice events for %d updates of an imported slice, want exactly %d (once, by the clusterset watch)", got, updates, updates)
	}
	if got := events(without) - b0; got != 0 {
		t.Errorf("without multicluster: %v slice events for %d updates of an imported slice, want none", got, updates)
	}
}

// TestMulticlusterVersions: a cluster whose ServiceImport CRD serves only
// v1alpha1 is watched through v1alpha1; one without the CRD answers the
// clusterset zone as an empty one (no SERVFAIL) and is ready at once.
func TestMulticlusterVersions(t *testing.T) {
	t.Run("V1alpha1Only", func(t *testing.T) {
		c := testbed.StartCluster(t)
		mcs := c.MCS(t, true)
		c.Namespace(t, "mcs")
		if _, err := mcs.MulticlusterV1alpha1().ServiceImports("mcs").Create(bg, &mcsv1alpha1.ServiceImport{ObjectMeta: meta.ObjectMeta{Name: "db"},
			Spec: mcsv1alpha1.ServiceImportSpec{Type: mcsv1alpha1.Headless,
				Ports: []mcsv1alpha1.ServicePort{{Name: "sql", Protocol: core.ProtocolTCP, Port: 5432}}}}, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Create(bg, importedSlice("db-east", "db", "east", discovery.AddressTypeIPv4,
			handEndpoint("db-0", "10.10.0.1", true, true, false)), meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		oursCF, stockCF := mcsCorefiles(c.Admin, testbed.FreePort(t), "")
		ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
		stock := testbed.StartCoreDNS(t, testbed.StockCoreDNS(t), stockCF)
		for _, addr := range []string{ours.Addr, stock.Addr} {
			expect(t, addr, "db-0.east.db"+cs, dns.TypeA, "NOERROR A 10.10.0.1")
		}
		if !strings.Contains(ours.Log(), "watching ServiceImports multicluster.x-k8s.io/v1alpha1") {
			t.Errorf("no log line of v1alpha1 chosen:\n%s", ours.Log())
		}
		sameAsStock(t, ours.Addr, stock.Addr, q{name: "db" + cs, qtype: dns.TypeA}, q{name: "_sql._tcp.db" + cs, qtype: dns.TypeSRV},
			q{name: "db-0.east.db" + cs, qtype: dns.TypeAAAA})
	})
	t.Run("NoCRD", func(t *testing.T) {
		c := testbed.StartCluster(t)
		c.Namespace(t, "mcs")
		c.Service(t, "mcs", "db", core.ClusterIPNone, nil, false, testbed.ServicePort("sql", 5432))
		local := handSlice("db-local", "db", discovery.AddressTypeIPv4, handEndpoint("db-0", "10.10.0.1", true, true, false))
		local.Namespace = "mcs"
		if _, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Create(bg, local, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		mp, rp := testbed.FreePort(t), testbed.FreePort(t)
		cf := strings.Replace(ourCorefile(c.Admin, mp, rp, "", "multicluster clusterset.local\n        startup_timeout 10s"),
			"headless cluster.local in-addr.arpa", "headless cluster.local clusterset.local in-addr.arpa", 1)
		start := time.Now()
		ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), cf)
		eventually(t, 10*time.Second, "ready without the MCS CRD", func() error {
			if code := httpStatus(fmt.Sprintf("http://127.0.0.1:%d/ready", rp)); code != 200 {
				return fmt.Errorf("ready: %d", code)
			}
			return nil
		})
		t.Logf("ready %v after start without the MCS CRD", time.Since(start).Round(time.Millisecond))
		expect(t, ours.Addr, "db.mcs.svc.cluster.local.", dns.TypeA, "NOERROR A 10.10.0.1")
		expect(t, ours.Addr, "db"+cs, dns.TypeA, "NXDOMAIN")
		if r, err := testbed.Exchange(ours.Addr, "clusterset.local.", dns.TypeSOA, false); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Errorf("the apex of an empty clusterset zone: %v %v", r, err)
		}
		if n := strings.Count(ours.Log(), "serves no ServiceImports"); n != 1 {
			t.Errorf("%d log lines of the missing CRD, want one:\n%s", n, ours.Log())
		}
	})
}

// TestMulticlusterClusterProperty: with no cluster in the Corefile, this
// cluster's ID comes from the About API's ClusterProperty
// cluster.clusterset.k8s.io, and topology puts its endpoints first; a
// cluster the Corefile names wins over it.
func TestMulticlusterClusterProperty(t *testing.T) {
	c := testbed.StartCluster(t)
	mcs := c.MCS(t, false)
	mcsCluster(t, c, mcs)
	c.ClusterProperty(t, "cluster.clusterset.k8s.io", "west")
	topo := "topology PreferSameZone\n        client_zones zone-b 127.0.20.0/24"
	oursCF, _ := mcsCorefiles(c.Admin, testbed.FreePort(t), topo)
	fromProperty := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
	oursCF, _ = mcsCorefiles(c.Admin, testbed.FreePort(t), topo)
	named := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), strings.Replace(oursCF, "multicluster clusterset.local", "multicluster clusterset.local {\n            cluster east\n        }", 1))
	west := []string{"10.20.0.1", "10.20.0.3", "10.20.0.9"}
	east := []string{"10.10.0.1", "10.10.0.2"}
	for _, tc := range []struct {
		name        string
		s           *testbed.CoreDNS
		first, last []string
	}{{"ClusterProperty west", fromProperty, west, east}, {"cluster east in the Corefile", named, east, west}} {
		expect(t, tc.s.Addr, "db-0.east.db"+cs, dns.TypeA, "NOERROR A 10.10.0.1") // synced
		for i := 0; i < 4; i++ {
			got := addrs(exchangeFrom(t, "127.0.20.9", tc.s.Addr, "db"+cs, dns.TypeA, false, 0))
			n := len(tc.first)
			if len(got) != 5 || !slices.Equal(sorted(got[:n]), tc.first) || !slices.Equal(sorted(got[n:]), tc.last) {
				t.Fatalf("%s: db from zone b: %v, want %v first, then %v", tc.name, got, tc.first, tc.last)
			}
		}
	}
	if !strings.Contains(fromProperty.Log(), "this cluster is west (ClusterProperty cluster.clusterset.k8s.io)") {
		t.Errorf("no log line of the cluster ID read:\n%s", fromProperty.Log())
	}
	if strings.Contains(named.Log(), "ClusterProperty") {
		t.Errorf("the Corefile names the cluster, yet the ClusterProperty was read:\n%s", named.Log())
	}
}

// TestMulticlusterOutage: with the API server unreachable, the clusterset
// zone answers its last known state (changes made meanwhile wait), marked
// stale once a watch has failed for 10 s; reachable again, the changes are
// served and the mark is gone.
func TestMulticlusterOutage(t *testing.T) {
	c := testbed.StartCluster(t)
	mcs := c.MCS(t, false)
	mcsCluster(t, c, mcs)
	proxy := testbed.StartProxy(t, strings.TrimPrefix(c.URL, "https://"))
	oursCF, _ := mcsCorefiles(c.KubeconfigAt(testbed.UserAdmin, "https://"+proxy.Addr), testbed.FreePort(t), "explain")
	ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
	known := map[string]string{
		"db" + cs:           "NOERROR A 10.10.0.1 | A 10.10.0.2 | A 10.20.0.1 | A 10.20.0.3 | A 10.20.0.9",
		"db-0.west.db" + cs: "NOERROR A 10.20.0.1",
		"db-1.west.db" + cs: "NXDOMAIN",
		"web" + cs:          "NOERROR A 10.96.50.5",
		"none" + cs:         "NXDOMAIN",
	}
	for name, want := range known {
		expect(t, ours.Addr, name, dns.TypeA, want)
	}
	qr := startQuerier(t, ours.Addr, known)
	proxy.Down()
	// meanwhile: west's db-1 turns ready, the import web is deleted
	s, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Get(bg, "db-west", metaGet)
	if err != nil {
		t.Fatal(err)
	}
	s.Endpoints[1] = handEndpoint("db-1", "10.20.0.2", true, true, false)
	if _, err := c.Client.DiscoveryV1().EndpointSlices("mcs").Update(bg, s, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := mcs.MulticlusterV1beta1().ServiceImports("mcs").Delete(bg, "web", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, 90*time.Second, "clusterset answers marked stale", func() error {
		for _, name := range []string{"db-0.west.db" + cs, "web" + cs} {
			if r, got := edes(t, ours.Addr, name, dns.TypeA); len(r.Answer) != 1 || len(got) != 1 || !strings.HasPrefix(got[0], "Stale Answer|headless: watch of ") {
				return fmt.Errorf("%s: %v, EDE %q", name, r.Answer, got)
			}
		}
		r, got := edes(t, ours.Addr, "db-1.west.db"+cs, dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(got) != 2 || !strings.HasPrefix(got[0], "Other|headless: db-1.west.db.mcs: endpoint 10.20.0.2 not ready") ||
			!strings.HasPrefix(got[1], "Stale NXDOMAIN Answer|") {
			return fmt.Errorf("db-1.west: %s, EDE %q", dns.RcodeToString[r.Rcode], got)
		}
		return nil
	})
	qr.finish(t, fmt.Sprintf("API unreachable %s", took.Round(time.Second)))
	if err := proxy.Up(); err != nil {
		t.Fatal(err)
	}
	d := expect(t, ours.Addr, "db-1.west.db"+cs, dns.TypeA, "NOERROR A 10.20.0.2")
	expect(t, ours.Addr, "web"+cs, dns.TypeA, "NXDOMAIN")
	expect(t, ours.Addr, "db"+cs, dns.TypeA, "NOERROR A 10.10.0.1 | A 10.10.0.2 | A 10.20.0.1 | A 10.20.0.2 | A 10.20.0.3 | A 10.20.0.9")
	t.Logf("CATCH-UP: the changes made while unreachable served %s after the API was reachable again", d.Round(time.Millisecond))
	eventually(t, 90*time.Second, "stale marks gone", func() error {
		if r, got := edes(t, ours.Addr, "db-0.west.db"+cs, dns.TypeA); len(r.Answer) != 1 || len(got) != 0 {
			return fmt.Errorf("%v, EDE %q", r.Answer, got)
		}
		return nil
	})
}

// TestMulticlusterRBAC: deploy/'s ClusterRoles (rbac.yaml and
// rbac-multicluster.yaml) are enough for the multicluster option, the
// ClusterProperty read included. With the ServiceImport rule revoked (and
// the API server restarted, so that the watches call again), clusterset
// answers stay the last known, marked stale; cluster.local answers, whose
// watches are fine, are not marked.
func TestMulticlusterRBAC(t *testing.T) {
	c := testbed.StartCluster(t)
	mcs := c.MCS(t, false)
	mcsCluster(t, c, mcs)
	c.ClusterProperty(t, "cluster.clusterset.k8s.io", "west")
	roles := map[string]*rbac.ClusterRole{}
	for _, u := range deployObjects(t) {
		if u.GetKind() == "ClusterRole" {
			r := &rbac.ClusterRole{}
			if err := scheme.Scheme.Convert(u, r, nil); err != nil {
				t.Fatal(err)
			}
			roles[r.Name] = r
		}
	}
	base, mc := roles["system:coredns-headless"], roles["system:coredns-headless-multicluster"]
	if base == nil || mc == nil {
		t.Fatalf("deploy/ lacks the ClusterRoles system:coredns-headless and system:coredns-headless-multicluster: %v", roles)
	}
	grant(t, c, base.DeepCopy(), "dns-base")
	grant(t, c, mc.DeepCopy(), "dns-multicluster")
	oursCF, _ := mcsCorefiles(c.Kubeconfig(testbed.UserDNS), testbed.FreePort(t), "explain")
	ours := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), oursCF)
	set, local := "db-0.west.db"+cs, "db.mcs.svc.cluster.local."
	expect(t, ours.Addr, set, dns.TypeA, "NOERROR A 10.20.0.1")
	expect(t, ours.Addr, local, dns.TypeA, "NOERROR A 10.10.0.1")
	eventually(t, 10*time.Second, "the cluster ID read", func() error {
		if !strings.Contains(ours.Log(), "this cluster is west (ClusterProperty cluster.clusterset.k8s.io)") {
			return fmt.Errorf("not logged:\n%s", ours.Log())
		}
		return nil
	})
	if strings.Contains(ours.Log(), "forbidden") {
		t.Errorf("forbidden with deploy/'s roles:\n%s", ours.Log())
	}

	cur, err := c.Client.RbacV1().ClusterRoles().Get(bg, mc.Name, metaGet)
	if err != nil {
		t.Fatal(err)
	}
	cur.Rules = slices.DeleteFunc(cur.Rules, func(r rbac.PolicyRule) bool { return slices.Contains(r.Resources, "serviceimports") })
	if _, err := c.Client.RbacV1().ClusterRoles().Update(bg, cur, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	dnsUser := mcsclient.NewForConfigOrDie(c.RestConfig(testbed.UserDNS))
	eventually(t, 20*time.Second, "the ServiceImport rule revoked", func() error {
		if _, err := dnsUser.MulticlusterV1beta1().ServiceImports("").List(bg, meta.ListOptions{Limit: 1}); !apierrors.IsForbidden(err) {
			return fmt.Errorf("list serviceimports: %v", err)
		}
		return nil
	})
	c.APIServer.Stop()
	c.StartAPIServer()
	took := eventually(t, 90*time.Second, "clusterset answers marked stale, cluster.local ones not", func() error {
		if r, got := edes(t, ours.Addr, set, dns.TypeA); len(r.Answer) != 1 || len(got) != 1 || !strings.HasPrefix(got[0], "Stale Answer|headless: watch of serviceimports") {
			return fmt.Errorf("%s: %v, EDE %q", set, r.Answer, got)
		}
		if r, got := edes(t, ours.Addr, local, dns.TypeA); len(r.Answer) != 1 || len(got) != 0 {
			return fmt.Errorf("%s: %v, EDE %q", local, r.Answer, got)
		}
		return nil
	})
	t.Logf("clusterset answers marked stale %s after the API server came back without the ServiceImport rule", took.Round(time.Second))
}
