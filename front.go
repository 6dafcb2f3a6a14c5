package headless

import (
	"context"
	"net"
	"net/netip"
	"slices"

	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/miekg/dns"
)

// front is the per-client step of a headless stanza: topology order and
// answer caps. It must see every reply, also those that cache answers and
// loadbalance shuffles, so setup places it at the front of the server
// block's plugin chain (ahead of cache and loadbalance) when it adds
// headless itself: one directive, one plugin.cfg line. It shares the index
// with headless and touches only replies for headless Service names.
type front struct {
	h    *Headless
	next plugin.Handler
	// presort lets headless write a Service's answer in the client's order
	// itself. Only in blocks without cache: cache would keep that order and
	// hand it to clients the step leaves alone (unknown ones).
	presort bool
}

// frontName is the front step's name in the plugin chain (its own, so that
// headless stays the handler registered as "headless").
const frontName = "headless_client"

// Name implements plugin.Handler.
func (f *front) Name() string { return frontName }

// ServeDNS implements plugin.Handler: it wraps the writer of the queries
// whose replies it may shape and passes every query on. The plan is made
// before the reply exists and travels down in ctx, so that headless can
// write the Service's answer in this client's order straight away when
// nothing between the two reorders it (the front step then only checks).
//
// The reply is held and shaped and written here, once the plugins below
// have returned: packing then runs on a shallow stack. (Written where it
// arrives, deep in the chain, it grew the goroutine's stack once more per
// query, and copying stacks cost more than the shaping itself.) CoreDNS
// plugins write before they return (their rcode tells the server whether
// they did), so nothing waits on the held write.
//
// Its frame stays below every plugin of the chain while they serve the
// query, and every byte of it is paid by every query's goroutine (a stack
// that grows is copied): what it works out before passing the query on is
// worked out in prepare, whose frame is gone by then.
func (f *front) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	w, cw := f.prepare(ctx, w, r)
	if cw == nil {
		return plugin.NextOrFailure(f.Name(), f.next, ctx, w, r)
	}
	if f.presort {
		ctx = cw // prepare made it the query's context
	}
	rc, err := plugin.NextOrFailure(f.Name(), f.next, ctx, w, r)
	werr := cw.flush()
	sc := cw.sc
	cw.sc, cw.done, cw.pre = nil, true, presorted{} // pre.order is sc's
	topology.PutScratch(sc)
	if werr != nil && err == nil {
		return dns.RcodeServerFailure, plugin.Error(frontName, werr)
	}
	return rc, err
}

// frontQuery is what the front step keeps of one query while the plugins
// below serve it: the question, read once (and only when a reply needs it,
// unless the plan needs it first), and the writers that read it. One
// allocation, and none of it on the frame that stays below the chain.
type frontQuery struct {
	q      question // z nil: not one question in our zones
	req    *dns.Msg
	unread bool // q is still to be read from req
	ew     explainWriter
	rw     recheckWriter
}

// question is the query's question, read on first use.
func (fq *frontQuery) question(h *Headless) *question {
	if fq.unread {
		h.question(fq.req, &fq.q)
		fq.unread = false
	}
	return &fq.q
}

