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
	pass outcome = iota
	answer
	nodata
	nxdomain
	servfail
)

// ServeDNS implements plugin.Handler. It is a lookup in the published index
// and a write: no scan, no lock.
func (h *Headless) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if len(r.Question) != 1 {
		return h.next(ctx, w, r, -1)
	}
	q := r.Question[0]
	if q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
		return h.next(ctx, w, r, -1)
	}
	name := strings.ToLower(q.Name)
	zi := h.matchZone(name)
	if zi < 0 {
		return h.next(ctx, w, r, -1)
	}
	set, ptr, out := h.resolve(name, zi)
	switch out {
	case pass:
		return h.next(ctx, w, r, zi)
	case answer:
		if h.write(w, r, q, zi, set, ptr) {
			reqAnswer.Inc()
			return dns.RcodeSuccess, nil
		}
		out = nodata
	}
	return h.negative(w, r, zi, out)
}

// matchZone returns the index of the longest zone that the lowercase name is
// in, or -1. A label-boundary suffix check: no allocation per query.
func (h *Headless) matchZone(name string) int {
	best := -1
	for i, z := range h.Zones {
		if inZone(name, z) && (best < 0 || len(z) > len(h.Zones[best])) {
			best = i
		}
	}
	return best
}

// inZone reports whether name (FQDN) equals zone or is below it.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	n := len(name) - len(zone)
	return n == 0 || name[n-1] == '.'
}

// resolve finds the record set (or, in a reverse zone, the PTR set) of a
// lowercase name in zone zi.
func (h *Headless) resolve(name string, zi int) (*rrSet, *ptrSet, outcome) {
	ix := h.index
	if h.reverse[zi] {
		if !ix.Synced() {
			return nil, nil, servfail
		}
		if ptr := ix.lookupPTR(name); ptr != nil {
			return nil, ptr, answer
		}
		return nil, nil, pass
	}
	set, out := h.resolveService(name, zi)
	return set, nil, out
}

// resolveService finds the record set of a forward name.
func (h *Headless) resolveService(name string, zi int) (*rrSet, outcome) {
	ix := h.index
	// <prefix>.<service>.<namespace>.svc.<zone>
	rel := name[:len(name)-len(h.Zones[zi])]
	if !strings.HasSuffix(rel, ".svc.") {
		return nil, pass
	}
	rest := rel[:len(rel)-len(".svc.")]
	i := strings.LastIndexByte(rest, '.')
	if i <= 0 {
		return nil, pass // <namespace>.svc or svc: not a Service name
	}
	j := strings.LastIndexByte(rest[:i], '.')
	key, prefix := rest[j+1:], ""
	if j >= 0 {
		prefix = rest[:j]
	}
	if !ix.Synced() {
		// Not synced yet: any Service name may be headless; never answer a
		// false NXDOMAIN and never let the next plugin answer one.
		return nil, servfail
	}
	recs := ix.lookupService(key)
	if recs == nil {
		return nil, pass
	}
	if set := recs.names[prefix]; set != nil {
		return set, answer
	}
	if ix.zonal {
		if len(prefix) > len(".pin._zone") && strings.HasSuffix(prefix, ".pin._zone") {
			return nil, nodata // no endpoint of the Service carries that zone
		}
		if len(prefix) > len(".prefer._zone") && strings.HasSuffix(prefix, ".prefer._zone") {
			if set := recs.names[""]; set != nil {
				return set, answer
			}
			return nil, nodata
		}
	}
	return nil, nxdomain // the Service has no such endpoint, port, or no ready address
}

// write answers from set for the question's type; false when the set holds
// no record of that type (NODATA).
func (h *Headless) write(w dns.ResponseWriter, r *dns.Msg, q dns.Question, zi int, set *rrSet, ptr *ptrSet) bool {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	if ptr != nil {
		if q.Qtype != dns.TypePTR {
			return false
		}
		m.Answer = copyRRs(ptr.rr, q.Name, nil)
		w.WriteMsg(m)
		return true
	}
	switch q.Qtype {
	case dns.TypeA:
		m.Answer = copyRRs(set.a, q.Name, nil)
	case dns.TypeAAAA:
		m.Answer = copyRRs(set.aaaa, q.Name, nil)
	case dns.TypeSRV:
		f := h.fwd[zi]
		if f < 0 {
			return false
		}
		z := &set.z[f]
		m.Answer = copyRRs(z.srv, q.Name, nil)
		if n := len(z.glueA) + len(z.glue6); n > 0 {
			m.Extra = copyRRs(z.glueA, "", make([]dns.RR, 0, n))
			m.Extra = copyRRs(z.glue6, "", m.Extra)
		}
	}
	if len(m.Answer) == 0 {
		return false
	}
	w.WriteMsg(m)
	return true
}

// copyRRs appends copies of src to dst, with owner name set when name is not
// empty. The copies share one allocation; later plugins may change them.
func copyRRs[T any, P interface {
	*T
	dns.RR
}](src []T, name string, dst []dns.RR) []dns.RR {
	if len(src) == 0 {
		return dst
	}
	arr := make([]T, len(src))
	copy(arr, src)
	if dst == nil {
		dst = make([]dns.RR, 0, len(src))
	}
	for i := range arr {
		p := P(&arr[i])
		if name != "" {
			p.Header().Name = name
		}
		dst = append(dst, p)
	}
	return dst
}

// negative writes NODATA, NXDOMAIN or SERVFAIL with the zone's SOA.
func (h *Headless) negative(w dns.ResponseWriter, r *dns.Msg, zi int, out outcome) (int, error) {
	m := new(dns.Msg)
	switch out {
	case nodata:
		reqNodata.Inc()
		m.SetRcode(r, dns.RcodeSuccess)
	case nxdomain:
		reqNXDomain.Inc()
		m.SetRcode(r, dns.RcodeNameError)
	default:
		reqServfail.Inc()
		m.SetRcode(r, dns.RcodeServerFailure)
	}
	m.Authoritative = true
	m.Ns = []dns.RR{h.soa(r, zi)}
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// soa is the zone's SOA as the stock plugin writes it: owner in the case the
// client used, TTL min(ttl, 300), serial the time of the last index change.
func (h *Headless) soa(r *dns.Msg, zi int) *dns.SOA {
	owner := h.Zones[zi]
	if len(r.Question) == 1 && len(r.Question[0].Name) >= len(owner) {
		owner = r.Question[0].Name[len(r.Question[0].Name)-len(owner):]
	}
	ttl := h.index.ttl
	return &dns.SOA{
		Hdr:  dns.RR_Header{Name: owner, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: min(ttl, 300)},
		Mbox: h.mbox[zi], Ns: h.ns[zi], Serial: h.index.Serial(),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: ttl,
	}
}

// next passes a name the plugin does not own down the chain. With no next
// plugin a name in one of its zones gets NXDOMAIN with the SOA.
func (h *Headless) next(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, zi int) (int, error) {
	if zi >= 0 {
		if h.Next == nil {
			return h.negative(w, r, zi, nxdomain)
		}
		reqPass.Inc()
	}
	return plugin.NextOrFailure(h.Name(), h.Next, ctx, w, r)
}
