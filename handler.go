package headless

import (
	"context"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
)

// outcome of resolving one question against the index.
type outcome int

const (
	pass     outcome = iota // not ours: the next plugin's
	answer                  // records from set or ptr
	apex                    // the zone apex (SOA, NS), with no next plugin
	nsHost                  // ns.dns.<zone>, with no next plugin
	nodata                  // the name exists, without records of the type
	nxdomain                // the name does not exist
	servfail                // not synced: we cannot tell
)

// result is what resolve found.
type result struct {
	out outcome
	set *rrSet
	ptr *ptrRefs
	svc *Service // whose set it is (its headless.dns/ttl)
}

// ServeDNS implements plugin.Handler. It is a lookup in the published index
// and a write: no scan, no lock.
func (h *Headless) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 {
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	q := r.Question[0]
	name := strings.ToLower(q.Name)
	z := h.matchZone(name)
	if z == nil {
		return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
	}
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		if h.Next == nil {
			return dns.RcodeRefused, nil // as stock: the server answers REFUSED, nothing logged
		}
		return h.pass(ctx, w, r, z)
	}
	res := h.resolve(name, z)
	if res.out == pass {
		return h.pass(ctx, w, r, z)
	}
	var cw *clientWriter
	if h.cfg.topology {
		cw = planOf(ctx)
	}
	return h.reply(cw, w, r, z, res)
}

// matchZone returns the longest zone that the lowercase name is in, or nil.
// A label-boundary suffix check: no allocation per query.
func (h *Headless) matchZone(name string) *zone {
	var best *zone
	for i := range h.zones {
		z := &h.zones[i]
		if inZone(name, z.name) && (best == nil || len(z.name) > len(best.name)) {
			best = z
		}
	}
	return best
}

// resolve finds what answers a lowercase name in zone z.
func (h *Headless) resolve(name string, z *zone) result {
	if isReverse(name) {
		return h.resolveReverse(name, z)
	}
	n := parseForward(name, len(z.name), h.index.Zonal())
	if n.kind != nameService {
		return h.resolveAncestor(n)
	}
	if !h.index.ServicesSynced() {
		if h.fallback() {
			return result{out: pass}
		}
		// Any Service name may be headless: never answer a false NXDOMAIN
		// and never let the next plugin answer one.
		return result{out: servfail}
	}
	if h.fellBack.Load() {
		h.recovered()
	}
	recs := h.index.Service(n.service)
	if recs == nil {
		return result{out: pass} // not a headless Service we serve
	}
	if !h.index.Synced() {
		return result{out: servfail} // ours, but its endpoints are not all in yet
	}
	switch {
	case n.tooLong:
		return result{out: nxdomain}
	case n.topoZone != "":
		if set := recs.Zone(n.topoZone); set != nil {
			return result{out: answer, set: set, svc: recs.svc}
		}
		if set := recs.Name(""); n.prefer && set != nil {
			return result{out: answer, set: set, svc: recs.svc}
		}
		return result{out: nodata} // the zone-scoped name exists, without endpoints
	}
	if set := recs.Name(n.prefix); set != nil {
		return result{out: answer, set: set, svc: recs.svc}
	}
	return result{out: nxdomain} // no such endpoint or port, or no ready address
}

// resolveAncestor answers the names above Services: the next plugin's when
// there is one, else the apex, ns.dns and empty non-terminals of ours.
func (h *Headless) resolveAncestor(n forwardName) result {
	if h.Next != nil {
		return result{out: pass}
	}
	switch n.kind {
	case nameApex:
		return result{out: apex}
	case nameNS:
		return result{out: nsHost}
	case nameSvcLabel:
		return result{out: nodata}
	case nameNamespace:
		if !h.index.Synced() {
			return result{out: servfail}
		}
		if h.index.HasNamespace(n.namespace) {
			return result{out: nodata}
		}
	}
	return result{out: nxdomain}
}

// resolveReverse finds the PTR of a reverse name. With no next plugin, the
// names above a published address are empty non-terminals.
func (h *Headless) resolveReverse(name string, z *zone) result {
	if name == z.name && h.Next == nil {
		return result{out: apex}
	}
	if !h.index.Synced() {
		if !h.index.ServicesSynced() && h.fallback() {
			return result{out: pass}
		}
		return result{out: servfail}
	}
	if ptr := h.index.PTR(name); ptr != nil {
		res := result{out: answer, ptr: ptr}
		if h.index.ownTTL.Load() > 0 { // only then may its Service set the TTL
			if recs := h.index.Service(ptr.first.svc); recs != nil {
				res.svc = recs.svc
			}
		}
		return res
	}
	if h.Next != nil {
		return result{out: pass}
	}
	if p, ok := parseReverse(name); ok && h.index.HasAddressIn(p) {
		return result{out: nodata}
	}
	return result{out: nxdomain}
}

// fallback reports whether names are passed on although the Service watch
// has not synced: once startup_timeout has passed since start-up, the next
// plugin answers (stock kubernetes answers SERVFAIL itself until it is
// synced). Logged once, and shown by coredns_headless_sync_fallback.
func (h *Headless) fallback() bool {
	if !h.started.Load() || h.clock().Sub(h.startedAt) < h.cfg.startupTimeout {
		return false
	}
	if h.fellBack.CompareAndSwap(false, true) {
		log.Errorf("the Service watch has not synced %s after start-up: passing Service names to the next plugin until it does", h.cfg.startupTimeout)
	}
	return true
}

// recovered ends a fallback once the Service watch has synced.
func (h *Headless) recovered() {
	if h.fellBack.CompareAndSwap(true, false) {
		log.Infof("the Service watch has synced: answering Service names again")
	}
}

// pass hands a name in our zone to the next plugin; with none, NXDOMAIN.
func (h *Headless) pass(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone) (int, error) {
	if h.Next == nil {
		return h.reply(nil, w, r, z, result{out: nxdomain})
	}
	reqPass.Inc()
	return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
}
