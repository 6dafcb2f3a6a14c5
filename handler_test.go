package headless

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"errors"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/headlessdns/headless/internal/watch"
	dto "github.com/prometheus/client_model/go"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

const soaLine = "cluster.local.	5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5"

var soa = test.SOA(soaLine)

const (
	h0 = "web-0.hdls.testns.svc.cluster.local."
	h1 = "web-1.hdls.testns.svc.cluster.local."
	h3 = "172-0-0-3.hdls.testns.svc.cluster.local."
	h6 = "fd00--1.hdls.testns.svc.cluster.local."
	h7 = "fd00-0-0-2--0.hdls.testns.svc.cluster.local."
)

// baseCases are answered the same with and without zonal.
var baseCases = []test.Case{
	// A and AAAA on the Service: one record per ready address, not-ready left out.
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.1"),
		test.A("hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.2"),
		test.A("hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.3"),
	}},
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.AAAA("hdls.testns.svc.cluster.local.	5	IN	AAAA	fd00::1"),
		test.AAAA("hdls.testns.svc.cluster.local.	5	IN	AAAA	fd00:0:0:2::"),
	}},
	// Endpoint names: hostname, dashed IPv4, dashed IPv6 with the trailing 0.
	{Qname: h0, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A(h0 + "	5	IN	A	172.0.0.1")}},
	{Qname: h3, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A(h3 + "	5	IN	A	172.0.0.3")}},
	{Qname: h6, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.AAAA(h6 + "	5	IN	AAAA	fd00::1")}},
	{Qname: h7, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.AAAA(h7 + "	5	IN	AAAA	fd00:0:0:2::")}},
	// SRV on the Service: every (endpoint, port), weight 100/8, glue in Additional.
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 80 " + h0),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 53 " + h0),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 80 " + h1),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 53 " + h1),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 80 " + h3),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 53 " + h3),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 80 " + h6),
		test.SRV("hdls.testns.svc.cluster.local.	5	IN	SRV	0 12 80 " + h7),
	}, Extra: []dns.RR{
		test.A(h0 + "	5	IN	A	172.0.0.1"),
		test.A(h1 + "	5	IN	A	172.0.0.2"),
		test.A(h3 + "	5	IN	A	172.0.0.3"),
		test.AAAA(h6 + "	5	IN	AAAA	fd00::1"),
		test.AAAA(h7 + "	5	IN	AAAA	fd00:0:0:2::"),
	}},
	// SRV on a named port.
	{Qname: "_dns._udp.hdls.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("_dns._udp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 33 53 " + h0),
		test.SRV("_dns._udp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 33 53 " + h1),
		test.SRV("_dns._udp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 33 53 " + h3),
	}, Extra: []dns.RR{
		test.A(h0 + "	5	IN	A	172.0.0.1"),
		test.A(h1 + "	5	IN	A	172.0.0.2"),
		test.A(h3 + "	5	IN	A	172.0.0.3"),
	}},
	{Qname: "_http._tcp.hdls.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("_http._tcp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h0),
		test.SRV("_http._tcp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h1),
		test.SRV("_http._tcp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h3),
		test.SRV("_http._tcp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h6),
		test.SRV("_http._tcp.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h7),
	}, Extra: []dns.RR{
		test.A(h0 + "	5	IN	A	172.0.0.1"),
		test.A(h1 + "	5	IN	A	172.0.0.2"),
		test.A(h3 + "	5	IN	A	172.0.0.3"),
		test.AAAA(h6 + "	5	IN	AAAA	fd00::1"),
		test.AAAA(h7 + "	5	IN	AAAA	fd00:0:0:2::"),
	}},
	// A on a port name answers the addresses behind that port, as stock does.
	{Qname: "_dns._udp.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("_dns._udp.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.1"),
		test.A("_dns._udp.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.2"),
		test.A("_dns._udp.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.3"),
	}},
	// SRV on an endpoint name: its ports.
	{Qname: h0, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV(h0 + "	5	IN	SRV	0 50 80 " + h0),
		test.SRV(h0 + "	5	IN	SRV	0 50 53 " + h0),
	}, Extra: []dns.RR{test.A(h0 + "	5	IN	A	172.0.0.1")}},
	// Selector-less Service from two slices of another manager: de-duplicated.
	{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("ext.testns.svc.cluster.local.	5	IN	A	192.0.2.10"),
		test.A("ext.testns.svc.cluster.local.	5	IN	A	192.0.2.11"),
	}},
	{Qname: "primary.ext.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("primary.ext.testns.svc.cluster.local.	5	IN	A	192.0.2.10"),
	}},
	{Qname: "_pg._tcp.ext.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("_pg._tcp.ext.testns.svc.cluster.local.	5	IN	SRV	0 33 5432 primary.ext.testns.svc.cluster.local."),
		test.SRV("_pg._tcp.ext.testns.svc.cluster.local.	5	IN	SRV	0 33 5432 replica.ext.testns.svc.cluster.local."),
	}, Extra: []dns.RR{
		test.A("primary.ext.testns.svc.cluster.local.	5	IN	A	192.0.2.10"),
		test.A("replica.ext.testns.svc.cluster.local.	5	IN	A	192.0.2.11"),
	}},
	// A slice without ports: addresses yes, SRV NODATA.
	{Qname: "noports.other.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("noports.other.svc.cluster.local.	5	IN	A	172.0.3.1"),
	}},
	{Qname: "noports.other.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	// PTR, IPv4 and IPv6.
	{Qname: "1.0.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.PTR("1.0.0.172.in-addr.arpa.	5	IN	PTR	" + h0),
	}},
	{Qname: "3.0.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.PTR("3.0.0.172.in-addr.arpa.	5	IN	PTR	" + h3),
	}},
	{Qname: "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.PTR("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.	5	IN	PTR	" + h6),
	}},
	{Qname: "10.2.0.192.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.PTR("10.2.0.192.in-addr.arpa.	5	IN	PTR	primary.ext.testns.svc.cluster.local."),
	}},
	// An address PTR name asked for another type: NODATA with the reverse zone's SOA.
	{Qname: "1.0.0.172.in-addr.arpa.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{
		test.SOA("in-addr.arpa.	5	IN	SOA	ns.dns.in-addr.arpa. hostmaster.in-addr.arpa. 1 7200 1800 86400 5"),
	}},
	// NODATA: known names, types they lack.
	{Qname: h0, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeTXT, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeMX, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	{Qname: "ext.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	// NXDOMAIN: under a known headless Service, names it does not have.
	{Qname: "web-9.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "nope.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "_nope._tcp.hdls.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "_http._udp.hdls.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "a.b.c.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "empty.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "172-0-1-1.empty.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	// Case-insensitive match, owner name as asked.
	{Qname: "Web-0.HDLS.TestNS.svc.Cluster.Local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("Web-0.HDLS.TestNS.svc.Cluster.Local.	5	IN	A	172.0.0.1"),
	}},
	{Qname: "NOPE.hdls.testns.svc.Cluster.Local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{
		test.SOA("Cluster.Local.	5	IN	SOA	ns.dns.Cluster.Local. hostmaster.Cluster.Local. 1 7200 1800 86400 5"),
	}},
	// Everything it does not own goes to the next plugin.
	{Qname: "clstr.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "172-0-2-1.clstr.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "_http._tcp.clstr.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: nextRcode},
	{Qname: "ghost.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "cluster.local.", Qtype: dns.TypeSOA, Rcode: nextRcode},
	{Qname: "cluster.local.", Qtype: dns.TypeNS, Rcode: nextRcode},
	{Qname: "dns-version.cluster.local.", Qtype: dns.TypeTXT, Rcode: nextRcode},
	{Qname: "172-0-0-1.testns.pod.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeAXFR, Rcode: nextRcode},
	{Qname: "1.2.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
	{Qname: "10.0.0.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
	{Qname: "example.org.", Qtype: dns.TypeA, Rcode: nextRcode},
}

// zonalCases hold with the zonal option (stock plugin/kubernetes zonal_test.go semantics).
var zonalCases = []test.Case{
	{Qname: "us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("us-west-2a.pin._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.1"),
	}},
	{Qname: "us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.AAAA("us-west-2a.pin._zone.hdls.testns.svc.cluster.local.	5	IN	AAAA	fd00::1"),
	}},
	// zones compare lowercased: US-West-2B is us-west-2b
	{Qname: "US-WEST-2B.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("US-WEST-2B.pin._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.2"),
		test.A("US-WEST-2B.pin._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.3"),
	}},
	{Qname: "us-west-2b.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.SRV("us-west-2b.pin._zone.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h1),
		test.SRV("us-west-2b.pin._zone.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 53 " + h1),
		test.SRV("us-west-2b.pin._zone.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h3),
		test.SRV("us-west-2b.pin._zone.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 53 " + h3),
		test.SRV("us-west-2b.pin._zone.hdls.testns.svc.cluster.local.	5	IN	SRV	0 20 80 " + h7),
	}, Extra: []dns.RR{
		test.A(h1 + "	5	IN	A	172.0.0.2"),
		test.A(h3 + "	5	IN	A	172.0.0.3"),
		test.AAAA(h7 + "	5	IN	AAAA	fd00:0:0:2::"),
	}},
	// pin on a zone no endpoint carries: NODATA; prefer: every endpoint.
	{Qname: "us-west-2c.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	{Qname: "us-west-2c.prefer._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("us-west-2c.prefer._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.1"),
		test.A("us-west-2c.prefer._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.2"),
		test.A("us-west-2c.prefer._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.3"),
	}},
	{Qname: "us-west-2a.prefer._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
		test.A("us-west-2a.prefer._zone.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.1"),
	}},
	{Qname: "us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeTXT, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	// a known headless Service without ready endpoints: NODATA, not NXDOMAIN
	{Qname: "us-west-2a.pin._zone.empty.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	{Qname: "us-west-2a.prefer._zone.empty.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Ns: []dns.RR{soa}},
	// unknown directive keeps the too-long NXDOMAIN; ClusterIP and unknown Services pass on
	{Qname: "us-west-2a.florp._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "us-west-2a.pin._zone.clstr.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
	{Qname: "us-west-2a.pin._zone.ghost.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
}

// Without zonal the whole zone-scoped shape is a too-long name: NXDOMAIN.
var noZonalCases = []test.Case{
	{Qname: "us-west-2a.pin._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "us-west-2c.prefer._zone.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
}

func TestServeDNS(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	runCases(t, h, append(append([]test.Case{}, baseCases...), noZonalCases...))
}

func TestServeDNSZonal(t *testing.T) {
	h, _ := start(t, config{Zonal: true}, fixture()...)
	runCases(t, h, append(append([]test.Case{}, baseCases...), zonalCases...))
}

func TestEndpointPodNames(t *testing.T) {
	h, _ := start(t, config{PodNames: true}, fixture()...)
	runCases(t, h, []test.Case{
		// a hostname still wins; without one the target pod's name is used
		{Qname: h0, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.A(h0 + "	5	IN	A	172.0.0.1")}},
		{Qname: "hdls-pod-3.hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.A("hdls-pod-3.hdls.testns.svc.cluster.local.	5	IN	A	172.0.0.3"),
		}},
		{Qname: h3, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "3.0.0.172.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.PTR("3.0.0.172.in-addr.arpa.	5	IN	PTR	hdls-pod-3.hdls.testns.svc.cluster.local."),
		}},
	})
}

