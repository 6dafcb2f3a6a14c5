package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// edes asks name over EDNS and returns its EDE lines ("Other|text").
func edes(t *testing.T, addr, name string, qtype uint16) (*dns.Msg, []string) {
	t.Helper()
	r := exchangeFrom(t, "127.0.0.1", addr, name, qtype, false, 1232)
	var out []string
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				out = append(out, dns.ExtendedErrorCodeToString[ede.InfoCode]+"|"+ede.ExtraText)
			}
		}
	}
	return r, out
}

// expectEDE waits until name's reply carries one EDE containing want.
func expectEDE(t *testing.T, addr, name string, qtype uint16, want string) {
	t.Helper()
	var got []string
	testbed.Eventually(t, 20*time.Second, name+" explained", func() error {
		_, got = edes(t, addr, name, qtype)
		if len(got) == 1 && strings.Contains(got[0], want) {
			return nil
		}
		return fmt.Errorf("EDE %q, want one with %q", got, want)
	})
}

// explanation is the HTTP endpoint's JSON, as much as the tests read.
type explanation struct {
	Rcode   string `json:"rcode"`
	Answers int    `json:"answers"`
	Service *struct {
		Selector  map[string]string `json:"selector"`
		Endpoints []struct {
			Pod   string `json:"pod"`
			Ready bool   `json:"ready"`
		} `json:"endpoints"`
	} `json:"service"`
	Reasons []struct{ Code, Message string } `json:"reasons"`
}

// explainHTTP asks the explain endpoint on port about name and qtype.
func explainHTTP(t *testing.T, port int, name string, qtype uint16) explanation {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/explain?name=%s&type=%s", port, name, dns.TypeToString[qtype]))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var ex explanation
	if err := json.NewDecoder(resp.Body).Decode(&ex); err != nil {
		t.Fatal(err)
	}
	return ex
}

