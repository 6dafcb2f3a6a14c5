package headless

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/names"
	"github.com/miekg/dns"
)

// ServeDNS implements plugin.Handler. It is a lookup in the published index
// and a write: no scan, and no lock but when the query is the first read
// after a change was taken in (the index then publishes it first).
func (h *Headless) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	z, res, how := h.resolveQuestion(r)
	switch {
	case z == nil:
		return h.notOurs(ctx, w, r)
	case how == isXfr:
		if h.Next == nil {
			return dns.RcodeRefused, nil // as stock: the server answers REFUSED, nothing logged
		}
		return h.pass(ctx, w, r, z)
	case res.out == pass:
		if h.serialMerge && how == atApex {
			w = &serialWriter{ResponseWriter: w, h: h}
		}
		return h.pass(ctx, w, r, z)
	case res.behind && h.Next != nil:
		return h.ptrBehind(ctx, w, r, z, res)
	}
	var o orderer
	if h.cfg.Topology {
		o = ordererOf(ctx)
	}
	return h.reply(o, w, r, z, res)
}

// What resolveQuestion found besides the result.
const (
	isXfr  = 1 + iota // AXFR or IXFR: not resolved
	atApex            // the name is the zone's apex
)

// resolveQuestion reads r's question and resolves it: z nil when it is not
// one question in our zones; a fallthrough NXDOMAIN comes back as pass. A
// function of its own so that the parsed question lives in its stack frame
// and not in ServeDNS's, which is below the packing of the reply: each byte
// of frame there is paid by every query's goroutine (front.go).
//
//go:noinline
func (h *Headless) resolveQuestion(r *dns.Msg) (z *zone, res result, how int) {
	var q question
	if !h.question(r, &q) || q.z == nil {
		return nil, res, 0
	}
	if q.qtype == dns.TypeAXFR || q.qtype == dns.TypeIXFR {
		return q.z, res, isXfr
	}
	res = h.resolve(&q)
	if res.out == nxdomain && h.fallsThrough(q.name) {
		res.out = pass
	}
	if q.name == q.z.name {
		how = atApex
	}
	return q.z, res, how
}

// question is a query's one question as the grammar reads it: worked out
// once by each step (the front step, headless) and handed to everything in
// it that needs it (resolve, reply, negative replacement, explain).
type question struct {
	name  string // lowercase FQDN
	qtype uint16
	z     *zone         // the longest of our zones it is in; nil: none
	rev   bool          // a reverse name (in-addr.arpa, ip6.arpa)
	fwd   names.Forward // a forward name in z: the name parsed
}

// question reads r's question into q; false unless r has exactly one.
func (h *Headless) question(r *dns.Msg, q *question) bool {
	if len(r.Question) != 1 {
		return false
	}
	h.read(q, strings.ToLower(r.Question[0].Name), r.Question[0].Qtype)
	return true
}

// read reads a question of a lowercase name into q.
func (h *Headless) read(q *question, name string, qtype uint16) {
	q.name, q.qtype, q.z = name, qtype, h.matchZone(name)
	if q.z == nil {
		return
	}
	if q.rev = names.IsReverse(name); !q.rev {
		q.fwd = names.ParseForward(name, len(q.z.name), h.cfg.Zonal && !q.z.set, q.z.set)
	}
}

// ask is the question of a lowercase name (off the query path).
func (h *Headless) ask(name string, qtype uint16) *question {
	q := &question{}
	h.read(q, name, qtype)
	return q
}

// notOurs passes a question outside our zones on; with no next plugin it is
// REFUSED (the server writes it), without an error for the log: a flood of
// such queries must not flood the log.
func (h *Headless) notOurs(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if h.Next == nil {
		return dns.RcodeRefused, nil
	}
	return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
}

// matchZone returns the longest zone that the lowercase name is in, or nil.
// A label-boundary suffix check: no allocation per query.
func (h *Headless) matchZone(name string) *zone {
	var best *zone
	for i := range h.zones {
		z := &h.zones[i]
		if names.InZone(name, z.name) && (best == nil || len(z.name) > len(best.name)) {
			best = z
		}
	}
	return best
}

// pass hands a name in our zone to the next plugin; with none, NXDOMAIN.
func (h *Headless) pass(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone) (int, error) {
	if h.Next == nil {
		return h.reply(nil, w, r, z, result{out: nxdomain})
	}
	reqPass.Inc()
	return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
}

// fallsThrough reports whether a negative answer for name is passed to the
// next plugin (fallthrough [ZONES...]).
func (h *Headless) fallsThrough(name string) bool {
	return h.Next != nil && h.cfg.Fall.Through(name)
}