func TestTTLNamespacesLabels(t *testing.T) {
	objs := append(fixture(), headlessSvc("testns", "labelled", map[string]string{"dns": "yes"}),
		slice("testns", "labelled-a", "labelled", discovery.AddressTypeIPv4, "", http80, ep{IP: "172.0.9.1"}))
	h, _ := start(t, config{TTL: 30, Namespaces: []string{"testns"}, Labels: "dns=yes", Selector: labels.SelectorFromSet(labels.Set{"dns": "yes"})}, objs...)
	runCases(t, h, []test.Case{
		{Qname: "labelled.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.A("labelled.testns.svc.cluster.local.	30	IN	A	172.0.9.1"),
		}},
		// not selected by the labels: not ours
		{Qname: "hdls.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
		// namespace not watched
		{Qname: "noports.other.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
		{Qname: "nope.labelled.testns.svc.cluster.local.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{
			test.SOA("cluster.local.	30	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 30"),
		}},
	})
}

// The same cases hold when the objects come from a manifest file.
func TestServeDNSManifests(t *testing.T) {
	path := writeFixtureManifest(t)
	h := newHeadless([]string{"cluster.local.", "in-addr.arpa.", "ip6.arpa."}, config{TTL: 5, StartupTimeout: 10e9, Manifests: []string{path}})
	if err := h.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.OnShutdown() })
	if !h.Ready() {
		t.Fatal("not ready")
	}
	runCases(t, h, append(append([]test.Case{}, baseCases...), noZonalCases...))
}

