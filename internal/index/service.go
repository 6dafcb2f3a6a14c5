package index

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"

	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// Records is the published, immutable answer set of one headless Service.
// Record sets are built from the slices' contributions when first asked
// for: an endpoint name's once per entry (a new entry when its items
// change, see hostEntry), the Service-wide sets (the Service name, its port
// keys, its zones: every endpoint, O(n) records) once per published version.
// So a change to one endpoint of a large Service costs what it changes, and
// names nobody asks for cost nothing.
type Records struct {
	svc   *object.Service
	hosts hostMap // endpoint names
	wide  wideSource
	once  sync.Once
	agg   map[string]*RRSet // the Service itself ("") and its port keys
	zones map[string]*RRSet // topology zone -> its endpoints (zone-scoped names)

	locOnce   sync.Once
	loc4      *loc4Table               // where each address runs: built when topology order first asks
	loc6      map[[16]byte]*object.Loc //
	posA      []*object.Loc            // where the Service name's A records run, by position
	posAAAA   []*object.Loc            // and its AAAA records
	rankMemos sync.Map                 // the caller's key -> []uint8: the Service name's order per client place
	memoCount atomic.Int32
	turn      atomic.Uint32 // rotation of capped replies
}

// Service is the Service the records answer for.
func (r *Records) Service() *object.Service { return r.svc }

// NextTurn counts the capped replies of this version: the rotation of the
// next one.
func (r *Records) NextTurn() uint64 { return uint64(r.turn.Add(1) - 1) }

// maxRankMemos bounds the orders one Service version remembers (clients
// that differ by node under PreferSameNode are many; zones are few).
const maxRankMemos = 64

// Ranks are the ranks, by position, of r's Service-name records of type
// qtype (A or AAAA) for one client place: computed once per version and
// key (rank is given the records' locations by position), then shared by
// every reply to that place. (A function, not a method: generic, the key
// is boxed for the memo only when it is stored, not on every lookup.)
func Ranks[K comparable](r *Records, key K, qtype uint16, rank func(locs []*object.Loc) []uint8) []uint8 {
	if v, ok := r.rankMemos.Load(key); ok {
		return v.([]uint8)
	}
	ranks := rank(r.posLocs(qtype))
	if r.memoCount.Add(1) <= maxRankMemos {
		r.rankMemos.Store(key, ranks)
	}
	return ranks
}

// Loc returns where the endpoint with address ip runs, or nil.
func (r *Records) Loc(ip net.IP) *object.Loc {
	r.locOnce.Do(r.buildLocs)
	return r.loc(ip)
}

func (r *Records) loc(ip net.IP) *object.Loc {
	if len(ip) == net.IPv4len {
		return r.loc4.get(binary.BigEndian.Uint32(ip))
	}
	if len(ip) != net.IPv6len {
		return nil
	}
	a := [16]byte(ip)
	if [12]byte(a[:12]) == v4InV6Prefix {
		return r.loc4.get(binary.BigEndian.Uint32(a[12:]))
	}
	return r.loc6[a]
}

// v4InV6Prefix starts an IPv4 address in 16-byte form.
var v4InV6Prefix = [12]byte{10: 0xff, 11: 0xff}

func (r *Records) buildLocs() {
	n := 0
	for _, p := range r.wide.parts {
		n += len(p.slice.Endpoints)
	}
	r.loc4, r.loc6 = newLoc4Table(n), map[[16]byte]*object.Loc{}
	for _, p := range r.wide.parts {
		for i := range p.slice.Endpoints {
			ep := &p.slice.Endpoints[i]
			loc := r.wide.o.locOf(p.slice, ep)
			for _, a := range ep.Addrs {
				if a.Is4() {
					b := a.As4()
					r.loc4.add(binary.BigEndian.Uint32(b[:]), loc)
				} else if _, dup := r.loc6[a.As16()]; !dup {
					r.loc6[a.As16()] = loc
				}
			}
		}
	}
	if set := r.Name(""); set != nil {
		r.posA = make([]*object.Loc, len(set.a))
		for i := range set.a {
			r.posA[i] = r.loc(set.a[i].A)
		}
		r.posAAAA = make([]*object.Loc, len(set.aaaa))
		for i := range set.aaaa {
			r.posAAAA[i] = r.loc(set.aaaa[i].AAAA)
		}
	}
}

// posLocs are the locations of the Service name's records of type qtype
// (A or AAAA), by position.
func (r *Records) posLocs(qtype uint16) []*object.Loc {
	r.locOnce.Do(r.buildLocs)
	if qtype == dns.TypeAAAA {
		return r.posAAAA
	}
	return r.posA
}

// wideSource is what the Service-wide sets are built from: immutable.
type wideSource struct {
	o     *Options
	parts []*sliceBuild // in slice order
}

func (r *Records) wideSets() {
	r.once.Do(func() { r.agg, r.zones = buildWide(r.wide) })
}

// Name returns the record set of a key below the Service, or nil.
func (r *Records) Name(key string) *RRSet {
	if key == "" || isPortKey(key) {
		r.wideSets()
		return r.agg[key]
	}
	if e := r.hosts.get(key); e != nil {
		return e.get(r.wide, key)
	}
	return nil
}

// HasNames reports whether an endpoint name is published below the Service
// (its name is then an empty non-terminal when it has no records).
func (r *Records) HasNames() bool { return r.hosts.len() > 0 }

// Zone returns the record set of the endpoints in a topology zone, or nil.
func (r *Records) Zone(zone string) *RRSet {
	r.wideSets()
	return r.zones[zone]
}