// TestExplain: one case per reason code on the real control plane, through
// cache 30 in front. Each asserts the code (over HTTP), the message with
// the names it must mention, the EDE's INFO-CODE and text, and the same EDE
// again on a cache hit (the cache's hit counter rises by one). Then a pod
// that turns ready has no reasons left, and with kube-apiserver really
// stopped answers carry EDE 3 (positive) and 19 (NXDOMAIN) and the JSON
// says stale with the time.
func TestExplain(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Namespace(t, "app")
	c.Namespace(t, "other")
	port := testbed.FreePort(t)
	d := startOursWith(t, c.Admin, "cache 30", fmt.Sprintf("namespaces app\n        explain 127.0.0.1:%d\n        startup_timeout 10s", port))
	// a ClusterIP Service: names below it are not ours
	c.Service(t, "app", "api", "", map[string]string{"app": "api"}, false, testbed.ServicePort("http", 80))
	// a selector that matches nothing
	c.Service(t, "app", "nomatch", core.ClusterIPNone, map[string]string{"app": "nothing"}, false, testbed.ServicePort("http", 80))
	// a StatefulSet-like Service: db-0 ready, db-1 not ready, and a pod whose subdomain is not the Service's
	c.Service(t, "app", "db", core.ClusterIPNone, map[string]string{"app": "db"}, false, testbed.ServicePort("pg", 5432))
	c.Pod(t, testbed.PodSpec{Namespace: "app", Name: "db-0", Node: "node-a", Labels: map[string]string{"app": "db"},
		Hostname: "db-0", Subdomain: "db", IPs: []string{"10.244.1.10"}, Ready: true})
	c.Pod(t, testbed.PodSpec{Namespace: "app", Name: "db-1", Node: "node-a", Labels: map[string]string{"app": "db"},
		Hostname: "db-1", Subdomain: "db", IPs: []string{"10.244.1.11"}, Ready: false})
	c.Pod(t, testbed.PodSpec{Namespace: "app", Name: "db-2", Node: "node-a", Labels: map[string]string{"app": "db"},
		Hostname: "db-2", Subdomain: "database", IPs: []string{"10.244.1.12"}, Ready: true})
	// a selector-less headless Service nobody wrote endpoints for
	c.Service(t, "app", "external", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
	// a selector-less one whose only endpoint is terminating, and one whose
	// member is written after a client asked for it
	c.Service(t, "app", "drain", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
	c.Service(t, "app", "late", core.ClusterIPNone, nil, false, testbed.ServicePort("pg", 5432))
	host, port5432, proto, pname := "drain-0", int32(5432), core.ProtocolTCP, "pg"
	no, yes := false, true
	if _, err := c.Client.DiscoveryV1().EndpointSlices("app").Create(bg, &discovery.EndpointSlice{
		ObjectMeta:  meta.ObjectMeta{Namespace: "app", Name: "drain-manual", Labels: map[string]string{discovery.LabelServiceName: "drain", discovery.LabelManagedBy: "manual.example.com"}},
		AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Protocol: &proto, Port: &port5432}},
		Endpoints: []discovery.Endpoint{{Addresses: []string{"192.0.2.30"}, Hostname: &host,
			Conditions: discovery.EndpointConditions{Ready: &no, Serving: &yes, Terminating: &yes}}},
	}, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// a headless Service in a namespace the stanza leaves out
	c.Service(t, "other", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80))
	expect(t, d.Addr, "db-0.db.app"+zone, dns.TypeA, "NOERROR A 10.244.1.10")
	untilRecords(t, 20*time.Second, d.Addr, "db-1.db.app"+zone, dns.TypeA, "NXDOMAIN")

	type reasonCase struct {
		name  string
		qtype uint16
		code  string
		want  string // the EDE's text, or its start when it ends in a space
	}
	check := func(tc reasonCase, ede string) {
		t.Helper()
		if !strings.HasPrefix(ede, "Other|") || !strings.Contains(ede, tc.want) {
			t.Errorf("%s %s: EDE %q, want INFO-CODE 0 (Other) with %q", tc.name, dns.TypeToString[tc.qtype], ede, tc.want)
		}
	}
	cases := []reasonCase{
		{"x.nosuch.app" + zone, dns.TypeA, "no-service", "headless: x.nosuch.app: no Service nosuch in namespace app"},
		{"x.api.app" + zone, dns.TypeA, "not-headless", "headless: x.api.app: Service api has cluster IP "},
		{"nomatch.app" + zone, dns.TypeA, "no-endpoints", "headless: nomatch.app: Service nomatch has no endpoints: its selector (app=nothing) matches no pod"},
		{"external.app" + zone, dns.TypeA, "no-endpoints", "headless: external.app: Service external has no selector, and no Endpoints or EndpointSlices were written for it"},
		{"db-1.db.app" + zone, dns.TypeA, "not-ready", "headless: db-1.db.app: endpoint 10.244.1.11 (pod db-1) not ready"},
		{"11.1.244.10.in-addr.arpa.", dns.TypePTR, "not-ready", "headless: 10.244.1.11: endpoint 10.244.1.11 (pod db-1) not ready"},
		{"drain-0.drain.app" + zone, dns.TypeA, "terminating", "headless: drain-0.drain.app: endpoint 192.0.2.30 terminating"},
		{"db-2.db.app" + zone, dns.TypeA, "no-hostname", "headless: db-2.db.app: no endpoint of Service db has the name db-2; endpoints without a hostname: 10.244.1.12 (pod db-2)"},
		{"_pgsql._tcp.db.app" + zone, dns.TypeSRV, "no-port", "headless: _pgsql._tcp.db.app: no port pgsql/tcp; the Service's ports: pg/tcp 5432"},
		{"db.app" + zone, dns.TypeAAAA, "wrong-family", "headless: db.app: the Service's endpoints have only IPv4 addresses"},
		{"web.other" + zone, dns.TypeA, "filtered", "headless: web.other: namespace other is not among the stanza's namespaces (app)"},
		{"x.db.pod.cluster.local.", dns.TypeA, "not-in-zone", "is not a Service name of the Kubernetes DNS schema"},
	}
	for _, tc := range cases {
		expectEDE(t, d.Addr, tc.name, tc.qtype, tc.want)
		hits := metric(t, d.metrics, "coredns_cache_hits_total")
		_, got := edes(t, d.Addr, tc.name, tc.qtype)
		if h := metric(t, d.metrics, "coredns_cache_hits_total") - hits; h != 1 {
			t.Errorf("%s %s: the second reply is not a cache hit (%v hits)", tc.name, dns.TypeToString[tc.qtype], h)
		}
		if len(got) != 1 {
			t.Errorf("%s %s from cache: EDE %q, want one", tc.name, dns.TypeToString[tc.qtype], got)
			continue
		}
		check(tc, got[0])
		// over HTTP: the code, and the message the EDE carries
		if ex := explainHTTP(t, port, tc.name, tc.qtype); len(ex.Reasons) != 1 || ex.Reasons[0].Code != tc.code || !strings.HasSuffix(got[0], ": "+ex.Reasons[0].Message) {
			t.Errorf("%s %s over HTTP: %+v, want one reason %s with the EDE's message", tc.name, dns.TypeToString[tc.qtype], ex, tc.code)
		}
	}
	if r, got := edes(t, d.Addr, "db-0.db.app"+zone, dns.TypeA); len(r.Answer) != 1 || len(got) != 0 {
		t.Errorf("positive answer: %v, EDE %q", r.Answer, got)
	}

	// unknown: a cached NXDOMAIN for a member that exists by the time it is
	// served again from the cache (no negative TTL: the cache keeps it 5 s)
	late := "late-0.late.app" + zone
	if got := records(d.Addr, late, dns.TypeA); got != "NXDOMAIN" {
		t.Fatalf("%s before its slice: %q", late, got)
	}
	handMadeSlice(t, c, "app", "late", "192.0.2.40", "late-0")
	eventually(t, 3*time.Second, "late-0 in the index", func() error {
		if ex := explainHTTP(t, port, late, dns.TypeA); ex.Rcode != "NOERROR" || ex.Answers != 1 {
			return fmt.Errorf("%+v", ex)
		}
		return nil
	})
	hits := metric(t, d.metrics, "coredns_cache_hits_total")
	r, got := edes(t, d.Addr, late, dns.TypeA)
	if h := metric(t, d.metrics, "coredns_cache_hits_total") - hits; h != 1 || r.Rcode != dns.RcodeNameError {
		t.Fatalf("%s: %s, %v cache hits; want the cached NXDOMAIN (the test was too slow for the cache's 5 s?)", late, dns.RcodeToString[r.Rcode], h)
	}
	if len(got) != 1 {
		t.Errorf("%s from cache, now published: EDE %q, want one", late, got)
	} else {
		// (over HTTP the name answers now: the message alone tells the code)
		check(reasonCase{late, dns.TypeA, "unknown", "headless: late-0.late.app: endpoint late-0 has published records of this type now"}, got[0])
	}

	// over HTTP: the Service and its endpoints
	if ex := explainHTTP(t, port, "db-1.db.app"+zone, dns.TypeA); ex.Rcode != "NXDOMAIN" || len(ex.Reasons) != 1 || ex.Reasons[0].Code != "not-ready" || ex.Service == nil ||
		ex.Service.Selector["app"] != "db" || len(ex.Service.Endpoints) != 3 {
		t.Errorf("explain db-1: %+v", ex)
	}
	// the pod turns ready: its name answers and its reasons are gone
	c.SetPodStatus(t, "app", "db-1", []string{"10.244.1.11"}, true)
	testbed.Eventually(t, 20*time.Second, "db-1 ready", func() error {
		if ex := explainHTTP(t, port, "db-1.db.app"+zone, dns.TypeA); ex.Rcode != "NOERROR" || ex.Answers != 1 || len(ex.Reasons) != 0 {
			return fmt.Errorf("explain db-1: %+v", ex)
		}
		return nil
	})

	testExplainStale(t, c, d, port)
}

