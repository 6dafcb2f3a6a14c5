package headless

import (
	"context"
	"encoding/json"
	"fmt"
	golog "log"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/cache"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/explain"
	"github.com/headlessdns/headless/internal/testbed"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// nxNext answers every name it gets NXDOMAIN, as the stock plugin answers
// names below a ClusterIP Service.
type nxNext struct{}

func (nxNext) Name() string { return "nx" }
func (nxNext) ServeDNS(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeNameError)
	// with an SOA, as stock writes it: cache stores no denial without one
	m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "cluster.local.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 5},
		Ns: "ns.dns.cluster.local.", Mbox: "hostmaster.cluster.local.", Serial: 1, Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: 5}}
	return dns.RcodeNameError, w.WriteMsg(m)
}

// cacheHits is the count of replies CoreDNS's cache served (all caches of
// the test binary).
func cacheHits(t *testing.T) float64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == "coredns_cache_hits_total" {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// cached is the plugin behind a real cache, with the front step ahead of
// it, as setup builds a block with cache.
func cached(h *Headless) plugin.Handler {
	c := cache.New()
	c.Next = h
	h.Next = nxNext{}
	return &front{h: h, next: c}
}

// packetRecorder is a dnstest.Recorder that also reads a reply written as
// bytes, as the server's writer takes it (explain writes its replies so).
type packetRecorder struct{ *dnstest.Recorder }

func (r packetRecorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	return len(b), r.Recorder.WriteMsg(m)
}

// edeOf asks name over EDNS and returns the reply and its EDE texts.
func edeOf(t *testing.T, hd plugin.Handler, name string, qtype uint16) (*dns.Msg, []string) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	w := packetRecorder{dnstest.NewRecorder(&test.ResponseWriter{})}
	if _, err := hd.ServeDNS(context.Background(), w, m); err != nil {
		t.Fatal(err)
	}
	if w.Msg == nil {
		t.Fatal("no reply")
	}
	var texts []string
	if o := w.Msg.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				texts = append(texts, dns.ExtendedErrorCodeToString[ede.InfoCode]+"|"+ede.ExtraText)
			}
		}
	}
	return w.Msg, texts
}

func explainCluster() []runtime.Object {
	objs := fixture()
	withSel := headlessSvc("testns", "nomatch", nil)
	withSel.Spec.Selector = map[string]string{"app": "nothing"}
	return append(objs, withSel, headlessSvc("testns", "lonely", nil))
}

