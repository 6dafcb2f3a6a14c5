package headless

import (
	"context"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeDNS: any message the server would hand to plugins gets a
// well-formed reply or is passed on, with the next plugin there and
// without it (manifests alone): the reply echoes the ID, opcode and
// question, is a response, packs and parses back to the same message, and
// its rcode is one this plugin answers with; a query it does not answer is
// passed on, or left for the server to refuse. Nothing panics.
func FuzzServeDNS(f *testing.F) {
	for _, tc := range append(append(baseCases, zonalCases...), noZonalCases...) {
		b, err := tc.Msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	withNext, _ := start(f, config{Zonal: true}, fixture()...)
	withNext.Next = test.NextHandler(nextRcode, nil)
	alone, _ := start(f, config{Zonal: true, NegativeTTL: 0, HasNegTTL: true, Hostnames: true}, fixture()...)
	alone.Next = nil
	f.Fuzz(func(t *testing.T, data []byte, standalone bool) {
		r := new(dns.Msg)
		if err := r.Unpack(data); err != nil {
			return // the server drops what it cannot parse before plugins see it
		}
		h := withNext
		if standalone {
			h = alone
		}
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		rcode, err := h.ServeDNS(context.Background(), w, r)
		if w.Msg == nil {
			// not written: passed on, or refused for the server to write
			if (rcode == nextRcode && !standalone) || (rcode == dns.RcodeRefused && err == nil) {
				return
			}
			t.Fatalf("no reply: rcode %s, err %v", dns.RcodeToString[rcode], err)
		}
		if err != nil {
			t.Fatalf("reply written and error %v", err)
		}
		checkReply(t, r, w.Msg)
	})
}

// checkReply fails unless m is a well-formed reply to r.
func checkReply(t *testing.T, r, m *dns.Msg) {
	t.Helper()
	if m.Id != r.Id || !m.Response || m.Opcode != r.Opcode {
		t.Fatalf("reply header does not match the query: id %d/%d response %v opcode %d/%d", m.Id, r.Id, m.Response, m.Opcode, r.Opcode)
	}
	if len(m.Question) != len(r.Question) || (len(r.Question) > 0 && m.Question[0] != r.Question[0]) {
		t.Fatalf("question not echoed: %v, asked %v", m.Question, r.Question)
	}
	switch m.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeServerFailure, dns.RcodeRefused:
	default:
		t.Fatalf("rcode %s", dns.RcodeToString[m.Rcode])
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatalf("reply does not pack: %v", err)
	}
	back := new(dns.Msg)
	if err := back.Unpack(b); err != nil {
		t.Fatalf("reply does not parse: %v", err)
	}
	if back.Rcode != m.Rcode || len(back.Answer) != len(m.Answer) || len(back.Ns) != len(m.Ns) {
		t.Fatalf("reply changed through the wire: %v\nbecame %v", m, back)
	}
	if m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError {
		if !m.Authoritative {
			t.Fatalf("an answer that is not authoritative: %v", m)
		}
		if len(m.Answer) == 0 && (len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA) {
			t.Fatalf("a negative answer without its SOA: %v", m)
		}
	}
	for _, rr := range m.Answer {
		if len(r.Question) == 1 && !strings.EqualFold(rr.Header().Name, r.Question[0].Name) && rr.Header().Rrtype != dns.TypeCNAME {
			t.Fatalf("answer record %v not for the question %v", rr, r.Question[0])
		}
	}
}

// FuzzParse: any Corefile text is accepted, or refused with an error that
// names the Corefile line; parsing it again gives the same verdict, and
// what is accepted is a usable configuration (zones that are lowercase
// FQDNs, at least one forward zone, bounds held). Nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"headless", "headless cluster.local 10.0.0.0/8 {\n ttl 30\n zonal\n}",
		"headless {\n labels app in (a, b)\n namespaces x y\n startup_timeout 1s\n}",
		"headless {\n endpoint https://127.0.0.1:6443\n endpoint_pod_names\n}",
		"headless {\n ttl\n}", "headless {\n manifests x\n}", "headless\nheadless",
		"headless {\n publish_not_ready hostnames\n negative_ttl 0\n topology\n max_answers 8\n}",
		"headless cluster.local svc.cluster.local", "headless 10.0.0.0/33",
	} {
		f.Add(s)
	}
	parseOnce := func(input string) (*Headless, error) {
		c := caddy.NewTestController("dns", input)
		c.ServerBlockKeys = []string{"cluster.local.", "in-addr.arpa."}
		return parse(c)
	}
	f.Fuzz(func(t *testing.T, input string) {
		h, err := parseOnce(input)
		h2, err2 := parseOnce(input)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("two verdicts: %v, then %v", err, err2)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "Testfile:") {
				t.Fatalf("error without its line: %v", err)
			}
			return
		}
		if h == nil || h2 == nil {
			t.Fatal("no plugin and no error")
		}
		fwd := 0
		for _, z := range h.zones {
			if z.name != strings.ToLower(z.name) || !dns.IsFqdn(z.name) {
				t.Fatalf("zone %q", z.name)
			}
			if !z.reverse {
				fwd++
			}
		}
		if fwd == 0 {
			t.Fatalf("accepted without a forward zone: %+v", h.zones)
		}
		if c := h.cfg; c.TTL > 3600 || c.MaxAnswers > 4096 || c.NegativeTTL > 3600 || c.StartupTimeout < 0 {
			t.Fatalf("bounds not held: %+v", c)
		}
	})
}
