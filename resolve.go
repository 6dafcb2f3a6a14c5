package headless

import (
	"strings"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/object"
)

// What answers a name: a question is resolved against the index into an
// outcome, which reply (reply.go) writes.

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
	version                 // dns-version.<clusterset zone>: TXT MCSVersion
)

// result is what resolve found.
type result struct {
	out outcome
	set *index.RRSet
	ptr *index.PTRs
	svc *object.Service // whose set it is, or the name is below (its headless.dns/ttl and negative-ttl)

	// behind: ptr is a clusterset zone's, the answer only when the next
	// plugin has no PTR of the address (ptrBehind)
	behind bool
}

// resolve finds what answers a question in one of our zones.
func (h *Headless) resolve(q *question) result {
	if q.rev {
		return h.resolveReverse(q.name, q.z)
	}
	if q.z.set {
		return h.resolveClusterset(q)
	}
	n := &q.fwd
	if n.Kind != names.Service {
		return h.resolveAncestor(n)
	}
	if !h.index.ServicesSynced() {
		if h.fallBack() {
			return result{out: pass}
		}
		// Any Service name may be headless: never answer a false NXDOMAIN
		// and never let the next plugin answer one.
		return result{out: servfail}
	}
	if h.fellBack.Load() {
		h.recovered()
	}
	return h.resolveService(h.index, n)
}

// resolveService resolves a name below a Service in the index ix; pass when
// ix serves no such Service.
func (h *Headless) resolveService(ix *index.Index, n *names.Forward) result {
	recs := ix.Service(n.Service)
	if recs == nil {
		return result{out: pass} // not a headless Service we serve
	}
	if !ix.Synced() {
		return result{out: servfail} // ours, but its endpoints are not all in yet
	}
	switch {
	case n.TooLong:
		return result{out: nxdomain}
	case n.TopoZone != "":
		if set := recs.Zone(n.TopoZone); set != nil {
			return result{out: answer, set: set, svc: recs.Service()}
		}
		if set := recs.Name(""); n.Prefer && set != nil {
			return result{out: answer, set: set, svc: recs.Service()}
		}
		return result{out: nodata, svc: recs.Service()} // the zone-scoped name exists, without endpoints
	}
	if set := recs.Name(n.Prefix); set != nil {
		return result{out: answer, set: set, svc: recs.Service()}
	}
	if n.Prefix == "" && recs.HasNames() {
		// no ready endpoint, but names below it (the hostnames policy)
		return result{out: nodata, svc: recs.Service()}
	}
	return result{out: nxdomain, svc: recs.Service()} // no such endpoint or port, or no ready address
}

// resolveAncestor answers the names above Services: the next plugin's when
// there is one, else the apex, ns.dns and empty non-terminals of ours.
func (h *Headless) resolveAncestor(n *names.Forward) result {
	if h.Next != nil {
		return result{out: pass}
	}
	switch n.Kind {
	case names.Apex:
		return result{out: apex}
	case names.NS:
		return result{out: nsHost}
	case names.SvcLabel:
		return result{out: nodata}
	case names.Namespace:
		if !h.index.Synced() {
			return result{out: servfail}
		}
		if h.index.HasNamespace(n.Namespace) {
			return result{out: nodata}
		}
	}
	return result{out: nxdomain}
}

// resolveReverse finds the PTR of a reverse name. With no next plugin, the
// names above a published address are empty non-terminals, and the name
// the apex NS points to (ns.dns.<zone>) is served as in a forward zone.
func (h *Headless) resolveReverse(name string, z *zone) result {
	if h.Next == nil {
		switch strings.TrimSuffix(name, z.name) {
		case "":
			return result{out: apex}
		case "ns.dns.":
			return result{out: nsHost}
		case "dns.":
			return result{out: nodata}
		}
	}
	if !h.index.Synced() {
		if !h.index.ServicesSynced() && h.fallBack() {
			return result{out: pass}
		}
		return result{out: servfail}
	}
	p, ok := names.ParseReverse(name)
	if ok && p.IsSingleIP() {
		if ptr := h.index.PTR(p.Addr()); ptr != nil {
			if h.cfg.SinglePTR {
				ptr = ptr.Single()
			}
			res := result{out: answer, ptr: ptr}
			if h.index.Policies().OwnTTL { // only then may its Service set the TTL
				if recs := h.index.Service(ptr.ServiceKey()); recs != nil {
					res.svc = recs.Service()
				}
			}
			return res
		}
		if h.mc != nil {
			if res, ok := h.mc.ptr(p.Addr()); ok {
				return res
			}
		}
	}
	if h.Next != nil {
		return result{out: pass}
	}
	if ok && h.index.HasAddressIn(p) {
		return result{out: nodata}
	}
	return result{out: nxdomain}
}

// indexOptions are the index's options for the forward zones fwd: the
// stanza's, and the metrics' hooks.
func indexOptions(cfg *config, fwd []string) index.Options {
	return index.Options{Zones: fwd, TTL: cfg.TTL, PodNames: cfg.PodNames, Zonal: cfg.Zonal, Hostnames: cfg.Hostnames,
		Selector: cfg.Selector, Namespaces: cfg.Namespaces, Scoped: cfg.NSSelector != nil, Hooks: indexHooks}
}