// testExplainStale stops kube-apiserver for real: once a watch has failed
// for 10 s, a positive answer carries EDE 3 (Stale Answer) and an NXDOMAIN
// its reason and 19 (Stale NXDOMAIN Answer), also from the cache; the JSON
// says stale with the time; with the API server back they are gone.
func testExplainStale(t *testing.T, c *testbed.Cluster, d *dut, port int) {
	stopped := time.Now()
	c.APIServer.Stop()
	pos, neg := "db-0.db.app"+zone, "db-9.db.app"+zone
	since := regexp.MustCompile(`failing since (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)`)
	staleSince := func(text string) error {
		m := since.FindStringSubmatch(text)
		if m == nil {
			return fmt.Errorf("no time in %q", text)
		}
		at, err := time.Parse(time.RFC3339, m[1])
		if err != nil || at.Before(stopped.Add(-time.Second)) || at.After(time.Now()) {
			return fmt.Errorf("failing since %s: not between the stop (%s) and now (%v)", m[1], stopped.UTC().Format(time.RFC3339), err)
		}
		return nil
	}
	took := eventually(t, 90*time.Second, "stale EDEs with kube-apiserver stopped", func() error {
		r, got := edes(t, d.Addr, pos, dns.TypeA)
		if len(r.Answer) != 1 || len(got) != 1 || !strings.HasPrefix(got[0], "Stale Answer|headless: watch of ") {
			return fmt.Errorf("%s: %v, EDE %q", pos, r.Answer, got)
		}
		return staleSince(got[0])
	})
	t.Logf("stale EDEs %v after kube-apiserver stopped (client-go's retries, then 10 s)", took.Round(time.Second))
	for _, from := range []string{"miss or hit", "hit"} {
		r, got := edes(t, d.Addr, neg, dns.TypeA)
		if r.Rcode != dns.RcodeNameError || len(got) != 2 || !strings.HasPrefix(got[0], "Other|headless: db-9.db.app: no endpoint of Service db has the name db-9") ||
			!strings.HasPrefix(got[1], "Stale NXDOMAIN Answer|headless: watch of ") {
			t.Errorf("%s (%s): %s, EDE %q; want the reason and 19 (Stale NXDOMAIN Answer)", neg, from, dns.RcodeToString[r.Rcode], got)
		} else if err := staleSince(got[1]); err != nil {
			t.Error(err)
		}
	}
	ex := explainHTTP(t, port, neg, dns.TypeA)
	if n := len(ex.Reasons); n != 2 || ex.Reasons[1].Code != "stale" {
		t.Errorf("explain %s while stale: %+v, want its reason and stale", neg, ex)
	} else if err := staleSince(ex.Reasons[1].Message); err != nil {
		t.Error(err)
	}

	c.StartAPIServer()
	eventually(t, 90*time.Second, "stale EDEs gone with kube-apiserver back", func() error {
		if r, got := edes(t, d.Addr, pos, dns.TypeA); len(r.Answer) != 1 || len(got) != 0 {
			return fmt.Errorf("%s: %v, EDE %q", pos, r.Answer, got)
		}
		return nil
	})
}

