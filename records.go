package headless

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// svcRecords is the published, immutable answer set of one headless Service.
// Record sets are built from the slices' contributions when first asked
// for: an endpoint name's once per entry (a new entry when its items
// change, see hostEntry), the Service-wide sets (the Service name, its port
// keys, its zones: every endpoint, O(n) records) once per published version.
// So a change to one endpoint of a large Service costs what it changes, and
// names nobody asks for cost nothing.
type svcRecords struct {
	svc   *Service
	hosts hostMap // endpoint names
	wide  wideSource
	once  sync.Once
	agg   map[string]*rrSet // the Service itself ("") and its port keys
	zones map[string]*rrSet // topology zone -> its endpoints (zone-scoped names)

	locOnce   sync.Once
	loc4      *loc4Table          // where each address runs: built when topology order first asks
	loc6      map[[16]byte]*epLoc //
	posA      []*epLoc            // where the Service name's A records run, by position
	posAAAA   []*epLoc            // and its AAAA records
	rankMemos sync.Map            // rankKey -> []uint8: the Service name's order per client place
	memoCount atomic.Int32
	turn      atomic.Uint32 // rotation of capped replies
}

// Loc returns where the endpoint with address ip runs, or nil.
func (r *svcRecords) Loc(ip net.IP) *epLoc {
	r.locOnce.Do(r.buildLocs)
	return r.loc(ip)
}

func (r *svcRecords) loc(ip net.IP) *epLoc {
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

func (r *svcRecords) buildLocs() {
	n := 0
	for _, p := range r.wide.parts {
		n += len(p.slice.Endpoints)
	}
	r.loc4, r.loc6 = newLoc4Table(n), map[[16]byte]*epLoc{}
	for _, p := range r.wide.parts {
		for i := range p.slice.Endpoints {
			ep := &p.slice.Endpoints[i]
			loc := ep.Loc
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
		r.posA = make([]*epLoc, len(set.a))
		for i := range set.a {
			r.posA[i] = r.loc(set.a[i].A)
		}
		r.posAAAA = make([]*epLoc, len(set.aaaa))
		for i := range set.aaaa {
			r.posAAAA[i] = r.loc(set.aaaa[i].AAAA)
		}
	}
}

// posLocs are the locations of the Service name's records of type qtype
// (A or AAAA), by position.
func (r *svcRecords) posLocs(qtype uint16) []*epLoc {
	r.locOnce.Do(r.buildLocs)
	if qtype == dns.TypeAAAA {
		return r.posAAAA
	}
	return r.posA
}

// wideSource is what the Service-wide sets are built from: immutable.
type wideSource struct {
	o     *IndexOptions
	parts []*sliceBuild // in slice order
}

func (r *svcRecords) wideSets() {
	r.once.Do(func() { r.agg, r.zones = buildWide(r.wide) })
}

// Name returns the record set of a key below the Service, or nil.
func (r *svcRecords) Name(key string) *rrSet {
	if key == "" || isPortKey(key) {
		r.wideSets()
		return r.agg[key]
	}
	if e := r.hosts.get(key); e != nil {
		return e.get(r.wide, key)
	}
	return nil
}

// Zone returns the record set of the endpoints in a topology zone, or nil.
func (r *svcRecords) Zone(zone string) *rrSet {
	r.wideSets()
	return r.zones[zone]
}
