package index

import (
	"cmp"
	"net"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Zone transfers: what the published index holds, written as the records a
// transfer carries, one Service at a time.

// ServiceKeys are the keys of the published Services, ordered as the stock
// plugin orders a transfer: by Service name (then namespace, where stock's
// order is arbitrary).
func (ix *Index) ServiceKeys() []string {
	ix.publishPending()
	ix.mu.Lock()
	keys := make([]string, 0, len(ix.pub.keys))
	for k := range ix.pub.keys {
		keys = append(keys, k)
	}
	ix.mu.Unlock()
	slices.SortFunc(keys, CompareForTransfer)
	return keys
}

// CompareForTransfer orders Service keys by name, then namespace.
func CompareForTransfer(a, b string) int {
	an, ans := splitServiceKey(a)
	bn, bns := splitServiceKey(b)
	return cmp.Or(strings.Compare(an, bn), strings.Compare(ans, bns))
}

// Transfer hands emit the Service's records in forward zone zi, a slice's
// worth at a time, as the stock plugin's transfer writes them: per
// published address, an A or AAAA at the Service name (when the Service
// name lists it), one at its endpoint name, and an SRV per named port
// (weight 100/N over the slice's N addresses the Service name lists,
// target the endpoint name). Addresses published under their own names
// only (not ready, the hostnames policy) have their endpoint name's record
// alone, as queries answer them. ttl is the records' TTL.
func (r *Records) Transfer(zi int, ttl uint32, emit func([]dns.RR)) {
	parts := r.wide.parts
	if len(parts) == 0 || zi >= len(r.wide.o.Zones) {
		return
	}
	zone := r.wide.o.Zones[zi]
	svcName := JoinName(r.svc.Name+"."+r.svc.Namespace+".svc", zone)
	listed := listedBy(parts)
	var out []dns.RR
	for _, p := range parts {
		out = r.transferPart(p, listed, zi, svcName, ttl, out[:0])
		if len(out) > 0 {
			emit(out)
			out = nil // emit keeps the records
		}
	}
}

// listedBy returns whether the Service name lists an item, as readyParts
// decides it: never one published under its own names only, and serving,
// terminating ones only when no endpoint is ready.
func listedBy(parts []*sliceBuild) func(*item) bool {
	dropServing, _ := dropsServing(parts)
	return func(it *item) bool { return !it.nameOnly && !(dropServing && it.servingOnly) }
}

// transferPart appends the records of one slice.
func (r *Records) transferPart(p *sliceBuild, listed func(*item) bool, zi int, svcName string, ttl uint32, out []dns.RR) []dns.RR {
	addrs := 0 // that the Service name lists
	for i := range p.items {
		if p.items[i].pi == 0 && listed(&p.items[i]) {
			addrs++
		}
	}
	weight := uint16(1)
	if addrs > 0 {
		weight = uint16(max(100/addrs, 1))
	}
	ports := p.slice.Ports
	hdr := func(name string, t uint16) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	srvNames := make([]string, len(ports)) // one owner name per port of the slice
	for pi, pt := range ports {
		if pt.Name != "" && pt.Port >= 0 {
			srvNames[pi] = "_" + pt.Name + "._" + pt.Protocol + "." + svcName
		}
	}
	addr := func(name string, it *item, ip net.IP) dns.RR {
		if it.addr.Is4() {
			return &dns.A{Hdr: hdr(name, dns.TypeA), A: ip}
		}
		return &dns.AAAA{Hdr: hdr(name, dns.TypeAAAA), AAAA: ip}
	}
	for i := 0; i < len(p.items); {
		it := &p.items[i]
		n := 1 // this address's items: one per port
		for i+n < len(p.items) && p.items[i+n].pi != 0 {
			n++
		}
		inW := listed(it)
		ip := net.IP(it.addr.AsSlice()) // shared by its records
		if inW {
			out = append(out, addr(svcName, it, ip))
		}
		target := it.targets[zi]
		out = append(out, addr(target, it, ip))
		for k := i; inW && k < i+n; k++ {
			if name := srvNames[p.items[k].pi]; name != "" {
				out = append(out, &dns.SRV{Hdr: hdr(name, dns.TypeSRV), Weight: weight, Port: uint16(ports[p.items[k].pi].Port), Target: target})
			}
		}
		i += n
	}
	return out
}
