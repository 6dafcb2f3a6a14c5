package headless

import (
	"context"
	"slices"

	"github.com/miekg/dns"
)

// Negative answers that do not stick (negative_ttl, headless.dns/negative-ttl).
// The SOA of a negative answer below such a Service lets client caches hold
// it at most N seconds (reply.go). CoreDNS's cache holds a denial at least
// its MINTTL whatever the SOA says, so the front step, ahead of cache, looks
// at every negative reply for a name below such a Service: when the index
// now has the name, the reply is no longer true and the index answers
// instead. A member created after a peer asked for it then resolves as soon
// as its endpoint reaches us, through any cache in the block.

// recheckWriter wraps w in fq's recheck writer when a negative reply may
// have to be replaced or clamped: some Service (or the Corefile) sets a
// negative TTL (on).
func (fq *frontQuery) recheckWriter(ctx context.Context, h *Headless, w dns.ResponseWriter, on bool) dns.ResponseWriter {
	if !on {
		return w
	}
	fq.rw = recheckWriter{ResponseWriter: w, ctx: ctx, h: h, fq: fq}
	return &fq.rw
}

// recheckWriter replaces a negative reply that the index contradicts.
type recheckWriter struct {
	dns.ResponseWriter
	ctx context.Context
	h   *Headless
	fq  *frontQuery
}

func (w *recheckWriter) WriteMsg(m *dns.Msg) error {
	if m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0) {
		q := w.fq.question(w.h)
		if q.z == nil {
			return w.ResponseWriter.WriteMsg(m)
		}
		replaced, n, err := w.h.answerAnew(w.ctx, w.ResponseWriter, w.fq.req, q)
		if replaced {
			return err
		}
		if n >= 0 {
			m = clampNegative(m, uint32(n))
		}
	}
	return w.ResponseWriter.WriteMsg(m)
}

// clampNegative is m with the TTL of its authority records at most n: a
// copy when one is higher (cache may hold m's records).
func clampNegative(m *dns.Msg, n uint32) *dns.Msg {
	i := slices.IndexFunc(m.Ns, func(rr dns.RR) bool { return rr.Header().Ttl > n })
	if i < 0 {
		return m
	}
	c := *m
	c.Ns = make([]dns.RR, len(m.Ns))
	for j, rr := range m.Ns {
		if rr.Header().Ttl > n {
			rr = dns.Copy(rr)
			rr.Header().Ttl = n
		}
		c.Ns[j] = rr
	}
	return &c
}

// answerAnew writes the index's answer to r when it has records for the
// question's name and the name is below a Service with a negative TTL:
// replaced false when it wrote nothing (the negative reply stands). n is
// the negative TTL of the name when the index denies it too (-1: none, or
// not ours to deny).
func (h *Headless) answerAnew(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, q *question) (replaced bool, n int32, err error) {
	z := q.z
	res := h.resolve(q)
	if res.out != answer && res.out != nodata && res.out != nxdomain {
		return false, -1, nil
	}
	svc := res.svc
	if res.ptr != nil && svc == nil {
		if recs := z.ix.Service(res.ptr.ServiceKey()); recs != nil && !res.behind {
			svc = recs.Service()
		}
	}
	n = h.negativeTTL(svc)
	if n < 0 || res.out != answer || !hasType(res, q.qtype, z) {
		return false, n, nil
	}
	staleNegatives.Inc()
	_, err = h.reply(ordererOf(ctx), w, r, z, res)
	return true, n, err
}

// hasType reports whether a resolved answer has records of type qtype.
func hasType(res result, qtype uint16, z *zone) bool {
	if res.ptr != nil {
		return qtype == dns.TypePTR
	}
	switch qtype {
	case dns.TypeA:
		return len(res.set.A()) > 0
	case dns.TypeAAAA:
		return len(res.set.AAAA()) > 0
	case dns.TypeSRV:
		srv, _, _ := res.set.SRV(z.fwd)
		return len(srv) > 0
	}
	return false
}
