package headless

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
)

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
		slice("bad", "upper-a", "Upper", discovery.AddressTypeIPv4, "example.com/hand", http80, ep{ip: "10.9.0.1"}),
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

// A reply that cannot be written is reported to the server, which answers
// SERVFAIL (and the errors plugin logs it): never silence.
func TestWriteFailureIsServfail(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	m := new(dns.Msg)
	m.SetQuestion(svcName, dns.TypeA)
	rc, err := h.ServeDNS(context.Background(), &failWriter{}, m)
	if rc != dns.RcodeServerFailure || err == nil {
		t.Fatalf("write failure: rcode %d err %v, want SERVFAIL and an error", rc, err)
	}
}

// counter reads a counter's value.
func counter(c interface{ Write(*dto.Metric) error }) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	return m.GetCounter().GetValue()
}

// The hand-written label check agrees with the validation package.
func TestIsDNS1123Label(t *testing.T) {
	cases := []string{"", "a", "web-0", "-a", "a-", "A", "a.b", "a_b", "0", "a--b", strings.Repeat("a", 63), strings.Repeat("a", 64), "é", "a b", "9-9"}
	for _, s := range cases {
		want := len(validation.IsDNS1123Label(s)) == 0
		if got := isDNS1123Label(s); got != want {
			t.Errorf("%q: %v, validation package says %v", s, got, want)
		}
		if got := validLabel(s) == ""; got != want {
			t.Errorf("validLabel(%q) valid %v, want %v", s, got, want)
		}
	}
}