// TestExplainOff: without the option no reply carries an EDE and nothing
// listens for explanations. The same port is first configured and seen to
// answer (explain on), so that the check of it with explain off can fail.
func TestExplainOff(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Namespace(t, "app")
	c.Service(t, "app", "db", core.ClusterIPNone, map[string]string{"app": "db"}, false, testbed.ServicePort("pg", 5432))
	port := testbed.FreePort(t)
	explainAddr := fmt.Sprintf("127.0.0.1:%d", port)
	listens := func() bool {
		conn, err := net.DialTimeout("tcp", explainAddr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err == nil
	}
	on := startOursWith(t, c.Admin, "cache 30", "explain "+explainAddr+"\n        startup_timeout 10s")
	expectEDE(t, on.Addr, "db-1.db.app"+zone, dns.TypeA, "headless: db-1.db.app: ")
	if !listens() {
		t.Fatalf("explain on: nothing listens on %s", explainAddr)
	}
	on.Stop()

	d := startOursWith(t, c.Admin, "cache 30", "startup_timeout 10s")
	for i := 0; i < 2; i++ {
		if r, got := edes(t, d.Addr, "db-1.db.app"+zone, dns.TypeA); r.Rcode != dns.RcodeNameError || len(got) != 0 {
			t.Errorf("explain off: %s, EDE %q", dns.RcodeToString[r.Rcode], got)
		}
	}
	if listens() {
		t.Errorf("something listens on %s with explain off", explainAddr)
	}
}
