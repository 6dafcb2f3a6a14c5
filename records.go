package headless

import (
	"net"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// The records of a reply: the answer, the apex, the SOA of a negative
// answer, and the copies every reply gets.

// orderer writes the A or AAAA answer of a Service name in the client's
// order: the front step's plan for this query, which it hands down in the
// query's context in a block without cache (front.go).
type orderer interface {
	presortedAnswer(set *index.RRSet, qtype uint16, name string) ([]dns.RR, bool)
}

// fill puts the records of the question's type into m; false when there are
// none (NODATA). o, when not nil, orders a Service name's answer.
func (h *Headless) fill(o orderer, m *dns.Msg, q dns.Question, z *zone, qzone string, res result) bool {
	if res.ptr != nil {
		if q.Qtype != dns.TypePTR {
			return false
		}
		m.Answer = res.ptr.Records(q.Name, h.cfg.TTL)
		return true
	}
	set := res.set
	if o != nil {
		if rrs, ok := o.presortedAnswer(set, q.Qtype, q.Name); ok {
			m.Answer = rrs
			return len(rrs) > 0
		}
	}
	switch q.Qtype {
	case dns.TypeA:
		m.Answer = copyRRs(set.A(), q.Name, nil)
	case dns.TypeAAAA:
		m.Answer = copyRRs(set.AAAA(), q.Name, nil)
	case dns.TypeSRV:
		if z.fwd < 0 {
			return false
		}
		srv, glueA, glue6 := set.SRV(z.fwd)
		m.Answer = copyRRs(srv, q.Name, nil)
		if n := len(glueA) + len(glue6); n > 0 {
			m.Extra = copyRRs(glueA, "", make([]dns.RR, 0, n))
			m.Extra = copyRRs(glue6, "", m.Extra)
		}
		if qzone != z.name {
			echoZoneCase(m, z.name, qzone)
		}
	}
	return len(m.Answer) > 0
}

// echoZoneCase writes SRV targets and glue owners with the zone spelled as
// the client spelled it, as the stock plugin does (it builds them from the
// query). Only mixed-case queries pay for it.
func echoZoneCase(m *dns.Msg, zone, qzone string) {
	respell := func(s string) string {
		if len(s) >= len(zone) && s[len(s)-len(zone):] == zone {
			return s[:len(s)-len(zone)] + qzone
		}
		return s
	}
	for _, rr := range m.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			srv.Target = respell(srv.Target)
		}
	}
	for _, rr := range m.Extra {
		rr.Header().Name = respell(rr.Header().Name)
	}
}

// fillApex answers the zone apex (SOA, NS) as stock does, with no next plugin.
func (h *Headless) fillApex(m *dns.Msg, w dns.ResponseWriter, q dns.Question, z *zone, qzone string) outcome {
	switch q.Qtype {
	case dns.TypeSOA:
		m.Answer = []dns.RR{h.soa(z, qzone)}
	case dns.TypeNS:
		host := index.JoinName("ns.dns", qzone)
		m.Answer = []dns.RR{&dns.NS{Hdr: h.hdr(dns.TypeNS, q.Name), Ns: host}}
		if rr := h.localAddress(w, host, 0); rr != nil {
			m.Extra = []dns.RR{rr}
		}
	default:
		return nodata
	}
	return answer
}

// fillNSHost answers ns.dns.<zone>, the apex NS target: the address the
// query came in on, as stock does outside a cluster.
func (h *Headless) fillNSHost(m *dns.Msg, w dns.ResponseWriter, q dns.Question, _ string) outcome {
	if rr := h.localAddress(w, q.Name, q.Qtype); rr != nil {
		m.Answer = []dns.RR{rr}
		return answer
	}
	return nodata
}

// localAddress is an A or AAAA record for the server's local address, of
// type qtype (0: either).
func (h *Headless) localAddress(w dns.ResponseWriter, name string, qtype uint16) dns.RR {
	var ip net.IP
	switch a := w.LocalAddr().(type) {
	case *net.UDPAddr:
		ip = a.IP
	case *net.TCPAddr:
		ip = a.IP
	}
	if ip == nil || ip.IsUnspecified() {
		return nil
	}
	if ip4 := ip.To4(); ip4 != nil && (qtype == 0 || qtype == dns.TypeA) {
		return &dns.A{Hdr: h.hdr(dns.TypeA, name), A: ip4}
	}
	if ip.To4() == nil && (qtype == 0 || qtype == dns.TypeAAAA) {
		return &dns.AAAA{Hdr: h.hdr(dns.TypeAAAA, name), AAAA: ip}
	}
	return nil
}

func (h *Headless) hdr(t uint16, name string) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: h.cfg.TTL}
}

// soa is the zone's SOA as the stock plugin writes it: the zone as the client
// spelled it, TTL min(ttl, 300), serial the time of the last change of the
// zone's index.
func (h *Headless) soa(z *zone, qzone string) *dns.SOA {
	ttl := h.cfg.TTL
	return &dns.SOA{
		Hdr:  dns.RR_Header{Name: qzone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: min(ttl, 300)},
		Mbox: index.JoinName("hostmaster", qzone), Ns: index.JoinName("ns.dns", qzone), Serial: z.ix.Serial(),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: ttl,
	}
}

// negativeTTL is the most seconds a negative answer below svc (nil: not
// below a Service) may be held: its headless.dns/negative-ttl, else the
// Corefile's negative_ttl; -1 when neither is set.
func (h *Headless) negativeTTL(svc *object.Service) int32 {
	if svc != nil && svc.Policy.NegativeTTL >= 0 {
		return svc.Policy.NegativeTTL
	}
	if !h.cfg.HasNegTTL {
		return -1
	}
	return h.cfg.NegativeTTL
}

// setTTL sets the TTL of copied records (a Service's headless.dns/ttl).
func setTTL(rrs []dns.RR, ttl uint32) {
	for _, rr := range rrs {
		rr.Header().Ttl = ttl
	}
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
