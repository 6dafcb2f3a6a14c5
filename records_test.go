package headless

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// With no next plugin the apex, ns.dns and the names above Services and
// above published addresses exist: SOA/NS, NODATA, never NXDOMAIN.
func TestNoNextPlugin(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	rev := test.SOA("in-addr.arpa.	5	IN	SOA	ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1 7200 1800 86400 5")
	rev6 := test.SOA("ip6.arpa.	5	IN	SOA	ns.dns.ip6.arpa. hostmaster.ip6.arpa. 1 7200 1800 86400 5")
	runCasesNext(t, h, nil, []test.Case{
		{Qname: "cluster.local.", Qtype: dns.TypeSOA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{soa}},
		{Qname: "cluster.local.", Qtype: dns.TypeNS, Rcode: dns.RcodeSuccess,
			Answer: []dns.RR{test.NS("cluster.local.	5	IN	NS	ns.dns.cluster.local.")},
			Extra:  []dns.RR{test.A("ns.dns.cluster.local.	5	IN	A	127.0.0.1")}},
		{Qname: "ns.dns.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("ns.dns.cluster.local.	5	IN	A	127.0.0.1")}},
		{Qname: "cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
		{Qname: "svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
		{Qname: "testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
		{Qname: "other.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
		{Qname: "nons.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "clstr.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "dns-version.cluster.local.", Qtype: dns.TypeTXT, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "in-addr.arpa.", Qtype: dns.TypeSOA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{rev}},
		// the reverse zones' NS target resolves, as the forward zone's does
		{Qname: "in-addr.arpa.", Qtype: dns.TypeNS, Rcode: dns.RcodeSuccess,
			Answer: []dns.RR{test.NS("in-addr.arpa.	5	IN	NS	ns.dns.in-addr.arpa.")},
			Extra:  []dns.RR{test.A("ns.dns.in-addr.arpa.	5	IN	A	127.0.0.1")}},
		{Qname: "ns.dns.in-addr.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("ns.dns.in-addr.arpa.	5	IN	A	127.0.0.1")}},
		{Qname: "NS.dns.ip6.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A("NS.dns.ip6.arpa.	5	IN	A	127.0.0.1")}},
		{Qname: "ns.dns.in-addr.arpa.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{rev}},
		{Qname: "dns.in-addr.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{rev}},
		{Qname: "172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Ns: []dns.RR{rev}},
		{Qname: "0.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Ns: []dns.RR{rev}},
		{Qname: "2.0.192.in-addr.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{rev}},
		{Qname: "1.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{rev}}, // only a not-ready address
		{Qname: "9.0.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{rev}},
		{Qname: "x.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{rev}},
		{Qname: "d.f.ip6.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Ns: []dns.RR{rev6}},
		{Qname: "e.f.ip6.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeNameError, Ns: []dns.RR{rev6}},
	})
	// AXFR: REFUSED, written by the server (nothing logged), as stock
	m := new(dns.Msg)
	m.SetQuestion(svcName, dns.TypeAXFR)
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	if rc, err := h.ServeDNS(context.Background(), w, m); rc != dns.RcodeRefused || err != nil || w.Msg != nil {
		t.Errorf("AXFR with no next plugin: rcode %d err %v msg %v, want REFUSED for the server to write", rc, err, w.Msg)
	}
}
