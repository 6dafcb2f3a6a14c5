package headless

import (
	"errors"
	"slices"
	"strings"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/xfr"
	"github.com/miekg/dns"
)

// Zone transfers (CoreDNS's transfer plugin). For a forward zone the
// transfer holds every headless record we publish. When a plugin behind us
// transfers the zone too (kubernetes with noendpoints), the two are merged:
// its records, ours added in its order of Services (and its records of
// Services we serve replaced by ours), one SOA at each end whose serial is
// the newer of its and ours. With nothing behind us that transfers the
// zone, the zone is our own: SOA, NS, the NS host's addresses, our records.

var errNotSynced = errors.New("headless: not synced with the Kubernetes API: no transfer of a partial zone")

// Transfer implements transfer.Transferer.
func (h *Headless) Transfer(zoneName string, serial uint32) (<-chan []dns.RR, error) {
	z := h.exactZone(strings.ToLower(dns.Fqdn(zoneName)))
	if z == nil || z.reverse {
		return nil, transfer.ErrNotAuthoritative
	}
	if !z.ix.Synced() || z.set && h.mc.absent.Load() {
		return nil, errNotSynced
	}
	next, nextCh, err := h.nextTransfer(zoneName, serial)
	if err != nil {
		return nil, err
	}
	ch := make(chan []dns.RR)
	if nextCh == nil {
		go h.transferOwn(ch, z, dns.Fqdn(zoneName), serial)
	} else {
		go h.transferMerged(ch, z, zoneName, serial, next, nextCh)
	}
	return ch, nil
}

// exactZone is our zone named name (lowercase FQDN), or nil.
func (h *Headless) exactZone(name string) *zone {
	for i := range h.zones {
		if h.zones[i].name == name {
			return &h.zones[i]
		}
	}
	return nil
}

// nextTransfer asks the transferers behind us, in chain order, for the zone:
// the first that is authoritative and its channel; none: nil.
func (h *Headless) nextTransfer(zoneName string, serial uint32) (transfer.Transferer, <-chan []dns.RR, error) {
	for _, t := range h.nextXfr {
		ch, err := t.Transfer(zoneName, serial)
		if errors.Is(err, transfer.ErrNotAuthoritative) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		return t, ch, nil
	}
	return nil, nil, nil
}

// findTransferers notes the handlers behind us in the server block that
// transfer zones (at start-up, once the chain is built).
func (h *Headless) findTransferers(conf *dnsserver.Config) {
	h.nextXfr = nil
	behind := false
	for _, p := range conf.Handlers() {
		if p == plugin.Handler(h) {
			behind = true
			continue
		}
		if t, ok := p.(transfer.Transferer); ok && behind {
			h.nextXfr = append(h.nextXfr, t)
		}
	}
	h.serialMerge = len(h.nextXfr) > 0 && conf.Handler("transfer") != nil
}

// transferOwn writes our own zone: SOA, NS and the NS host's addresses (the
// addresses the server is bound to, as stock writes them outside a
// cluster), every published record, SOA.
func (h *Headless) transferOwn(ch chan<- []dns.RR, z *zone, qzone string, serial uint32) {
	host := index.JoinName("ns.dns", qzone)
	ns := []dns.RR{&dns.NS{Hdr: h.hdr(dns.TypeNS, qzone), Ns: host}}
	xfr.Own(ch, serial, h.soa(z, qzone), [][]dns.RR{ns, xfr.HostAddrs(host, h.boundIPs)}, ourZone{h, z})
}

// transferService writes one published Service's records.
func (h *Headless) transferService(emit func([]dns.RR), z *zone, key string) {
	if z.set {
		if v := h.mc.vips.Get(key); v != nil {
			ttl := h.cfg.TTL
			if t := v.Service().Policy.TTL; t >= 0 {
				ttl = uint32(t)
			}
			v.Transfer(z.fwd, z.name, ttl, emit)
			return
		}
	}
	recs := z.ix.Service(key)
	if recs == nil {
		return // gone since the keys were taken
	}
	ttl := h.cfg.TTL
	if t := recs.Service().Policy.TTL; t >= 0 {
		ttl = uint32(t)
	}
	recs.Transfer(z.fwd, ttl, emit)
}

// transferMerged writes the next plugin's transfer with ours merged in.
func (h *Headless) transferMerged(ch chan<- []dns.RR, z *zone, zoneName string, serial uint32, next transfer.Transferer, nextCh <-chan []dns.RR) {
	xfr.Merge(ch, ourZone{h, z}, serial, nextCh, func() (<-chan []dns.RR, error) { return next.Transfer(zoneName, 0) })
}

// ourZone is our side of a merged transfer of zone z.
type ourZone struct {
	h *Headless
	z *zone
}

func (o ourZone) Serial() uint32 { return o.z.ix.Serial() }
func (o ourZone) Keys() []string {
	keys := o.z.ix.ServiceKeys()
	if o.z.set { // and the ClusterSetIP imports, in one order
		keys = append(keys, o.h.mc.vips.Keys()...)
		slices.Sort(keys)
	}
	return keys
}
func (o ourZone) Write(key string, emit func([]dns.RR)) {
	o.h.transferService(emit, o.z, key)
}

func (o ourZone) Owner(name string) (key string, ours, service bool) {
	n := names.ParseForward(name, len(o.z.name), false, o.z.set)
	if n.Kind != names.Service {
		return "", false, false
	}
	return n.Service, o.z.ix.Service(n.Service) != nil, true
}

// serialWriter writes the next plugin's reply to a zone apex question with
// the newer of its SOA serial and ours, so that a secondary polling the
// apex sees our changes (transfer on, with a transferer behind us).
type serialWriter struct {
	dns.ResponseWriter
	h *Headless
}

func (w *serialWriter) WriteMsg(m *dns.Msg) error {
	for _, sec := range [][]dns.RR{m.Answer, m.Ns} {
		for _, rr := range sec {
			if soa, ok := rr.(*dns.SOA); ok {
				soa.Serial = max(soa.Serial, w.h.index.Serial())
			}
		}
	}
	return w.ResponseWriter.WriteMsg(m)
}
