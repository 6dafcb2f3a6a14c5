package headless

import (
	"context"
	"testing"

	"github.com/miekg/dns"
)

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

// A reply must never share records with the index: later plugins may change them.
func TestAnswersAreCopies(t *testing.T) {
	h, _ := start(t, config{}, fixture()...)
	m := query(h, "hdls.testns.svc.cluster.local.", dns.TypeSRV)
	for _, rr := range append(m.Answer, m.Extra...) {
		rr.Header().Name = "mutated."
		rr.Header().Ttl = 999
	}
	runCases(t, h, baseCases[6:7])
}