// Every negative answer in our zones carries its reason, also from cache;
// a positive one carries nothing.
func TestExplainEDE(t *testing.T) {
	h, _ := start(t, config{Explain: true}, explainCluster()...)
	hd := cached(h)
	cases := []struct{ name, code, text string }{
		{"x.clstr.testns.svc.cluster.local.", explain.NotHeadless, "headless: x.clstr.testns: Service clstr has cluster IP 10.0.0.10"},
		{"nomatch.testns.svc.cluster.local.", explain.NoEndpoints, "headless: nomatch.testns: Service nomatch has no endpoints: its selector (app=nothing) matches no pod"},
		{"empty.testns.svc.cluster.local.", explain.NotReady, "headless: empty.testns: endpoint 172.0.1.1 not ready"},
		{"web-9.hdls.testns.svc.cluster.local.", explain.NotReady, "headless: web-9.hdls.testns: endpoint 172.0.0.9 not ready"},
		{"db-2.hdls.testns.svc.cluster.local.", explain.NoHostname, "headless: db-2.hdls.testns: no endpoint of Service hdls has the name db-2; endpoints without a hostname: fd00::1, fd00:0:0:2::, 172.0.0.3 (pod hdls-pod-3)"},
		{"lonely.testns.svc.cluster.local.", explain.NoEndpoints, "headless: lonely.testns: Service lonely has no selector, and no Endpoints or EndpointSlices were written for it"},
		{"nosuch.testns.svc.cluster.local.", explain.NoService, "headless: nosuch.testns: no Service nosuch in namespace testns"},
		{"9.9.9.9.in-addr.arpa.", explain.NoService, "headless: 9.9.9.9: no endpoint of a headless Service we serve has address 9.9.9.9"},
		{"9.0.0.172.in-addr.arpa.", explain.NotReady, "headless: 172.0.0.9: endpoint 172.0.0.9 not ready"},
	}
	qtypes := map[string]uint16{"9.9.9.9.in-addr.arpa.": dns.TypePTR, "9.0.0.172.in-addr.arpa.": dns.TypePTR}
	for _, tc := range cases {
		qt := qtypes[tc.name]
		if qt == 0 {
			qt = dns.TypeA
		}
		waitFor(t, tc.name+" explained", func() bool { // (an unwatched Service is looked up in the background)
			_, texts := edeOf(t, hd, tc.name, qt)
			return len(texts) == 1 && strings.HasPrefix(texts[0], "Other|"+tc.text)
		})
		hits := cacheHits(t)
		if _, texts := edeOf(t, hd, tc.name, qt); len(texts) != 1 || !strings.HasPrefix(texts[0], "Other|"+tc.text) {
			t.Errorf("%s from cache: EDE %q", tc.name, texts)
		}
		if got := cacheHits(t) - hits; got != 1 {
			t.Errorf("%s: the second reply is not a cache hit (%v hits)", tc.name, got)
		}
		_, msg, _ := strings.Cut(strings.TrimPrefix(tc.text, "headless: "), ": ") // the EDE is "headless: NAME: " and the message
		if ex := (explainSource{h}).Explain(tc.name, qt); len(ex.Reasons) != 1 || ex.Reasons[0].Code != tc.code || !strings.HasPrefix(ex.Reasons[0].Message, msg) {
			t.Errorf("%s: reasons %+v, want one of code %s with the EDE's message", tc.name, ex.Reasons, tc.code)
		}
	}
	// a spelling with capitals, of a name remembered in lowercase: the same reason
	if _, texts := edeOf(t, hd, "DB-2.Hdls.testns.svc.cluster.local.", dns.TypeA); len(texts) != 1 ||
		!strings.HasPrefix(texts[0], "Other|headless: db-2.hdls.testns: no endpoint of Service hdls has the name db-2") {
		t.Errorf("capitals: EDE %q", texts)
	}
	// SRV for a port the Service lacks; AAAA for an IPv4-only name
	if _, texts := edeOf(t, hd, "_htp._tcp.hdls.testns.svc.cluster.local.", dns.TypeSRV); len(texts) != 1 ||
		!strings.Contains(texts[0], "no port htp/tcp; the Service's ports: dns/udp 53, http/tcp 80") {
		t.Errorf("SRV port typo: %q", texts)
	}
	if _, texts := edeOf(t, hd, "ext.testns.svc.cluster.local.", dns.TypeAAAA); len(texts) != 1 ||
		!strings.Contains(texts[0], "headless: ext.testns: the Service's endpoints have only IPv4 addresses") {
		t.Errorf("AAAA on IPv4: %q", texts)
	}
	if m, texts := edeOf(t, hd, "web-0.hdls.testns.svc.cluster.local.", dns.TypeA); len(m.Answer) != 1 || len(texts) != 0 {
		t.Errorf("positive answer: %d records, EDE %q", len(m.Answer), texts)
	}
}

// A namespace the stanza leaves out is filtered; a pod that turns ready
// has no reasons left.
func TestExplainFilteredAndReady(t *testing.T) {
	h, client := start(t, config{Explain: true, Namespaces: []string{"testns"}}, explainCluster()...)
	hd := cached(h)
	if _, texts := edeOf(t, hd, "noports.other.svc.cluster.local.", dns.TypeA); len(texts) != 1 ||
		!strings.Contains(texts[0], "namespace other is not among the stanza's namespaces (testns)") {
		t.Errorf("filtered: %q", texts)
	}
	s := slice("testns", "empty-a", "empty", discovery.AddressTypeIPv4, "", http80, ep{IP: "172.0.1.1"})
	if _, err := client.DiscoveryV1().EndpointSlices("testns").Update(context.Background(), s, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "empty ready", func() bool {
		ex := explainSource{h}.Explain("empty.testns.svc.cluster.local.", dns.TypeA)
		return ex.Answers == 1 && len(ex.Reasons) == 0
	})
}