// prepare wraps the writer of a query as the steps that are on need it:
// explain's EDE, the client's plan (cw, nil: none; the writer returned
// is then cw's recheck wrapper, and a replaced negative reply is shaped
// too), the recheck of negative replies. The question is read once, for
// all of them: at once when the plan needs it, else by the first reply
// that does (a negative one); with none of them on, nothing is read.
//
//go:noinline
func (f *front) prepare(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (dns.ResponseWriter, *clientWriter) {
	h := f.h
	recheck := h.cfg.HasNegTTL || h.index.Policies().NegativeTTL || h.mc != nil && h.mc.index.Policies().NegativeTTL
	if !h.mayShape() {
		explain := h.explain != nil && r.IsEdns0() != nil
		if !explain && !recheck || len(r.Question) != 1 {
			return w, nil
		}
		fq := &frontQuery{req: r, unread: true}
		return fq.recheckWriter(ctx, h, fq.explainWriter(h, w), recheck), nil
	}
	if h.explain == nil && !recheck { // shaping alone: nothing keeps the question
		var q question
		h.question(r, &q)
		if key, ok := h.shapes(&q); ok {
			if cw := h.plan(w, r, q.z.ix, key); cw != nil {
				f.planned(ctx, cw)
				return cw, cw
			}
		}
		return w, nil
	}
	fq := &frontQuery{req: r}
	h.question(r, &fq.q)
	if fq.q.z == nil {
		return w, nil // not ours: nothing to explain, shape or recheck
	}
	w = fq.explainWriter(h, w)
	var cw *clientWriter
	if key, ok := h.shapes(&fq.q); ok {
		cw = h.plan(w, r, fq.q.z.ix, key)
	}
	if cw == nil {
		return fq.recheckWriter(ctx, h, w, recheck), nil
	}
	return fq.recheckWriter(f.planned(ctx, cw), h, cw, recheck), cw
}

// planned readies a plan for the chain: its scratch, and with presort the
// plan as the query's context (returned).
func (f *front) planned(ctx context.Context, cw *clientWriter) context.Context {
	cw.sc = topology.GetScratch()
	if f.presort {
		cw.Context = ctx
		return cw
	}
	return ctx
}

// mayShape reports whether replies may need per-client work: topology or a
// cap is configured.
func (h *Headless) mayShape() bool {
	return h.cfg.Topology || h.cfg.MaxAnswers > 0 || h.index.Policies().Capped || h.mc != nil && h.mc.index.Policies().Capped
}

// shapes reports whether the reply to q may need per-client work: an A,
// AAAA or SRV question for a name below a Service in our forward zones,
// while mayShape. It returns the Service's key.
func (h *Headless) shapes(q *question) (string, bool) {
	if q.z == nil || q.z.reverse || !h.mayShape() {
		return "", false
	}
	switch q.qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeSRV:
		return q.fwd.Service, q.fwd.Kind == names.Service
	}
	return "", false
}

// planKey is the ctx key of the query's clientWriter.
type planKey struct{}

// Value implements context.Context.
func (w *clientWriter) Value(key any) any {
	if key == (planKey{}) {
		return w
	}
	return w.Context.Value(key)
}

// ordererOf is the front step's plan for the query ctx belongs to, when it
// presorts (nil: none).
func ordererOf(ctx context.Context) orderer {
	if cw, ok := ctx.Value(planKey{}).(*clientWriter); ok {
		return cw
	}
	return nil
}

// clientWriter shapes the reply on its way out. It is also the query's
// context on its way down (when headless may presort), carrying itself
// under planKey: one allocation instead of two.
type clientWriter struct {
	context.Context
	dns.ResponseWriter
	req  *dns.Msg
	recs *index.Records // the Service the question names, as published when asked
	s    topology.Shaping
	sc   *topology.Scratch // working memory while the query is served
	pre  presorted
	held *dns.Msg // the reply, until the plugins below return
	done bool     // the front step has returned: write at once
}

// presorted is an answer headless wrote in the client's order: its records
// in that order and where each rank's group ends.
type presorted struct {
	order []dns.RR
	ends  topology.Ends
	ok    bool
}

