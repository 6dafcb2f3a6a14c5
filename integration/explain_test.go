package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
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

// TestExplain: the article's mistakes on the real control plane, through
// cache 30 in front (the second reply of each comes from the cache), and
// over HTTP; a pod that turns ready has no reasons left.
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
	// a headless Service in a namespace the stanza leaves out
	c.Service(t, "other", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80))
	expect(t, d.Addr, "db-0.db.app"+zone, dns.TypeA, "NOERROR A 10.244.1.10")

	cases := []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"x.api.app" + zone, dns.TypeA, "headless: x.api.app: Service api has cluster IP "},
		{"nomatch.app" + zone, dns.TypeA, "headless: nomatch.app: Service nomatch has no endpoints: its selector (app=nothing) matches no pod"},
		{"db-1.db.app" + zone, dns.TypeA, "headless: db-1.db.app: endpoint 10.244.1.11 (pod db-1) not ready"},
		{"db-2.db.app" + zone, dns.TypeA, "headless: db-2.db.app: no endpoint of Service db has the name db-2; endpoints without a hostname: 10.244.1.12 (pod db-2)"},
		{"external.app" + zone, dns.TypeA, "headless: external.app: Service external has no selector, and no Endpoints or EndpointSlices were written for it"},
		{"_pgsql._tcp.db.app" + zone, dns.TypeSRV, "headless: _pgsql._tcp.db.app: no port pgsql/tcp; the Service's ports: pg/tcp 5432"},
		{"db.app" + zone, dns.TypeAAAA, "headless: db.app: the Service's endpoints have only IPv4 addresses"},
		{"web.other" + zone, dns.TypeA, "headless: web.other: namespace other is not among the stanza's namespaces (app)"},
		{"11.1.244.10.in-addr.arpa.", dns.TypePTR, "headless: 10.244.1.11: endpoint 10.244.1.11 (pod db-1) not ready"},
	}
	for _, tc := range cases {
		expectEDE(t, d.Addr, tc.name, tc.qtype, tc.want)
		if _, got := edes(t, d.Addr, tc.name, tc.qtype); len(got) != 1 || !strings.Contains(got[0], tc.want) {
			t.Errorf("%s from cache: EDE %q", tc.name, got)
		}
	}
	if r, got := edes(t, d.Addr, "db-0.db.app"+zone, dns.TypeA); len(r.Answer) != 1 || len(got) != 0 {
		t.Errorf("positive answer: %v, EDE %q", r.Answer, got)
	}

	// over HTTP
	explainURL := fmt.Sprintf("http://127.0.0.1:%d/explain?name=db-1.db.app%s&type=A", port, zone)
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
	get := func() explanation {
		resp, err := http.Get(explainURL)
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
	if ex := get(); ex.Rcode != "NXDOMAIN" || len(ex.Reasons) != 1 || ex.Reasons[0].Code != "not-ready" || ex.Service == nil ||
		ex.Service.Selector["app"] != "db" || len(ex.Service.Endpoints) != 3 {
		t.Errorf("explain db-1: %+v", ex)
	}
	// the pod turns ready: its name answers and its reasons are gone
	c.SetPodStatus(t, "app", "db-1", []string{"10.244.1.11"}, true)
	testbed.Eventually(t, 20*time.Second, "db-1 ready", func() error {
		if ex := get(); ex.Rcode != "NOERROR" || ex.Answers != 1 || len(ex.Reasons) != 0 {
			return fmt.Errorf("explain db-1: %+v", ex)
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