// With explain off no reply carries an EDE; with an address the HTTP
// endpoint answers JSON, and a stopped plugin leaves no listener.
func TestExplainHTTP(t *testing.T) {
	h, _ := start(t, config{}, explainCluster()...)
	if _, texts := edeOf(t, cached(h), "empty.testns.svc.cluster.local.", dns.TypeA); len(texts) != 0 {
		t.Errorf("explain off: EDE %q", texts)
	}
	if h.explain != nil {
		t.Error("explain off: explain state made")
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h2, _ := start(t, config{Explain: true, ExplainAddr: addr}, explainCluster()...)
	h2.Next = nxNext{}
	get := func(path string, v any) int {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	var ex explain.Explanation
	if code := get("/explain?name=web-9.hdls.testns.svc.cluster.local&type=A", &ex); code != 200 || ex.Rcode != "NXDOMAIN" || ex.Answers != 0 ||
		len(ex.Reasons) != 1 || ex.Reasons[0].Code != explain.NotReady || ex.Service == nil || len(ex.Service.Endpoints) != 6 {
		t.Errorf("explain web-9: %d %+v", code, ex)
	}
	if code := get("/explain?name=web-0.hdls.testns.svc.cluster.local&type=A", &ex); code != 200 || ex.Rcode != "NOERROR" || ex.Answers != 1 || len(ex.Reasons) != 0 {
		t.Errorf("explain web-0: %d %+v", code, ex)
	}
	var info explain.ServiceInfo
	names := func() (all []string) {
		for _, e := range info.Endpoints {
			all = append(all, e.PublishedNames...)
		}
		return all
	}
	if code := get("/explain/services/testns/hdls", &info); code != 200 || len(info.Ports) != 2 || !slices.Contains(names(), "web-0.hdls.testns.svc.cluster.local.") ||
		slices.Contains(names(), "web-9.hdls.testns.svc.cluster.local.") {
		t.Errorf("service hdls: %d %+v", code, info)
	}
	var e map[string]string
	if code := get("/explain/services/testns/nosuch", &e); code != 404 {
		t.Errorf("service nosuch: %d %v", code, e)
	}
	if code := get("/explain?name=a..b", &e); code != 400 {
		t.Errorf("bad name: %d %v", code, e)
	}
	if err := h2.OnShutdown(); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("the explain listener is left open after shutdown")
	}
}

// While a watch has been failing past the freshness threshold, replies
// carry Stale Answer (3), NXDOMAIN ones Stale NXDOMAIN Answer (19) beside
// their reason; once the watch is back, nothing.
func TestExplainStale(t *testing.T) {
	h, _ := start(t, config{Explain: true}, explainCluster()...)
	hd := cached(h)
	stale := &fixedHealth{stale: watch.Health{Name: "endpointslices", Stale: true, FailingSince: time.Now().Add(-time.Minute), LastError: "connection refused"}}
	h.health = stale
	if _, texts := edeOf(t, hd, "web-0.hdls.testns.svc.cluster.local.", dns.TypeA); len(texts) != 1 ||
		!strings.HasPrefix(texts[0], "Stale Answer|headless: watch of endpointslices failing since ") {
		t.Errorf("positive answer while stale: EDE %q", texts)
	}
	if _, texts := edeOf(t, hd, "nosuch.testns.svc.cluster.local.", dns.TypeA); len(texts) != 2 ||
		!strings.HasPrefix(texts[0], "Other|headless: nosuch.testns: ") || !strings.HasPrefix(texts[1], "Stale NXDOMAIN Answer|") {
		t.Errorf("NXDOMAIN while stale: EDE %q", texts)
	}
	stale.stale = watch.Health{}
	if _, texts := edeOf(t, hd, "web-0.hdls.testns.svc.cluster.local.", dns.TypeA); len(texts) != 0 {
		t.Errorf("positive answer after the watch is back: EDE %q", texts)
	}
}

// A name asked again and again keeps its reason past the rate at which
// reasons are computed (they are remembered), and a change taken in
// replaces the remembered reason.
func TestExplainMemo(t *testing.T) {
	h, client := start(t, config{Explain: true}, explainCluster()...)
	hd := cached(h)
	name := "lonely.testns.svc.cluster.local."
	for i := 0; i < 3000; i++ {
		if _, texts := edeOf(t, hd, name, dns.TypeA); len(texts) != 1 || !strings.Contains(texts[0], "has no selector") {
			t.Fatalf("ask %d: EDE %q", i, texts)
		}
	}
	s := slice("testns", "lonely-a", "lonely", discovery.AddressTypeIPv4, "example.com/manual", http80, ep{IP: "172.0.7.1", NotReady: true})
	if _, err := client.DiscoveryV1().EndpointSlices("testns").Create(context.Background(), s, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new reason", func() bool {
		_, texts := edeOf(t, hd, name, dns.TypeA)
		return len(texts) == 1 && strings.Contains(texts[0], "endpoint 172.0.7.1 not ready")
	})
}

