package headless

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/explain"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// The multicluster fixture: a headless import with slices from two
// clusters (one of them dual-stack, one endpoint not ready), a
// ClusterSetIP import of v1alpha1, an import with no ready endpoint, a
// local headless Service of the same name (its PTR wins), and a derived
// Service whose slice is an imported one (served in the clusterset zone
// only).
const mcsImports = `---
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: db, namespace: data}
spec:
  type: Headless
  ports: [{name: sql, protocol: TCP, port: 5432}]
---
apiVersion: multicluster.x-k8s.io/v1alpha1
kind: ServiceImport
metadata: {name: web, namespace: data}
spec:
  type: ClusterSetIP
  ips: [10.96.5.5, fd00:96::5]
  ports: [{name: http, protocol: TCP, port: 80}]
---
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: empty, namespace: data}
spec:
  type: Headless
  ports: [{name: sql, protocol: TCP, port: 5432}]
`

// imported is a slice an MCS controller writes for svc's import, from cluster.
func imported(name, svc, cluster string, t discovery.AddressType, eps ...ep) *discovery.EndpointSlice {
	s := slice("data", name, svc, t, "mcs-controller.example.com", []pt{{Name: "sql", Proto: "TCP", Port: 5432}}, eps...)
	delete(s.Labels, discovery.LabelServiceName)
	s.Labels["multicluster.kubernetes.io/service-name"] = svc
	s.Labels["multicluster.kubernetes.io/source-cluster"] = cluster
	return s
}

func mcsFixture() []runtime.Object {
	derived := imported("derived-db-west", "db", "west", discovery.AddressTypeIPv4, ep{IP: "10.2.0.3", Host: "db-2"})
	derived.Labels[discovery.LabelServiceName] = "derived-db" // as Cilium labels its derived Service's slices
	return []runtime.Object{
		imported("db-east", "db", "east", discovery.AddressTypeIPv4, ep{IP: "10.1.0.1", Host: "db-0", Zone: "a"}, ep{IP: "10.1.0.2", Host: "db-1", Zone: "b"}),
		imported("db-west", "db", "west", discovery.AddressTypeIPv4, ep{IP: "10.2.0.1", Host: "db-0"}, ep{IP: "10.2.0.2", Host: "db-1", NotReady: true}),
		imported("db-west-6", "db", "west", discovery.AddressTypeIPv6, ep{IP: "fd00:2::1", Host: "db-0"}),
		imported("empty-east", "empty", "east", discovery.AddressTypeIPv4, ep{IP: "10.1.9.9", Host: "e-0", NotReady: true}),
		derived,
		headlessSvc("data", "derived-db", nil),
		headlessSvc("data", "db", nil),
		slice("data", "db-local", "db", discovery.AddressTypeIPv4, "", []pt{{Name: "sql", Proto: "TCP", Port: 5432}}, ep{IP: "10.1.0.1", Host: "db-0"}),
	}
}

// startMCS runs the plugin on the multicluster fixture from a manifest file,
// with the Corefile's options set in cfg, and waits for the clusterset side.
func startMCS(t *testing.T, cfg config, extra ...runtime.Object) *Headless {
	t.Helper()
	return startMCSWith(t, cfg, "", extra...)
}

// startMCSWith is startMCS with more ServiceImports (YAML documents).
func startMCSWith(t *testing.T, cfg config, imports string, extra ...runtime.Object) *Headless {
	t.Helper()
	var b strings.Builder
	for _, o := range append(mcsFixture(), extra...) {
		b.WriteString("---\n" + toYAML(t, o))
	}
	b.WriteString(mcsImports + imports)
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.TTL, cfg.StartupTimeout, cfg.Manifests = 5, 10e9, []string{path}
	cfg.Multicluster = []string{"clusterset.local."}
	h := newHeadless([]string{"cluster.local.", "clusterset.local.", "in-addr.arpa.", "ip6.arpa."}, cfg)
	if err := h.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.OnShutdown() })
	waitFor(t, "the clusterset index", func() bool { return h.mc.index.Synced() })
	return h
}

const (
	cs      = ".data.svc.clusterset.local."
	csSOA   = "clusterset.local.	5	IN	SOA	ns.dns.clusterset.local. hostmaster.clusterset.local. 1 7200 1800 86400 5"
	db0East = "db-0.east.db" + cs
	db1East = "db-1.east.db" + cs
	db0West = "db-0.west.db" + cs
	db2West = "db-2.west.db" + cs
)