// plan works out the policy of the Service key names for this client: nil
// when the reply needs nothing (not a Service of ours, or neither order nor
// cap applies to it).
func (h *Headless) plan(w dns.ResponseWriter, req *dns.Msg, ix *index.Index, key string) *clientWriter {
	recs := ix.Service(key)
	if recs == nil {
		return nil // not ours (the next plugin answers it)
	}
	pol := recs.Service().Policy
	var s topology.Shaping
	if h.cfg.Topology {
		s.Mode = pol.Traffic
		if s.Mode == object.TrafficUnset {
			s.Mode = h.cfg.DefaultMode
		}
	}
	limit := h.cfg.MaxAnswers
	if pol.MaxAnswers >= 0 {
		limit = int(pol.MaxAnswers)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp && limit > 0 {
		s.Limit, s.Size = limit, topology.UDPSize(req)
	}
	if s.Mode == object.TrafficUnset && s.Limit == 0 {
		return nil
	}
	if s.Mode != object.TrafficUnset {
		s.Client, s.Loc = h.locate(topology.ClientAddr(w.RemoteAddr())), recs
	}
	return &clientWriter{ResponseWriter: w, req: req, recs: recs, s: s}
}

// WriteMsg implements dns.ResponseWriter: the reply is held until the
// plugins below return (see ServeDNS); written at once when it comes later.
func (w *clientWriter) WriteMsg(m *dns.Msg) error {
	if w.done {
		w.sc = &topology.Scratch{}
		defer func() { w.sc = nil }()
		w.held = m
		return w.flush()
	}
	if w.held != nil { // a second reply: the first goes out first
		if err := w.flush(); err != nil {
			return err
		}
	}
	w.held = m
	return nil
}

// Write implements dns.ResponseWriter: raw bytes go out as they come, after
// any held reply.
func (w *clientWriter) Write(b []byte) (int, error) {
	if err := w.flush(); err != nil {
		return 0, err
	}
	return w.ResponseWriter.Write(b)
}

// flush shapes and writes the held reply, if any. The shaped sections are
// new slices (a writer below may keep m, e.g. DoH packs later; cache may
// hold the old ones: they are never written to).
func (w *clientWriter) flush() error {
	m := w.held
	if m == nil {
		return nil
	}
	w.held = nil
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 && len(w.req.Question) == 1 {
		s := w.s
		if s.Limit > 0 {
			s.Turn = w.recs.NextTurn()
		}
		var pre *topology.Ends
		if w.pre.ok && slices.Equal(m.Answer, w.pre.order) { // the same records, in the same order
			pre = &w.pre.ends
		}
		count(topology.ShapeWith(m, s, w.sc, pre))
	}
	return w.ResponseWriter.WriteMsg(m)
}

// count records a shaped reply in the metrics.
func count(match string, capped bool) {
	switch match {
	case topology.MatchNode:
		topoNode.Inc()
	case topology.MatchZone:
		topoZone.Inc()
	case topology.MatchNone:
		topoNone.Inc()
	}
	if capped {
		cappedReplies.Inc()
	}
}

// locate finds where a client runs: the client_zones table, then the Nodes
// (their addresses, then their pod CIDRs), then the endpoints of published
// Services. Unknown: the zero topology.ClientLoc (answers keep stock order).
func (h *Headless) locate(a netip.Addr) topology.ClientLoc {
	if !a.IsValid() {
		return topology.ClientLoc{}
	}
	if loc, ok := h.cfg.ClientZones.Lookup(a); ok {
		return loc
	}
	if loc, ok := h.nodes.Lookup(a); ok {
		return loc
	}
	if l := h.index.EndpointLoc(a); l != nil {
		return topology.ClientLoc{Node: l.Node, Zone: l.Zone}
	}
	return topology.ClientLoc{}
}

// presortedAnswer writes the A or AAAA answer of the Service name in the
// client's topology order when the front step planned one for this query
// (copies, as copyRRs makes, placed by rank). It remembers what it wrote so
// that the front step can tell whether anything reordered it since.
func (cw *clientWriter) presortedAnswer(set *index.RRSet, qtype uint16, name string) ([]dns.RR, bool) {
	if (qtype != dns.TypeA && qtype != dns.TypeAAAA) || !cw.s.Ordered() || cw.sc == nil || cw.recs.Name("") != set {
		return nil, false
	}
	sc := cw.sc
	ranks := index.Ranks(cw.recs, cw.s.RankKey(qtype), qtype, func(locs []*object.Loc) []uint8 { return cw.s.RankLocs(locs, sc) })
	var out []dns.RR
	var ends topology.Ends
	if qtype == dns.TypeA {
		out, ends = topology.Place(set.A(), ranks, name)
	} else {
		out, ends = topology.Place(set.AAAA(), ranks, name)
	}
	cw.pre = presorted{order: sc.Keep(out), ends: ends, ok: true}
	return out, true
}