// A terminating endpoint is explained as terminating, with the serving
// policy as the fix; with the debug plugin's flag set each name's reason
// is logged once per change of that reason, not once per query.
func TestExplainTerminatingDebugLog(t *testing.T) {
	objs := append(explainCluster(),
		headlessSvc("testns", "drain", nil),
		slice("testns", "drain-a", "drain", discovery.AddressTypeIPv4, "", http80,
			ep{IP: "172.0.5.1", Host: "drain-0", Terminating: true}, ep{IP: "172.0.5.2", Host: "drain-1", Terminating: true}))
	h, client := start(t, config{Explain: true}, objs...)
	hd := cached(h)

	var buf testbed.SyncBuffer
	golog.SetOutput(&buf)
	clog.D.Set()
	t.Cleanup(func() { clog.D.Clear(); golog.SetOutput(os.Stderr) })

	cases := []struct{ name, text string }{
		{"drain.testns.svc.cluster.local.", "headless: drain.testns: 2 endpoints terminating: 172.0.5.1, 172.0.5.2"},
		{"drain-0.drain.testns.svc.cluster.local.", "headless: drain-0.drain.testns: endpoint 172.0.5.1 terminating"},
	}
	for _, tc := range cases {
		for i := 0; i < 3; i++ { // from the plugin, then from cache
			if _, texts := edeOf(t, hd, tc.name, dns.TypeA); len(texts) != 1 || texts[0] != "Other|"+tc.text {
				t.Errorf("%s: EDE %q, want %q", tc.name, texts, tc.text)
			}
		}
	}
	rs := h.explain.ex.Reasons(h.explainQuery(h.ask("drain.testns.svc.cluster.local.", dns.TypeA)), false, 0)
	if len(rs) != 1 || rs[0].Code != explain.Terminating || !strings.Contains(rs[0].Fix, "headless.dns/publish: serving") {
		t.Errorf("drain reasons %+v, want one %s whose fix names the serving policy", rs, explain.Terminating)
	}
	// asked again past the cache: still one line per name
	uncached := &front{h: h, next: h}
	for i := 0; i < 3; i++ {
		edeOf(t, uncached, "drain.testns.svc.cluster.local.", dns.TypeA)
	}
	want := "[DEBUG] plugin/headless: drain.testns.svc.cluster.local. A: terminating: 2 endpoints terminating"
	if n := strings.Count(buf.String(), want); n != 1 {
		t.Errorf("%d debug lines %q, want 1; log:\n%s", n, want, buf.String())
	}
	if n := strings.Count(buf.String(), "drain-0.drain.testns.svc.cluster.local. A: terminating: endpoint 172.0.5.1"); n != 1 {
		t.Errorf("%d debug lines for drain-0, want 1; log:\n%s", n, buf.String())
	}

	// the reason changes (the slice is gone): a new line for the new reason
	if err := client.DiscoveryV1().EndpointSlices("testns").Delete(context.Background(), "drain-a", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "drain without endpoints", func() bool {
		_, texts := edeOf(t, uncached, "drain.testns.svc.cluster.local.", dns.TypeA)
		return len(texts) == 1 && strings.Contains(texts[0], "no Endpoints or EndpointSlices were written for it")
	})
	if !strings.Contains(buf.String(), "drain.testns.svc.cluster.local. A: no-endpoints: ") {
		t.Errorf("no debug line for the changed reason; log:\n%s", buf.String())
	}
}

// fixedHealth reports one stale watch, or none when stale is the zero Health.
type fixedHealth struct{ stale watch.Health }

func (f *fixedHealth) Health() []watch.Health { return []watch.Health{f.stale} }

func (f *fixedHealth) Stale() (watch.Health, bool) { return f.stale, f.stale.Stale }

// BenchmarkExplainCached is a reply from cache through the front step, with
// explain off and on, packed as the server packs it: a negative answer (its
// EDE added to every reply) and a positive one (left alone).
func BenchmarkExplainCached(b *testing.B) {
	for _, bc := range []struct{ name, qname string }{
		{"negative", "nosuch.hdls.testns.svc.cluster.local."},
		{"positive", "web-0.hdls.testns.svc.cluster.local."},
	} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/explain=%v", bc.name, on), func(b *testing.B) {
				h, _ := start(b, config{Explain: on}, explainCluster()...)
				hd := cached(h)
				m := new(dns.Msg)
				m.SetQuestion(bc.qname, dns.TypeA)
				m.SetEdns0(1232, false)
				rw := &test.ResponseWriter{}
				w := &discardWriter{ResponseWriter: rw, from: rw.RemoteAddr()}
				if _, err := hd.ServeDNS(context.Background(), w, m); err != nil || w.n == 0 {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					_, _ = hd.ServeDNS(context.Background(), w, m)
				}
			})
		}
	}
}
