package headless

import (
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
)

const svcName = "hdls.testns.svc.cluster.local."

// srvHTTP is the SRV answer of the http port (TCP 80) of hdls, any spelling.
func srvHTTP(owner string) test.Case {
	return test.Case{Qname: owner, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV(owner + "	5	IN	SRV	0 20 80 " + h0),
		test.SRV(owner + "	5	IN	SRV	0 20 80 " + h1),
		test.SRV(owner + "	5	IN	SRV	0 20 80 " + h3),
		test.SRV(owner + "	5	IN	SRV	0 20 80 " + h6),
		test.SRV(owner + "	5	IN	SRV	0 20 80 " + h7),
	}, Extra: []dns.RR{
		test.A(h0 + "	5	IN	A	172.0.0.1"), test.A(h1 + "	5	IN	A	172.0.0.2"), test.A(h3 + "	5	IN	A	172.0.0.3"),
		test.AAAA(h6 + "	5	IN	AAAA	fd00::1"), test.AAAA(h7 + "	5	IN	AAAA	fd00:0:0:2::"),
	}}
}

func srvDNS(owner string) test.Case {
	return test.Case{Qname: owner, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV(owner + "	5	IN	SRV	0 33 53 " + h0),
		test.SRV(owner + "	5	IN	SRV	0 33 53 " + h1),
		test.SRV(owner + "	5	IN	SRV	0 33 53 " + h3),
	}, Extra: []dns.RR{test.A(h0 + "	5	IN	A	172.0.0.1"), test.A(h1 + "	5	IN	A	172.0.0.2"), test.A(h3 + "	5	IN	A	172.0.0.3")}}
}

// Every port spelling the stock parser accepts: labels with or without the
// underscore, an empty label ("_") for any port or protocol.
func TestPortSpellings(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	all := baseCases[6] // SRV of the Service: every (endpoint, port)
	anyAny := all
	anyAny.Qname = "_._." + svcName
	anyAny.Answer = renamed(all.Answer, anyAny.Qname)
	nxSOA := []dns.RR{soa}
	runCases(t, h, []test.Case{
		srvHTTP("http.tcp." + svcName), srvHTTP("_http.tcp." + svcName), srvHTTP("http._tcp." + svcName),
		srvHTTP("_._tcp." + svcName), srvHTTP("HTTP.TCP." + svcName),
		srvDNS("dns.udp." + svcName), srvDNS("_._udp." + svcName), srvDNS("_dns._." + svcName), srvDNS("dns._." + svcName),
		anyAny,
		{Qname: "dns.udp." + svcName, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.A("dns.udp." + svcName + "	5	IN	A	172.0.0.1"), test.A("dns.udp." + svcName + "	5	IN	A	172.0.0.2"),
			test.A("dns.udp." + svcName + "	5	IN	A	172.0.0.3")}},
		{Qname: "_._sctp." + svcName, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: nxSOA},
		{Qname: "http.udp." + svcName, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: nxSOA},
		// a slice without ports: only "any port, any protocol" selects its addresses
		{Qname: "_._.noports.other.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.A("_._.noports.other.svc.cluster.local.	5	IN	A	172.0.3.1")}},
		{Qname: "_._.noports.other.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Ns: nxSOA},
		{Qname: "_._tcp.noports.other.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: nxSOA},
		// one label with an underscore is an endpoint name, which no endpoint has
		{Qname: "_http." + svcName, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: nxSOA},
	})
}

func renamed(rrs []dns.RR, owner string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = owner
	}
	return out
}

// A plugin in the root zone serves Service names and PTRs, targets in ".".
func TestRootZone(t *testing.T) {
	h, _ := startZones(t, []string{"."}, config{}, fixture()...)
	rootSOA := test.SOA(".	5	IN	SOA	ns.dns. hostmaster. 1 7200 1800 86400 5")
	runCases(t, h, []test.Case{
		{Qname: "web-0.hdls.testns.svc.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("web-0.hdls.testns.svc.	5	IN	A	172.0.0.1")}},
		{Qname: "_dns._udp.hdls.testns.svc.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.SRV("_dns._udp.hdls.testns.svc.	5	IN	SRV	0 33 53 web-0.hdls.testns.svc."),
			test.SRV("_dns._udp.hdls.testns.svc.	5	IN	SRV	0 33 53 web-1.hdls.testns.svc."),
			test.SRV("_dns._udp.hdls.testns.svc.	5	IN	SRV	0 33 53 172-0-0-3.hdls.testns.svc."),
		}, Extra: []dns.RR{test.A("web-0.hdls.testns.svc.	5	IN	A	172.0.0.1"), test.A("web-1.hdls.testns.svc.	5	IN	A	172.0.0.2"),
			test.A("172-0-0-3.hdls.testns.svc.	5	IN	A	172.0.0.3")}},
		{Qname: "1.0.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.PTR("1.0.0.172.in-addr.arpa.	5	IN	PTR	web-0.hdls.testns.svc.")}},
		{Qname: "nope.hdls.testns.svc.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{rootSOA}},
		{Qname: "example.org.", Qtype: dns.TypeA, Rcode: nextRcode},
	})
}

// Zones match by labels, and escaped dots never split a label.
func TestEscapedNames(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	runCases(t, h, []test.Case{
		{Qname: `x\.cluster.local.`, Qtype: dns.TypeA, Rcode: nextRcode}, // labels "x.cluster", "local": not in cluster.local
		{Qname: `hdls.testns.svc.x\.cluster.local.`, Qtype: dns.TypeA, Rcode: nextRcode},
		{Qname: `web-0\.hdls.testns.svc.cluster.local.`, Qtype: dns.TypeA, Rcode: nextRcode}, // Service "web-0.hdls": not ours
		{Qname: `_http\._tcp.hdls.testns.svc.cluster.local.`, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	})
}

// A PTR query names one address exactly as dns.ReverseAddr writes it; other
// spellings of it and the names above it have no PTR.
func TestPTRNames(t *testing.T) {
	h, _ := start(t, config{},
		headlessSvc("ns", "web", nil),
		slice("ns", "web-1", "web", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.2.1", Host: "a", Zone: "zone-a"}),
		slice("ns", "web-6", "web", discovery.AddressTypeIPv6, "", http80, ep{IP: "fd00::1", Host: "b"}))
	for name, want := range map[string]string{
		"1.2.0.10.in-addr.arpa.":   "a.web.ns.svc.cluster.local.",
		"01.2.0.10.in-addr.arpa.":  "",
		"1.02.0.10.in-addr.arpa.":  "",
		"2.0.10.in-addr.arpa.":     "",
		"1.1.2.0.10.in-addr.arpa.": "",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": "b.web.ns.svc.cluster.local.",
		"0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.":   "",
	} {
		m := query(h, name, dns.TypePTR)
		got := ""
		if m != nil && len(m.Answer) == 1 {
			got = m.Answer[0].(*dns.PTR).Ptr
		}
		if m == nil || got != want || (want == "" && len(m.Answer) != 0) {
			t.Errorf("PTR %s = %q (%v), want %q", name, got, m, want)
		}
	}
}
