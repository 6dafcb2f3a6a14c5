package index

import (
	"math"
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// RRSet holds the precomputed answers for one owner name. Owner names of the
// answer records are empty: ServeDNS copies the records and sets the name the
// client asked, so the per-query path is free to reorder or trim the copy.
// SRV records and their glue depend on the zone the target is written in and
// are kept per forward zone. The arrays of one Service's sets are carved from
// shared slabs; sets never change once built.
type RRSet struct {
	a    []dns.A
	aaaa []dns.AAAA
	z    []zoneRRs // per forward zone
}

// A are the name's A records (owner names empty).
func (s *RRSet) A() []dns.A { return s.a }

// AAAA are the name's AAAA records (owner names empty).
func (s *RRSet) AAAA() []dns.AAAA { return s.aaaa }

// SRV are the name's SRV records with targets in forward zone zi, and
// their glue.
func (s *RRSet) SRV(zi int) (srv []dns.SRV, glueA []dns.A, glue6 []dns.AAAA) {
	z := &s.z[zi]
	return z.srv, z.glueA, z.glue6
}

// zoneRRs are the SRV records of a name and their glue, in one forward zone.
type zoneRRs struct {
	srv   []dns.SRV
	glueA []dns.A
	glue6 []dns.AAAA
}

// slab hands out sub-slices of a few large arrays, so one Service's records
// take a handful of allocations instead of several per name. Each sub-slice's
// capacity is its length: an append can never reach a neighbour.
type slab struct {
	exact bool // every sub-slice its own allocation of its size (one name built alone)
	a     []dns.A
	aaaa  []dns.AAAA
	srv   []dns.SRV
	z     []zoneRRs
	sets  []RRSet
}

// carve returns a sub-slice of n elements of *pool, starting a new chunk
// when the current one is full. Chunks are never reallocated.
func carve[T any](pool *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	if cap(*pool)-len(*pool) < n {
		*pool = make([]T, 0, max(n, 2*cap(*pool), 16))
	}
	l := len(*pool)
	*pool = (*pool)[:l+n]
	return (*pool)[l : l+n : l+n]
}

// carveIn is carve from one of sl's pools, or a new slice of n when sl is
// exact.
func carveIn[T any](sl *slab, pool *[]T, n int) []T {
	if sl.exact {
		if n == 0 {
			return nil
		}
		return make([]T, n)
	}
	return carve(pool, n)
}

// keepIn copies scratch into one of sl's pools (a new slice when sl is
// exact) and returns the copy.
func keepIn[T any](sl *slab, pool *[]T, scratch []T) []T {
	out := carveIn(sl, pool, len(scratch))
	copy(out, scratch)
	return out
}

// rrScratch is the working memory of rrSetOf, reused name after name.
type rrScratch struct {
	items    []item
	ips      []net.IP
	a        []dns.A
	aaaa     []dns.AAAA
	srv      []dns.SRV
	glueA    []dns.A
	glue6    []dns.AAAA
	addrSeen map[netip.Addr]bool
	srvSeen  map[srvKey]bool
	glueSeen map[glueKey]bool
}

type srvKey struct {
	host string
	port int32
}

type glueKey struct {
	host string
	addr netip.Addr
}

// rrSetOf turns the (address, port) items of one name (all, or those at idx)
// into records exactly as the stock plugin's A, AAAA and SRV builders do:
// addresses de-duplicated, SRV weight 100/N over all N items, SRV
// de-duplicated by (target, port) and glue by (target, address). Records
// land in the slab.
func (s *rrScratch) rrSetOf(o *Options, all []item, idx []int32, sl *slab, mode dedupMode) *RRSet {
	set := &carveIn(sl, &sl.sets, 1)[0]
	items := all
	if idx != nil {
		items = s.items[:0]
		for _, i := range idx {
			items = append(items, all[i])
		}
		s.items = items
	}
	d := dedup{s: s, mode: mode}
	if mode == dedupMaps {
		s.addrSeen = resetMap(s.addrSeen)
	}
	hdr := func(t uint16, name string) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: o.TTL}
	}

	// one net.IP per address, shared by its answer and glue records
	ips := s.ips[:0]
	for i := range items {
		if i > 0 && items[i].addr == items[i-1].addr {
			ips = append(ips, ips[i-1])
		} else {
			ips = append(ips, net.IP(items[i].addr.AsSlice()))
		}
	}
	s.ips = ips
	a, aaaa := s.a[:0], s.aaaa[:0]
	for i := range items {
		it := &items[i]
		if !d.newAddr(items, i) {
			continue
		}
		if it.addr.Is4() {
			a = append(a, dns.A{Hdr: hdr(dns.TypeA, ""), A: ips[i]})
		} else {
			aaaa = append(aaaa, dns.AAAA{Hdr: hdr(dns.TypeAAAA, ""), AAAA: ips[i]})
		}
	}
	set.a, set.aaaa = keepIn(sl, &sl.a, a), keepIn(sl, &sl.aaaa, aaaa)
	s.a, s.aaaa = a, aaaa

	weight := uint16(math.Floor(100.0 / float64(100*len(items)) * 100))
	weight = max(weight, 1)
	set.z = carveIn(sl, &sl.z, len(o.Zones))
	for zi := range o.Zones {
		srv, glueA, glue6 := s.srv[:0], s.glueA[:0], s.glue6[:0]
		if mode == dedupMaps {
			s.srvSeen = resetMap(s.srvSeen)
			s.glueSeen = resetMap(s.glueSeen)
		}
		for i := range items {
			it := &items[i]
			if it.port == -1 {
				continue
			}
			newSRV, newGlue := d.newSRVAndGlue(items, i)
			target := it.targets[zi]
			if newSRV {
				srv = append(srv, dns.SRV{Hdr: hdr(dns.TypeSRV, ""), Weight: weight, Port: uint16(it.port), Target: target})
			}
			if newGlue && it.addr.Is4() {
				glueA = append(glueA, dns.A{Hdr: hdr(dns.TypeA, target), A: ips[i]})
			} else if newGlue {
				glue6 = append(glue6, dns.AAAA{Hdr: hdr(dns.TypeAAAA, target), AAAA: ips[i]})
			}
		}
		set.z[zi] = zoneRRs{srv: keepIn(sl, &sl.srv, srv), glueA: keepIn(sl, &sl.a, glueA), glue6: keepIn(sl, &sl.aaaa, glue6)}
		s.srv, s.glueA, s.glue6 = srv, glueA, glue6
	}
	return set
}
