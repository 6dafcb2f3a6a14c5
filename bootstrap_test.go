package headless

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/explain"
	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func annotated(s *core.Service, kv ...string) *core.Service {
	s.Annotations = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		s.Annotations[kv[i]] = kv[i+1]
	}
	return s
}

var peer = []pt{{Name: "peer", Proto: "TCP", Port: 7000}}

// bootCluster: db publishes its starting members' names by annotation, plain
// does not; boot has no ready member at all.
func bootCluster() []runtime.Object {
	members := func(ns, svc, prefix string) *discovery.EndpointSlice {
		return slice(ns, svc+"-a", svc, discovery.AddressTypeIPv4, "", peer,
			ep{IP: prefix + ".1", Host: svc + "-0", Target: svc + "-0"},
			ep{IP: prefix + ".2", Host: svc + "-1", Target: svc + "-1", NotReady: true},
			ep{IP: prefix + ".3", Host: svc + "-2", Target: svc + "-2", Terminating: true},
			ep{IP: prefix + ".4", Target: "nameless", NotReady: true})
	}
	return []runtime.Object{
		annotated(headlessSvc("ns", "db", nil), object.AnnotationNotReady, "hostnames"),
		members("ns", "db", "10.1.0"),
		headlessSvc("ns", "plain", nil),
		members("ns", "plain", "10.2.0"),
		annotated(headlessSvc("ns", "boot", nil), object.AnnotationNotReady, "hostnames"),
		slice("ns", "boot-a", "boot", discovery.AddressTypeIPv4, "", peer,
			ep{IP: "10.3.0.1", Host: "boot-0", NotReady: true}, ep{IP: "10.3.0.2", Host: "boot-1", NotReady: true}),
	}
}

const bootSOA = "cluster.local.	5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"

// With publish-not-ready: hostnames a starting member resolves by its own
// name and PTR; the Service name and SRV keep the ready ones; terminating
// members are never published by it; a Service without the annotation
// answers as stock.
func TestPublishNotReadyHostnames(t *testing.T) {
	h, _ := start(t, config{}, bootCluster()...)
	const svc = ".ns.svc.cluster.local."
	runCases(t, h, []test.Case{
		{Qname: "db-1.db" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("db-1.db" + svc + "	5	IN	A	10.1.0.2")}},
		{Qname: "db-0.db" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("db-0.db" + svc + "	5	IN	A	10.1.0.1")}},
		{Qname: "10-1-0-4.db" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-1-0-4.db" + svc + "	5	IN	A	10.1.0.4")}},
		{Qname: "db-1.db" + svc, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("db-1.db" + svc + "	5	IN	SRV	0 100 7000 db-1.db" + svc)},
			Extra:  []dns.RR{test.A("db-1.db" + svc + "	5	IN	A	10.1.0.2")}},
		{Qname: "db-2.db" + svc, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(bootSOA)}},
		{Qname: "db" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("db" + svc + "	5	IN	A	10.1.0.1")}},
		{Qname: "_peer._tcp.db" + svc, Qtype: dns.TypeSRV,
			Answer: []dns.RR{test.SRV("_peer._tcp.db" + svc + "	5	IN	SRV	0 100 7000 db-0.db" + svc)},
			Extra:  []dns.RR{test.A("db-0.db" + svc + "	5	IN	A	10.1.0.1")}},
		{Qname: "2.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("2.0.1.10.in-addr.arpa.	5	IN	PTR	db-1.db" + svc)}},
		{Qname: "4.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Answer: []dns.RR{test.PTR("4.0.1.10.in-addr.arpa.	5	IN	PTR	10-1-0-4.db" + svc)}},
		{Qname: "3.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
		// stock: not ready members have no name
		{Qname: "plain-1.plain" + svc, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(bootSOA)}},
		{Qname: "2.0.2.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
		{Qname: "plain" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("plain" + svc + "	5	IN	A	10.2.0.1")}},
		// no member ready: the Service name exists (names below it), without records
		{Qname: "boot" + svc, Qtype: dns.TypeA, Ns: []dns.RR{test.SOA(bootSOA)}},
		{Qname: "_peer._tcp.boot" + svc, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(bootSOA)}},
		{Qname: "boot-1.boot" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("boot-1.boot" + svc + "	5	IN	A	10.3.0.2")}},
	})
}

