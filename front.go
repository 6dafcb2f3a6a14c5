package headless

import (
	"context"
	"net"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/plugin"
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
}

// frontName is the front step's name in the plugin chain (its own, so that
// headless stays the handler registered as "headless").
const frontName = "headless_client"

// Name implements plugin.Handler.
func (f *front) Name() string { return frontName }

// ServeDNS implements plugin.Handler: it wraps the writer of the queries
// whose replies it may shape and passes every query on.
func (f *front) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if key, ok := f.h.mayShape(r); ok {
		w = &clientWriter{ResponseWriter: w, h: f.h, req: r, service: key}
	}
	return plugin.NextOrFailure(f.Name(), f.next, ctx, w, r)
}

// mayShape reports whether r's reply may need per-client work: an A, AAAA
// or SRV question for a name below a Service in our forward zones, while
// topology or a cap is configured. It returns the Service's key.
func (h *Headless) mayShape(r *dns.Msg) (string, bool) {
	if !h.cfg.topology && h.cfg.maxAnswers == 0 && h.index.capped.Load() == 0 {
		return "", false
	}
	if len(r.Question) != 1 {
		return "", false
	}
	switch r.Question[0].Qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeSRV:
	default:
		return "", false
	}
	name := strings.ToLower(r.Question[0].Name)
	z := h.matchZone(name)
	if z == nil || z.reverse {
		return "", false
	}
	n := parseForward(name, len(z.name), h.index.Zonal())
	return n.service, n.kind == nameService
}

// clientWriter shapes the reply on its way out.
type clientWriter struct {
	dns.ResponseWriter
	h       *Headless
	req     *dns.Msg
	service string // key of the Service the question names
}

// WriteMsg implements dns.ResponseWriter. The shaped sections are new
// slices (a writer below may keep m, e.g. DoH packs later; cache may hold
// the old ones: they are never written to).
func (w *clientWriter) WriteMsg(m *dns.Msg) error {
	if m.Rcode == dns.RcodeSuccess && len(m.Answer) > 0 && len(w.req.Question) == 1 {
		sc := scratchPool.Get().(*scratch)
		w.h.shapeReply(w.ResponseWriter, w.service, w.req, m, sc)
		sc.ordered, sc.chosen = nil, nil // now m's: never reused
		scratchPool.Put(sc)
	}
	return w.ResponseWriter.WriteMsg(m)
}

// shapeReply applies the policy of the Service the question names.
func (h *Headless) shapeReply(w dns.ResponseWriter, service string, req, m *dns.Msg, sc *scratch) {
	recs := h.index.Service(service)
	if recs == nil {
		return // not ours (the next plugin answered it)
	}
	pol := recs.svc.Policy
	var s shaping
	if h.cfg.topology {
		s.mode = pol.traffic
		if s.mode == trafficUnset {
			s.mode = h.cfg.defaultMode
		}
	}
	limit := h.cfg.maxAnswers
	if pol.maxAnswers >= 0 {
		limit = int(pol.maxAnswers)
	}
	client := addrOf(w.RemoteAddr())
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp && limit > 0 {
		s.limit, s.size = limit, udpSize(req)
	}
	if s.mode == trafficUnset && s.limit == 0 {
		return
	}
	if s.mode != trafficUnset {
		s.client, s.loc = h.locate(client), recs.Loc
	}
	if s.limit > 0 {
		s.turn = uint64(recs.turn.Add(1) - 1)
	}
	match, capped := shapeWith(m, s, sc)
	switch match {
	case matchNode:
		topoNode.Inc()
	case matchZone:
		topoZone.Inc()
	case matchNone:
		topoNone.Inc()
	}
	if capped {
		cappedReplies.Inc()
	}
}

// locate finds where a client runs: the client_zones table, then the Nodes
// (their addresses, then their pod CIDRs), then the endpoints of published
// Services. Unknown: the zero clientLoc (answers keep stock order).
func (h *Headless) locate(a netip.Addr) clientLoc {
	if !a.IsValid() {
		return clientLoc{}
	}
	if loc, ok := h.cfg.clientZones.lookup(a); ok {
		return loc
	}
	if loc, ok := h.index.LocateByNode(a); ok {
		return loc
	}
	if loc, ok := h.index.LocateByEndpoint(a); ok {
		return loc
	}
	return clientLoc{}
}

// udpSize is the reply size the client can take over UDP, less the room
// for the OPT record the server adds: 512 without EDNS, else the size it
// advertises (at least 512).
func udpSize(req *dns.Msg) int {
	opt := req.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	return max(int(opt.UDPSize()), dns.MinMsgSize) - max(dns.Len(opt), 11)
}

// addrOf is a client's address (UDP or TCP; IPv4-mapped unmapped).
func addrOf(a net.Addr) netip.Addr {
	if ap, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		return ap.AddrPort().Addr().WithZone("").Unmap()
	}
	return netip.Addr{}
}
