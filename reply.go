package headless

import (
	"fmt"

	"github.com/headlessdns/headless/internal/index"
	"github.com/miekg/dns"
)

// zone is one zone of the plugin, with what its replies need precomputed.
type zone struct {
	name    string       // lowercase FQDN
	fwd     int          // index into its index's forward zones (SRV targets), -1 for a reverse zone
	ix      *index.Index // the index that answers it: the clusterset one for a clusterset zone
	reverse bool
	set     bool // a clusterset zone (the multicluster option)
}

// reply writes the reply for a resolved question; o orders a Service name's
// answer for the client (nil: none does).
func (h *Headless) reply(o orderer, w dns.ResponseWriter, r *dns.Msg, z *zone, res result) (int, error) {
	q := r.Question[0]
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	qzone := q.Name[len(q.Name)-len(z.name):] // the zone as the client spelled it
	out := res.out
	switch out {
	case answer:
		if !h.fill(o, m, q, z, qzone, res) {
			out = nodata
		} else if res.svc != nil && res.svc.Policy.TTL >= 0 {
			setTTL(m.Answer, uint32(res.svc.Policy.TTL))
			setTTL(m.Extra, uint32(res.svc.Policy.TTL))
		}
	case apex:
		out = h.fillApex(m, w, q, z, qzone)
	case nsHost:
		out = h.fillNSHost(m, w, q, qzone)
	case version:
		out = nodata
		if q.Qtype == dns.TypeTXT {
			m.Answer = []dns.RR{&dns.TXT{Hdr: h.hdr(dns.TypeTXT, q.Name), Txt: []string{MCSVersion}}}
			out = answer
		}
	}
	switch out {
	case answer:
		reqAnswer.Inc()
	case nodata:
		reqNodata.Inc()
	case nxdomain:
		reqNXDomain.Inc()
		m.Rcode = dns.RcodeNameError
	case servfail:
		reqServfail.Inc()
		m.Rcode = dns.RcodeServerFailure
	}
	if len(m.Answer) == 0 {
		soa := h.soa(z, qzone)
		if n := h.negativeTTL(res.svc); n >= 0 && (out == nodata || out == nxdomain) {
			soa.Hdr.Ttl, soa.Minttl = min(soa.Hdr.Ttl, uint32(n)), min(soa.Minttl, uint32(n))
		}
		m.Ns = []dns.RR{soa}
	}
	if err := w.WriteMsg(m); err != nil {
		// The server answers SERVFAIL for this rcode; errors logs err.
		return dns.RcodeServerFailure, fmt.Errorf("headless: reply to %s %s not written: %w", q.Name, dns.TypeToString[q.Qtype], err)
	}
	return dns.RcodeSuccess, nil
}