// The Corefile's publish_not_ready hostnames applies to every Service that
// sets nothing; a Service's publish-not-ready: none overrides it; changing
// the annotation takes the names in and out.
func TestPublishNotReadyDefault(t *testing.T) {
	objs := bootCluster()
	objs[0] = annotated(headlessSvc("ns", "db", nil), object.AnnotationNotReady, "none")
	h, client := start(t, config{Hostnames: true}, objs...)
	const svc = ".ns.svc.cluster.local."
	runCases(t, h, []test.Case{
		{Qname: "plain-1.plain" + svc, Qtype: dns.TypeA, Answer: []dns.RR{test.A("plain-1.plain" + svc + "	5	IN	A	10.2.0.2")}},
		{Qname: "db-1.db" + svc, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{test.SOA(bootSOA)}},
		{Qname: "2.0.1.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
	})
	s := annotated(headlessSvc("ns", "db", nil), object.AnnotationNotReady, "hostnames")
	if _, err := client.CoreV1().Services("ns").Update(context.Background(), s, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db-1 published", func() bool { return len(query(h, "db-1.db"+svc, dns.TypeA).Answer) == 1 })
	waitFor(t, "db-1's PTR", func() bool {
		m := query(h, "2.0.1.10.in-addr.arpa.", dns.TypePTR)
		return m != nil && len(m.Answer) == 1
	})
	// db-1 turns ready: now in the Service name too
	sl := bootCluster()[1].(*discovery.EndpointSlice)
	sl.Endpoints[1].Conditions.Ready = ptr(true)
	if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(context.Background(), sl, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "db-1 in the Service name", func() bool { return len(query(h, "db"+svc, dns.TypeA).Answer) == 2 })
}

// Explain tells a starting member's Service name apart: not ready, its own
// name published by the hostnames policy; the HTTP view says so per endpoint.
func TestExplainHostnames(t *testing.T) {
	h, _ := start(t, config{Explain: true}, bootCluster()...)
	hd := cached(h)
	_, texts := edeOf(t, hd, "boot.ns.svc.cluster.local.", dns.TypeA)
	if len(texts) != 1 || !strings.Contains(texts[0], "2 endpoints not ready: 10.3.0.1, 10.3.0.2; published by the hostnames policy under its own name only") {
		t.Errorf("boot: EDE %q", texts)
	}
	_, texts = edeOf(t, hd, "plain-1.plain.ns.svc.cluster.local.", dns.TypeA)
	if len(texts) != 1 || strings.Contains(texts[0], "hostnames") || !strings.Contains(texts[0], "not ready") {
		t.Errorf("plain-1: EDE %q", texts)
	}
	info := explainSource{h}.Service("ns", "db")
	if info == nil || info.NotReady != "hostnames" || info.NegativeTTL != nil {
		t.Fatalf("db: %+v", info)
	}
	pubs := map[string]string{}
	for _, e := range info.Endpoints {
		pubs[e.Hostname+e.Pod] = e.Publication
	}
	if pubs["db-0db-0"] != "service" || pubs["db-1db-1"] != "own-names" || pubs["db-2db-2"] != "none" || pubs["nameless"] != "own-names" {
		t.Errorf("publications %v", pubs)
	}
	if rs := h.explain.ex.Reasons(h.explainQuery(h.ask("boot.ns.svc.cluster.local.", dns.TypeA)), false, 0); len(rs) != 1 || rs[0].Code != explain.NotReady {
		t.Errorf("boot: reasons %v, want one %s", rs, explain.NotReady)
	}
	if rs := h.explain.ex.Reasons(h.explainQuery(h.ask("db-1.db.ns.svc.cluster.local.", dns.TypeAAAA)), false, 0); len(rs) != 1 || rs[0].Code != explain.WrongFamily {
		t.Errorf("db-1 AAAA (a starting member has only IPv4): reasons %v, want one %s", rs, explain.WrongFamily)
	}
}