func writeFixtureManifest(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, o := range fixture() {
		b.WriteString("---\n")
		b.WriteString(toYAML(t, o))
	}
	path := filepath.Join(t.TempDir(), "cluster.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Changes reach answers: a pod turning not-ready, scale-up, slice and
// Service deletion, and nothing stale is left in the index.
func TestUpdates(t *testing.T) {
	h, client := start(t, config{}, fixture()...)
	ctx := context.Background()
	slices := client.DiscoveryV1().EndpointSlices("testns")

	// web-0 turns not-ready
	s := slice("testns", "hdls-a", "hdls", discovery.AddressTypeIPv4, "", http80,
		ep{IP: "172.0.0.1", Host: "web-0", NotReady: true}, ep{IP: "172.0.0.2", Host: "web-1"})
	if _, err := slices.Update(ctx, s, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-0 gone", func() bool { return query(h, h0, dns.TypeA).Rcode == dns.RcodeNameError })
	if m := query(h, "1.0.0.172.in-addr.arpa.", dns.TypePTR); m.Rcode != nextRcode && len(m.Answer) != 0 {
		t.Errorf("PTR of a not-ready address still answered: %v", m)
	}
	// scale up: web-3 appears
	s = slice("testns", "hdls-b", "hdls", discovery.AddressTypeIPv4, "", http80, ep{IP: "172.0.0.4", Host: "web-3"})
	if _, err := slices.Create(ctx, s, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "web-3", func() bool { return len(query(h, "web-3.hdls.testns.svc.cluster.local.", dns.TypeA).Answer) == 1 })

	// delete the Service: every name passes on, PTRs too
	if err := client.CoreV1().Services("testns").Delete(ctx, "hdls", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	h.Next = test.NextHandler(nextRcode, nil)
	waitFor(t, "hdls gone", func() bool { return query(h, "hdls.testns.svc.cluster.local.", dns.TypeA) == nil })
	if m := query(h, "4.0.0.172.in-addr.arpa.", dns.TypePTR); m != nil {
		t.Errorf("PTR of a deleted Service still answered: %v", m)
	}
	// delete the remaining slices of ext: the Service stays, with no endpoints
	for _, n := range []string{"ext-1", "ext-2"} {
		if err := slices.Delete(ctx, n, meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "ext empty", func() bool {
		m := query(h, "ext.testns.svc.cluster.local.", dns.TypeA)
		return m != nil && m.Rcode == dns.RcodeNameError
	})
	for _, k := range []string{"hdls.testns", "ext.testns"} {
		held := h.index.Holding(k)
		if held.PTRs > 0 {
			t.Errorf("stale PTRs for %s: %d", k, held.PTRs)
		}
		if held.Built > 0 || (k == "hdls.testns" && held.Built >= 0) {
			t.Errorf("builder still remembers %s: %d slices", k, held.Built)
		}
	}
	if held := h.index.Holding("ext.testns"); held.Slices > 0 {
		t.Errorf("stale slices for ext.testns: %d", held.Slices)
	}
}

// forbiddenSource fails the watches of some resources, as a missing RBAC
// rule does.
type forbiddenSource struct {
	watch.Source
	forbid string
}

func (s forbiddenSource) ListerWatcher(w watch.Spec) cache.ListerWatcher {
	if w.Resource != s.forbid {
		return s.Source.ListerWatcher(w)
	}
	err := apierrors.NewForbidden(schema.GroupResource{Resource: w.Resource}, "", errors.New("RBAC: no rule"))
	return &cache.ListWatch{
		ListWithContextFunc:  func(context.Context, meta.ListOptions) (runtime.Object, error) { return nil, err },
		WatchFuncWithContext: func(context.Context, meta.ListOptions) (kwatch.Interface, error) { return nil, err },
	}
}

// startForbidden starts a plugin whose watches of resource fail.
func startForbidden(t *testing.T, resource string, timeout, staleAfter time.Duration) *Headless {
	client := fake.NewClientset(fixture()...)
	h := newHeadless([]string{"cluster.local.", "in-addr.arpa."}, config{TTL: 5, StartupTimeout: timeout})
	h.newSource = func() (watch.Source, error) { return forbiddenSource{watch.FromClient(client), resource}, nil }
	h.watchOpts.StaleAfter = staleAfter
	if err := h.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.OnShutdown() })
	h.Next = test.NextHandler(nextRcode, nil)
	return h
}

func rcodeOf(h *Headless, name string) int {
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	rc, _ := h.ServeDNS(context.Background(), w, m)
	if w.Msg != nil {
		return w.Msg.Rcode
	}
	return rc
}

// badSlice is a slice of another manager with whatever ports and raw endpoints.
func badSlice(name string, t discovery.AddressType, ports []discovery.EndpointPort, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	return &discovery.EndpointSlice{
		ObjectMeta: meta.ObjectMeta{Namespace: "bad", Name: name, ResourceVersion: "7",
			Labels: map[string]string{discovery.LabelServiceName: "db", discovery.LabelManagedBy: "example.com/hand"}},
		AddressType: t, Ports: ports, Endpoints: eps,
	}
}

func port(name string, proto *core.Protocol, n *int32) discovery.EndpointPort {
	return discovery.EndpointPort{Name: &name, Protocol: proto, Port: n}
}

func ptr[T any](v T) *T { return &v }

func endpoint(host string, addrs ...string) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: addrs}
	if host != "" {
		e.Hostname = &host
	}
	return e
}

// Data the API server would reject (arriving by manifests or another
// manager) is skipped and counted; everything valid beside it still answers,
// and no reply is ever lost.
func TestInvalidDataNeverCostsAnAnswer(t *testing.T) {
	tcp := ptr(core.ProtocolTCP)
	long := strings.Repeat("a", 70)
	before := counter(invalidObjects.WithLabelValues("endpointslices", "hostname")) +
		counter(invalidObjects.WithLabelValues("endpointslices", "address")) +
		counter(invalidObjects.WithLabelValues("endpointslices", "port"))
	objs := []runtime.Object{
		headlessSvc("bad", "db", nil),
		headlessSvc("bad", "Upper", nil), // not a DNS-1035 label: never published
		slice("bad", "upper-a", "Upper", discovery.AddressTypeIPv4, "example.com/hand", http80, ep{IP: "10.9.0.1"}),
		badSlice("db-a", discovery.AddressTypeIPv4,
			[]discovery.EndpointPort{
				port("pg", tcp, ptr(int32(5432))),
				port("zero", tcp, ptr(int32(0))),
				port("neg", tcp, ptr(int32(-1))),
				port("big", tcp, ptr(int32(70000))),
				port("noproto", nil, ptr(int32(6432))), // the API defaults TCP
				port("Bad_Name", tcp, ptr(int32(7000))),
			},
			endpoint("db-0", "10.9.1.1"),
			endpoint(long, "10.9.1.2"),              // hostname too long: skipped, not renamed
			endpoint("a.b", "10.9.1.3"),             // dotted hostname
			endpoint("x_y", "10.9.1.4"),             // underscore
			endpoint("", "::ffff:10.3.0.4"),         // IPv4-mapped in an IPv4 slice
			endpoint("lo", "127.0.0.1"),             // loopback: an endpoint may not have it
			endpoint("two", "10.9.1.5", "10.9.1.x"), // one bad address of two
		),
		badSlice("db-6", discovery.AddressTypeIPv6, []discovery.EndpointPort{port("pg", tcp, ptr(int32(5432)))},
			endpoint("ll", "fe80::1%eth0"), endpoint("v6", "fd00::9")),
	}
	h, _ := start(t, config{}, objs...)
	zone := "bad.svc.cluster.local."
	db := "db." + zone
	runCases(t, h, []test.Case{
		{Qname: db, Qtype: dns.TypeA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.A(db + "	5	IN	A	10.9.1.1"), test.A(db + "	5	IN	A	10.9.1.5")}},
		{Qname: db, Qtype: dns.TypeAAAA, Rcode: dns.RcodeSuccess, Answer: []dns.RR{test.AAAA(db + "	5	IN	AAAA	fd00::9")}},
		{Qname: "_noproto._tcp." + db, Qtype: dns.TypeSRV, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.SRV("_noproto._tcp." + db + "	5	IN	SRV	0 50 6432 db-0." + db),
			test.SRV("_noproto._tcp." + db + "	5	IN	SRV	0 50 6432 two." + db),
		}, Extra: []dns.RR{test.A("db-0." + db + "	5	IN	A	10.9.1.1"), test.A("two." + db + "	5	IN	A	10.9.1.5")}},
		{Qname: "_zero._tcp." + db, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "_big._tcp." + db, Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "10-9-1-2." + db, Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
		{Qname: "2.1.9.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
		{Qname: "4.0.3.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: nextRcode},
		{Qname: "upper.bad.svc.cluster.local.", Qtype: dns.TypeA, Rcode: nextRcode},
		{Qname: "1.1.9.10.in-addr.arpa.", Qtype: dns.TypePTR, Rcode: dns.RcodeSuccess, Answer: []dns.RR{
			test.PTR("1.1.9.10.in-addr.arpa.	5	IN	PTR	db-0." + db)}},
	})
	// the whole SRV reply packs (the 70-character label once made it vanish)
	m := query(h, db, dns.TypeSRV)
	if m == nil || len(m.Answer) != 5 {
		t.Fatalf("SRV of db: %v", m)
	}
	if _, err := m.Pack(); err != nil {
		t.Fatalf("SRV reply does not pack: %v", err)
	}
	after := counter(invalidObjects.WithLabelValues("endpointslices", "hostname")) +
		counter(invalidObjects.WithLabelValues("endpointslices", "address")) +
		counter(invalidObjects.WithLabelValues("endpointslices", "port"))
	if after-before < 11 {
		t.Errorf("invalid parts counted: %v, want at least 11", after-before)
	}
}

// failWriter fails every write, as a reply that cannot be packed does.
type failWriter struct{ test.ResponseWriter }

func (*failWriter) WriteMsg(*dns.Msg) error { return errors.New("pack failed") }

// counter reads a counter's value.
func counter(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// The hand-written label check agrees with the validation package.

// With no next plugin a Service watch that has not synced after
// startup_timeout leaves every name SERVFAIL: there is nobody to pass to,
// and passing would answer NXDOMAIN for names that exist.
func TestNoNextPluginNoFalseNXDOMAIN(t *testing.T) {
	h := startForbidden(t, "services", 0, 0)
	h.Next = nil
	for _, name := range []string{svcName, "web-0.hdls.testns.svc.cluster.local.", "1.0.0.172.in-addr.arpa."} {
		if got := rcodeOf(h, name); got != dns.RcodeServerFailure {
			t.Errorf("%s unsynced, no next plugin: rcode %s, want SERVFAIL", name, dns.RcodeToString[got])
		}
	}
	if h.fellBack.Load() {
		t.Error("fell back with no next plugin")
	}
}

// With no next plugin a question outside our zones is REFUSED (written by
// the server), with no error for the log.
func TestNoNextPluginRefusesOthers(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	h.Next = nil
	for _, m := range []*dns.Msg{new(dns.Msg).SetQuestion("example.org.", dns.TypeA), {}} {
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		rc, err := h.ServeDNS(context.Background(), w, m)
		if rc != dns.RcodeRefused || err != nil || w.Msg != nil {
			t.Errorf("%v outside our zones, no next plugin: rcode %s, error %v, reply %v", m.Question, dns.RcodeToString[rc], err, w.Msg)
		}
	}
}

// The stock options a block copies (internal/corefile): their effect on answers.

func TestFallthrough(t *testing.T) {
	cases := []struct {
		zones []string // nil: fallthrough off
		pass  bool     // the NXDOMAIN below the Service passes on
	}{
		{nil, false},
		{[]string{}, true}, // every zone
		{[]string{"cluster.local."}, true},
		{[]string{"example.org."}, false},
	}
	for _, c := range cases {
		cfg := config{}
		if c.zones != nil {
			cfg.Fall.SetZonesFromArgs(c.zones)
		}
		h, _ := start(t, cfg, xfrFixture()...)
		h.Next = test.NextHandler(nextRcode, nil)
		m := query(h, "web-9.web.a.svc.cluster.local.", dns.TypeA)
		if passed := m == nil; passed != c.pass {
			t.Errorf("fallthrough %v: passed %v, want %v (%v)", c.zones, passed, c.pass, m)
		}
		// answers and NODATA never pass
		if m := query(h, "web-0.web.a.svc.cluster.local.", dns.TypeA); m == nil || len(m.Answer) != 1 {
			t.Errorf("fallthrough %v: web-0 not answered: %v", c.zones, m)
		}
		if m := query(h, "web-0.web.a.svc.cluster.local.", dns.TypeTXT); m == nil || m.Rcode != dns.RcodeSuccess {
			t.Errorf("fallthrough %v: NODATA passed or wrong: %v", c.zones, m)
		}
		// with no next plugin, the NXDOMAIN stands
		h.Next = nil
		if m := query(h, "web-9.web.a.svc.cluster.local.", dns.TypeA); m == nil || m.Rcode != dns.RcodeNameError {
			t.Errorf("fallthrough %v without next: %v", c.zones, m)
		}
	}
}

// ptrsOf are the PTR targets answered for a reverse name.
func ptrsOf(h *Headless, name string) []string {
	m := query(h, name, dns.TypePTR)
	if m == nil {
		return nil
	}
	var out []string
	for _, rr := range m.Answer {
		out = append(out, rr.(*dns.PTR).Ptr)
	}
	slices.Sort(out)
	return out
}

func TestSinglePTR(t *testing.T) {
	fixture := []runtime.Object{
		// 10.0.0.1: a StatefulSet member of web (named), also selected by two
		// other headless Services
		headlessSvc("a", "web", nil),
		slice("a", "web-x", "web", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.0.1", Host: "web-0"}),
		slice("a", "web-6", "web", discovery.AddressTypeIPv6, "", http80, ep{IP: "fd00::1", Host: "web-0"}),
		headlessSvc("a", "all", nil),
		slice("a", "all-x", "all", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.0.1"}, ep{IP: "10.0.0.2"}),
		slice("a", "all-6", "all", discovery.AddressTypeIPv6, "", http80, ep{IP: "fd00::1"}),
		headlessSvc("0", "zz", nil),
		slice("0", "zz-x", "zz", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.0.1"}, ep{IP: "10.0.0.2"}),
	}
	for _, single := range []bool{false, true} {
		h, _ := start(t, config{SinglePTR: single}, fixture...)
		h.Next = test.NextHandler(nextRcode, nil)
		got1 := ptrsOf(h, "1.0.0.10.in-addr.arpa.")
		got2 := ptrsOf(h, "2.0.0.10.in-addr.arpa.")
		got6 := ptrsOf(h, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.")
		want1 := []string{"10-0-0-1.all.a.svc.cluster.local.", "10-0-0-1.zz.0.svc.cluster.local.", "web-0.web.a.svc.cluster.local."}
		want2 := []string{"10-0-0-2.all.a.svc.cluster.local.", "10-0-0-2.zz.0.svc.cluster.local."}
		want6 := []string{"fd00--1.all.a.svc.cluster.local.", "web-0.web.a.svc.cluster.local."}
		if single {
			// the named endpoint; else the first Service by namespace ("0" < "a"); each family alone
			want1, want2, want6 = []string{"web-0.web.a.svc.cluster.local."}, []string{"10-0-0-2.zz.0.svc.cluster.local."}, []string{"web-0.web.a.svc.cluster.local."}
		}
		if !slices.Equal(got1, want1) || !slices.Equal(got2, want2) || !slices.Equal(got6, want6) {
			t.Errorf("single_ptr %v: PTRs %q, %q, %q; want %q, %q, %q", single, got1, got2, got6, want1, want2, want6)
		}
		// explain names the winner and those left out
		if single {
			c := h.ptrChoice(netip.MustParseAddr("10.0.0.1"))
			if c == nil {
				t.Fatal("no single_ptr choice for 10.0.0.1")
			}
			slices.Sort(c.LeftOut)
			if c.Answered != "a/web" || !slices.Equal(c.LeftOut, []string{"0/zz", "a/all"}) {
				t.Errorf("choice %+v, want a/web over 0/zz and a/all", c)
			}
			if h.ptrChoice(netip.MustParseAddr("10.0.0.9")) != nil {
				t.Error("a choice for an address nobody publishes")
			}
		}
		// forward names are untouched
		if m := query(h, "10-0-0-1.zz.0.svc.cluster.local.", dns.TypeA); m == nil || len(m.Answer) != 1 {
			t.Errorf("single_ptr %v: forward name changed: %v", single, m)
		}
	}
}

func TestNamespaceLabels(t *testing.T) {
	nsA := &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: "a", Labels: map[string]string{"team": "dns"}}}
	nsB := &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: "b"}}
	sel, _ := labels.Parse("team=dns")
	h, client := start(t, config{NSLabels: "team=dns", NSSelector: sel}, append(xfrFixture(), nsA, nsB)...)
	h.Next = test.NextHandler(nextRcode, nil)
	served := func(name string) bool { m := query(h, name, dns.TypeA); return m != nil && len(m.Answer) > 0 }
	if !served("web.a.svc.cluster.local.") || served("db.b.svc.cluster.local.") {
		t.Fatal("namespace a must be served, b passed on")
	}
	if ptrsOf(h, "1.1.0.10.in-addr.arpa.") != nil {
		t.Error("the PTR of an address of a namespace out of scope is answered")
	}
	ctx := context.Background()
	nsB.Labels = map[string]string{"team": "dns"}
	if _, err := client.CoreV1().Namespaces().Update(ctx, nsB, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b in scope", func() bool { return served("db.b.svc.cluster.local.") })
	nsA.Labels = nil
	if _, err := client.CoreV1().Namespaces().Update(ctx, nsA, meta.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a out of scope", func() bool { return query(h, "web.a.svc.cluster.local.", dns.TypeA) == nil })
	if err := client.CoreV1().Namespaces().Delete(ctx, "b", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b deleted", func() bool { return query(h, "db.b.svc.cluster.local.", dns.TypeA) == nil })
}