var mcsCases = []test.Case{
	// §2.4.1: every ready endpoint of every cluster
	{Qname: "db" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("db" + cs + "	5	IN	A	10.1.0.1"), test.A("db" + cs + "	5	IN	A	10.1.0.2"), test.A("db" + cs + "	5	IN	A	10.2.0.1"), test.A("db" + cs + "	5	IN	A	10.2.0.3"),
	}},
	{Qname: "db" + cs, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.AAAA("db" + cs + "	5	IN	AAAA	fd00:2::1")}},
	{Qname: "db" + cs, Qtype: dns.TypeTXT, Rcode: dns.RcodeSuccess, Ns: []dns.RR{test.SOA(csSOA)}},
	// none ready: NXDOMAIN
	{Qname: "empty" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	// §2.4.2: <hostname>.<clusterid>.<svc>
	{Qname: db0East, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A(db0East + "	5	IN	A	10.1.0.1")}},
	{Qname: db0West, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.AAAA(db0West + "	5	IN	AAAA	fd00:2::1")}},
	{Qname: "db-1.west.db" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	{Qname: "DB-0.East.db.data.svc.ClusterSet.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("DB-0.East.db.data.svc.ClusterSet.local.	5	IN	A	10.1.0.1")}},
	// a namespace with imports is an empty non-terminal; one without is no name
	{Qname: "data.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{test.SOA(csSOA)}},
	{Qname: "nowhere.svc.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	// no record at <clusterid>.<svc>, and a hostname alone is no name here
	{Qname: "east.db" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	{Qname: "db-0.db" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	{Qname: "db-0.north.db" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	// §2.4.3: SRV per named port, targets <hostname>.<clusterid>.<svc>, glue
	{Qname: "_sql._tcp.db" + cs, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("_sql._tcp.db" + cs + "	5	IN	SRV	0 20 5432 " + db0East),
		test.SRV("_sql._tcp.db" + cs + "	5	IN	SRV	0 20 5432 " + db1East),
		test.SRV("_sql._tcp.db" + cs + "	5	IN	SRV	0 20 5432 " + db0West),
		test.SRV("_sql._tcp.db" + cs + "	5	IN	SRV	0 20 5432 " + db2West),
	}, Extra: []dns.RR{
		test.A(db0East + "	5	IN	A	10.1.0.1"), test.A(db1East + "	5	IN	A	10.1.0.2"), test.A(db0West + "	5	IN	A	10.2.0.1"), test.AAAA(db0West + "	5	IN	AAAA	fd00:2::1"),
		test.A(db2West + "	5	IN	A	10.2.0.3"),
	}},
	// the service's own SRV (stock's spelling without port)
	{Qname: "db" + cs, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("db" + cs + "	5	IN	SRV	0 20 5432 " + db0East),
		test.SRV("db" + cs + "	5	IN	SRV	0 20 5432 " + db1East),
		test.SRV("db" + cs + "	5	IN	SRV	0 20 5432 " + db0West),
		test.SRV("db" + cs + "	5	IN	SRV	0 20 5432 " + db2West),
	}, Extra: []dns.RR{
		test.A(db0East + "	5	IN	A	10.1.0.1"), test.A(db1East + "	5	IN	A	10.1.0.2"), test.A(db0West + "	5	IN	A	10.2.0.1"), test.AAAA(db0West + "	5	IN	AAAA	fd00:2::1"),
		test.A(db2West + "	5	IN	A	10.2.0.3"),
	}},
	{Qname: "_nope._tcp.db" + cs, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	// §2.3: a ClusterSetIP import (v1alpha1)
	{Qname: "web" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("web" + cs + "	5	IN	A	10.96.5.5")}},
	{Qname: "web" + cs, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.AAAA("web" + cs + "	5	IN	AAAA	fd00:96::5")}},
	{Qname: "_http._tcp.web" + cs, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("_http._tcp.web" + cs + "	5	IN	SRV	0 50 80 web" + cs),
	}, Extra: []dns.RR{test.A("web" + cs + "	5	IN	A	10.96.5.5"), test.AAAA("web" + cs + "	5	IN	AAAA	fd00:96::5")}},
	{Qname: "east.web" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	// no such import
	{Qname: "nope" + cs, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(csSOA)}},
	// §2.2: the schema version
	{Qname: "dns-version.clusterset.local.", Qtype: dns.TypeTXT, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.TXT(`dns-version.clusterset.local.	5	IN	TXT	"1.0.0"`)}},
	{Qname: "dns-version.clusterset.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{test.SOA(csSOA)}},
	// PTR: a cluster-local one wins (§2.4.3), else the import's
	{Qname: "1.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.PTR("1.0.1.10.in-addr.arpa.	5	IN	PTR	db-0.db.data.svc.cluster.local.")}},
	{Qname: "2.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.PTR("2.0.1.10.in-addr.arpa.	5	IN	PTR	" + db1East)}},
	{Qname: "1.0.2.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.PTR("1.0.2.10.in-addr.arpa.	5	IN	PTR	" + db0West)}},
	{Qname: "5.5.96.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.PTR("5.5.96.10.in-addr.arpa.	5	IN	PTR	web" + cs)}},
	// not ready: no PTR of ours
	{Qname: "2.0.2.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
	// imported slices never reach cluster.local: the derived Service has no endpoints there
	{Qname: "derived-db.data.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(soaLine)}},
	{Qname: "db.data.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("db.data.svc.cluster.local.	5	IN	A	10.1.0.1")}},
}

func TestMulticluster(t *testing.T) {
	h := startMCS(t, config{})
	runCases(t, h, mcsCases)
}

// Topology order and caps reach clusterset names: with this cluster's ID
// known, its own endpoints come first, nearest first, other clusters' last.
func TestMulticlusterTopology(t *testing.T) {
	var cz topology.PrefixTable
	cz.Add(netip.MustParsePrefix("172.16.0.0/16"), topology.ClientLoc{Zone: "b"})
	h := startMCS(t, config{Topology: true, ClientZones: cz, DefaultMode: object.TrafficSameZone, ClusterID: "east"})
	hd := chain(h)
	for i := 0; i < 4; i++ {
		got := addrsOf(ask(t, hd, "172.16.0.9", false, "db"+cs, dns.TypeA).Answer)
		if len(got) != 4 || got[0] != "10.1.0.2" || got[1] != "10.1.0.1" {
			t.Fatalf("db from zone b of east: %v, want 10.1.0.2 (zone b), 10.1.0.1 (zone a), then west's", got)
		}
	}
	// SRV: this cluster's zone first
	m := ask(t, hd, "172.16.0.9", false, "_sql._tcp.db"+cs, dns.TypeSRV)
	for _, rr := range m.Answer {
		srv := rr.(*dns.SRV)
		if want := srv.Target == db1East; (srv.Priority == 0) != want {
			t.Errorf("SRV %s priority %d", srv.Target, srv.Priority)
		}
	}
}

func TestMulticlusterCap(t *testing.T) {
	h := startMCS(t, config{MaxAnswers: 2})
	hd := chain(h)
	seen := map[string]bool{}
	for i := 0; i < 8; i++ {
		got := addrsOf(ask(t, hd, "10.9.0.1", false, "db"+cs, dns.TypeA).Answer)
		if len(got) != 2 {
			t.Fatalf("capped clusterset answer: %v", got)
		}
		for _, a := range got {
			seen[a] = true
		}
	}
	if len(seen) != 4 {
		t.Errorf("8 capped replies gave out %d of 4 endpoints", len(seen))
	}
}

// Explain in a clusterset zone: each MCS case has its reason, in the EDE
// (also from cache) and over HTTP, where an answered import's name also
// lists the clusters left out of it.
func TestMulticlusterExplain(t *testing.T) {
	h := startMCSWith(t, config{Explain: true}, `---
apiVersion: multicluster.x-k8s.io/v1beta1
kind: ServiceImport
metadata: {name: bare, namespace: data}
spec:
  type: Headless
`, imported("db-south", "db", "south", discovery.AddressTypeIPv4, ep{IP: "10.3.0.1", Host: "db-0", NotReady: true}))
	hd := cached(h)
	for _, tc := range []struct {
		name  string
		qtype uint16
		code  string
		text  string
	}{
		{"nope" + cs, dns.TypeA, explain.NoImport, "nope.data: no ServiceImport nope in namespace data"},
		{"nowhere.svc.clusterset.local.", dns.TypeA, explain.NoImport, "nowhere: no ServiceImport in namespace nowhere"},
		{"bare" + cs, dns.TypeA, explain.NoImportedSlices, "bare.data: ServiceImport bare has no EndpointSlices from any cluster"},
		{"empty" + cs, dns.TypeA, explain.ClusterNotReady, "empty.data: cluster east: endpoint 10.1.9.9 not ready"},
		{"db-0.north.db" + cs, dns.TypeA, explain.UnknownCluster, "db-0.north.db.data: no EndpointSlice of ServiceImport db comes from cluster north; its clusters: east, south, west"},
		{"db-1.west.db" + cs, dns.TypeA, explain.NotReady, "db-1.west.db.data: endpoint 10.2.0.2 not ready"},
		{"db-7.east.db" + cs, dns.TypeA, explain.NoHostname, "db-7.east.db.data: no endpoint of ServiceImport db has the name db-7.east; its hostnames: db-0, db-1"},
		{"east.db" + cs, dns.TypeA, explain.NoHostname, "east.db.data: an imported endpoint is named <hostname>.<clusterid>.db: east is a cluster ID"},
		{"db-0.db" + cs, dns.TypeA, explain.NoHostname, "db-0.db.data: an imported endpoint is named <hostname>.<clusterid>.db: db-0 names no cluster"},
		{"_nope._tcp.db" + cs, dns.TypeSRV, explain.NoPort, "_nope._tcp.db.data: no port nope/tcp; the Service's ports: sql/tcp 5432"},
		{"east.web" + cs, dns.TypeA, explain.NotHeadless, "east.web.data: ServiceImport web is a ClusterSetIP one"},
		{"web" + cs, dns.TypeTXT, explain.WrongFamily, "web.data: ServiceImport web has clusterset IPs, not records of type TXT"},
		{"2.0.2.10.in-addr.arpa.", dns.TypePTR, explain.NotReady, "10.2.0.2: endpoint 10.2.0.2 not ready"},
	} {
		text := "Other|headless: " + tc.text
		if _, texts := edeOf(t, hd, tc.name, tc.qtype); len(texts) != 1 || !strings.HasPrefix(texts[0], text) {
			t.Errorf("%s: EDE %q, want %q", tc.name, texts, text)
		}
		if _, texts := edeOf(t, hd, tc.name, tc.qtype); len(texts) != 1 || !strings.HasPrefix(texts[0], text) {
			t.Errorf("%s from cache: EDE %q", tc.name, texts)
		}
		ex := explainSource{h}.Explain(tc.name, tc.qtype)
		if len(ex.Reasons) == 0 || ex.Reasons[0].Code != tc.code || ex.Reasons[0].Fix == "" {
			t.Errorf("%s: reasons %+v, want code %s first, with a fix", tc.name, ex.Reasons, tc.code)
		}
	}
	// answered, but without the cluster whose endpoints are all not ready
	ex := explainSource{h}.Explain("db"+cs, dns.TypeA)
	if ex.Answers != 4 || len(ex.Reasons) != 1 || ex.Reasons[0].Code != explain.ClusterNotReady ||
		ex.Reasons[0].Message != "cluster south: endpoint 10.3.0.1 not ready" {
		t.Errorf("db: %d answers, reasons %+v", ex.Answers, ex.Reasons)
	}
	if ex.Service == nil || len(ex.Service.Endpoints) != 7 || !slices.Contains(ex.Service.Endpoints[0].PublishedNames, db0East) {
		t.Errorf("db: the import's view %+v", ex.Service)
	}
	if _, texts := edeOf(t, hd, db0East, dns.TypeA); len(texts) != 0 {
		t.Errorf("a positive answer carries %q", texts)
	}
}

// Without the ServiceImport API, a clusterset name's reason says so.
func TestMulticlusterExplainNoCRD(t *testing.T) {
	h := startMCS(t, config{Explain: true})
	h.mc.setAbsent(true)
	if _, texts := edeOf(t, cached(h), "db"+cs, dns.TypeA); len(texts) != 1 ||
		!strings.Contains(texts[0], "the API server serves no ServiceImports (multicluster.x-k8s.io)") {
		t.Errorf("no CRD: EDE %q", texts)
	}
}

// namespace_labels scopes imports as it scopes Services: both kinds, and
// the PTRs of clusterset IPs.
func TestMulticlusterNamespaceLabels(t *testing.T) {
	for _, in := range []bool{true, false} {
		label := map[bool]string{true: "yes", false: "no"}[in]
		ns := &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: "data", Labels: map[string]string{"dns": label}}}
		sel := labels.SelectorFromSet(labels.Set{"dns": "yes"})
		h := startMCS(t, config{NSSelector: sel, NSLabels: "dns=yes"}, ns)
		hd := chain(h)
		h.Next = nxNext{} // (a reverse name that is not ours: the next plugin's NXDOMAIN)
		want := map[bool]int{true: dns.RcodeSuccess, false: dns.RcodeNameError}[in]
		for _, q := range []struct {
			name  string
			qtype uint16
		}{{"db" + cs, dns.TypeA}, {"web" + cs, dns.TypeA}, {db0West, dns.TypeA}} {
			if m := ask(t, hd, "10.9.0.1", false, q.name, q.qtype); m.Rcode != want {
				t.Errorf("namespace labelled dns=%s: %s %s", label, q.name, dns.RcodeToString[m.Rcode])
			}
		}
		m := ask(t, hd, "10.9.0.1", false, "5.5.96.10.in-addr.arpa.", dns.TypePTR)
		if got := len(m.Answer) == 1; got != in {
			t.Errorf("namespace labelled dns=%s: PTR of the clusterset IP: %v", label, m.Answer)
		}
	}
}
