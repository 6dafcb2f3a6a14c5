package headless

import (
	"math"
	"net/netip"

	"github.com/miekg/dns"
)

// rrSet holds the precomputed answers for one owner name. Owner names of the
// answer records are empty: ServeDNS copies the records and sets the name the
// client asked, so the per-query path is free to reorder or trim the copy.
// SRV records and their glue depend on the zone the target is written in and
// are kept per forward zone. The arrays of one Service's sets are carved from
// shared slabs; sets never change once built.
type rrSet struct {
	a    []dns.A
	aaaa []dns.AAAA
	z    []zoneRRs // per forward zone
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
	a    []dns.A
	aaaa []dns.AAAA
	srv  []dns.SRV
	z    []zoneRRs
	sets []rrSet
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

// keep copies scratch into the pool and returns the copy.
func keep[T any](pool *[]T, scratch []T) []T {
	out := carve(pool, len(scratch))
	copy(out, scratch)
	return out
}

// rrScratch is the working memory of rrSetOf, reused name after name.
type rrScratch struct {
	items    []item
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

// dedup tells first occurrences apart among a name's items: by a linear scan
// for the few items most names have, by maps beyond that.
type dedup struct {
	s     *rrScratch
	small bool
}

const linearDedupMax = 16

func (d dedup) newAddr(items []item, i int) bool {
	it := &items[i]
	if d.small {
		for _, o := range items[:i] {
			if o.addr == it.addr {
				return false
			}
		}
		return true
	}
	if d.s.addrSeen[it.addr] {
		return false
	}
	d.s.addrSeen[it.addr] = true
	return true
}

// newSRV and newGlue: SRV unique by (target, port), glue by (target, address).
func (d dedup) newSRVAndGlue(items []item, i int) (newSRV, newGlue bool) {
	it := &items[i]
	if d.small {
		newSRV, newGlue = true, true
		for _, o := range items[:i] {
			if o.port == -1 || o.host != it.host {
				continue
			}
			newSRV = newSRV && o.port != it.port
			newGlue = newGlue && o.addr != it.addr
		}
		return newSRV, newGlue
	}
	sk, gk := srvKey{it.host, it.port}, glueKey{it.host, it.addr}
	newSRV, newGlue = !d.s.srvSeen[sk], !d.s.glueSeen[gk]
	d.s.srvSeen[sk], d.s.glueSeen[gk] = true, true
	return newSRV, newGlue
}

// rrSetOf turns the (address, port) items of one name into records exactly as
// the stock plugin's A, AAAA and SRV builders do: addresses de-duplicated,
// SRV weight 100/N over all N items, SRV de-duplicated by (target, port) and
// glue by (target, address). Records land in the slab.
func (s *rrScratch) rrSetOf(o *IndexOptions, all []item, idx []int32, sl *slab) *rrSet {
	set := &carve(&sl.sets, 1)[0]
	items := s.items[:0]
	for _, i := range idx {
		items = append(items, all[i])
	}
	s.items = items
	d := dedup{s: s, small: len(items) <= linearDedupMax}
	if !d.small {
		s.addrSeen = resetMap(s.addrSeen)
	}
	hdr := func(t uint16, name string) dns.RR_Header {
		return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: o.TTL}
	}

	a, aaaa := s.a[:0], s.aaaa[:0]
	for i, it := range items {
		if !d.newAddr(items, i) {
			continue
		}
		if it.addr.Is4() {
			a = append(a, dns.A{Hdr: hdr(dns.TypeA, ""), A: it.ip})
		} else {
			aaaa = append(aaaa, dns.AAAA{Hdr: hdr(dns.TypeAAAA, ""), AAAA: it.ip})
		}
	}
	set.a, set.aaaa = keep(&sl.a, a), keep(&sl.aaaa, aaaa)
	s.a, s.aaaa = a, aaaa

	weight := uint16(math.Floor(100.0 / float64(100*len(items)) * 100))
	weight = max(weight, 1)
	set.z = carve(&sl.z, len(o.Zones))
	for zi := range o.Zones {
		srv, glueA, glue6 := s.srv[:0], s.glueA[:0], s.glue6[:0]
		if !d.small {
			s.srvSeen = resetMap(s.srvSeen)
			s.glueSeen = resetMap(s.glueSeen)
		}
		for i, it := range items {
			if it.port == -1 {
				continue
			}
			newSRV, newGlue := d.newSRVAndGlue(items, i)
			target := it.targets[zi]
			if newSRV {
				srv = append(srv, dns.SRV{Hdr: hdr(dns.TypeSRV, ""), Weight: weight, Port: uint16(it.port), Target: target})
			}
			if newGlue && it.addr.Is4() {
				glueA = append(glueA, dns.A{Hdr: hdr(dns.TypeA, target), A: it.ip})
			} else if newGlue {
				glue6 = append(glue6, dns.AAAA{Hdr: hdr(dns.TypeAAAA, target), AAAA: it.ip})
			}
		}
		set.z[zi] = zoneRRs{srv: keep(&sl.srv, srv), glueA: keep(&sl.a, glueA), glue6: keep(&sl.aaaa, glue6)}
		s.srv, s.glueA, s.glue6 = srv, glueA, glue6
	}
	return set
}
