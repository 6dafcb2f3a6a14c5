package headless

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"unsafe"

	"github.com/miekg/dns"
)

// svcRecords is the published, immutable answer set of one headless Service.
type svcRecords struct {
	svc   *Service
	names map[string]*rrSet // key below the Service: "" the Service, a host, a portKey
	zones map[string]*rrSet // topology zone -> its endpoints (zone-scoped names)
}

// Name returns the record set of a key below the Service, or nil.
func (r *svcRecords) Name(key string) *rrSet { return r.names[key] }

// Zone returns the record set of the endpoints in a topology zone, or nil.
func (r *svcRecords) Zone(zone string) *rrSet { return r.zones[zone] }

// item is one (address, port) pair of a Service: what the stock plugin calls
// a msg.Service. Port -1 marks a slice without ports.
type item struct {
	host    string
	addr    netip.Addr
	ip      net.IP   // addr as net.IP, shared by every record of this address
	targets []string // SRV target of this address per forward zone, shared
	port    int32
	zone    string
}

// builder turns one Service's slices into record sets. Its memory is reused
// Service after Service (it runs under the index lock, one at a time).
type builder struct {
	items   []item                     // every (address, port) of the Service, in slice order
	names   map[string][]int32         // name key -> its items
	zones   map[string][]int32         // topology zone -> its items
	refs    []ptrRef                   // the Service's PTR contributions
	seenPTR map[ptrRef]bool            // scratch
	shared  map[string]string          // name key -> the key whose set it shares
	sigs    map[string]string          // item-list signature -> first key with it
	rr      rrScratch                  // scratch of rrSetOf
	order   []string                   // scratch: names to build
	sizes   struct{ a, aaaa, srv int } // exact pool sizes for the slab
}

// service builds every record set of svc from its slices.
func (b *builder) service(o *IndexOptions, svc *Service, slicesOf map[string]*Slice) (*svcRecords, []ptrRef) {
	b.collect(o, svc, slicesOf)
	b.plan(len(o.Zones))
	recs := b.emit(o, svc)
	refs := slices.Clone(b.refs)
	b.items, b.refs = b.items[:0], b.refs[:0]
	return recs, refs
}

// collect lists the Service's ready (address, port) items in a stable order
// (slices by name, endpoints and ports as written), files each under the
// names that answer it, and notes the PTR each address contributes.
func (b *builder) collect(o *IndexOptions, svc *Service, slicesOf map[string]*Slice) {
	b.names = resetMap(b.names)
	b.zones = resetMap(b.zones)
	b.seenPTR = resetMap(b.seenPTR)
	ids := make([]string, 0, len(slicesOf))
	for id := range slicesOf {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	suffix := "." + svc.Name + "." + svc.Namespace + ".svc"
	key := serviceKey(svc.Name, svc.Namespace)
	var targetPool []string
	for _, id := range ids {
		s := slicesOf[id]
		portKeys := portKeysOf(s.Ports)
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			if !ep.Ready {
				continue
			}
			for ai, addr := range ep.Addrs {
				host := strings.ToLower(endpointHostname(ep, ep.addrString(ai), o.PodNames))
				ip := net.IP(addr.AsSlice())
				targets := carve(&targetPool, len(o.Zones))
				for zi, zone := range o.Zones {
					targets[zi] = joinName(host+suffix, zone)
				}
				for pi, p := range s.Ports {
					n := int32(len(b.items))
					b.items = append(b.items, item{host: host, addr: addr, ip: ip, targets: targets, port: p.Port, zone: ep.Zone})
					b.names[host] = append(b.names[host], n)
					for _, k := range portKeys[pi] {
						b.names[k] = append(b.names[k], n)
					}
					if o.Zonal && ep.Zone != "" {
						b.zones[ep.Zone] = append(b.zones[ep.Zone], n)
					}
				}
				if len(o.Zones) > 0 { // PTR targets are written in the first forward zone
					r := ptrRef{addr: addr, svc: key, target: targets[0]}
					if !b.seenPTR[r] {
						b.seenPTR[r] = true
						b.refs = append(b.refs, r)
					}
				}
			}
		}
	}
}

// portKeysOf returns, per slice port, the keys of every spelling that
// selects it: name and protocol each either given or any (""), as the stock
// plugin matches them. The sentinel port of a port-less slice matches only
// "any port of any protocol".
func portKeysOf(ports []Port) [][]string {
	out := make([][]string, len(ports))
	for i, p := range ports {
		keys := []string{portKey("", "")}
		if p.Port == -1 && p.Name == "" {
			out[i] = keys
			continue
		}
		if p.Protocol != "" {
			keys = append(keys, portKey("", p.Protocol))
		}
		if p.Name != "" {
			keys = append(keys, portKey(p.Name, ""))
			if p.Protocol != "" {
				keys = append(keys, portKey(p.Name, p.Protocol))
			}
		}
		out[i] = keys
	}
	return out
}

// plan decides which names get a record set of their own: a name whose
// items are exactly another's shares that set (a port every endpoint has
// shares the Service's). It sizes the slab pools exactly.
func (b *builder) plan(nZones int) {
	b.shared = resetMap(b.shared)
	b.sigs = resetMap(b.sigs)
	b.order = b.order[:0]
	b.sizes.a, b.sizes.aaaa, b.sizes.srv = 0, 0, 0
	if len(b.items) > 0 {
		all := make([]int32, len(b.items))
		for i := range all {
			all[i] = int32(i)
		}
		b.names[""] = all
	}
	keys := make([]string, 0, len(b.names))
	for k := range b.names {
		keys = append(keys, k)
	}
	slices.Sort(keys) // "" first: every other name may share it
	for _, k := range keys {
		idx := b.names[k]
		if k != "" && len(idx) == len(b.items) {
			b.shared[k] = ""
			continue
		}
		if isPortKey(k) {
			sig := unsafe.String((*byte)(unsafe.Pointer(&idx[0])), 4*len(idx))
			if first, ok := b.sigs[sig]; ok {
				b.shared[k] = first
				continue
			}
			b.sigs[strings.Clone(sig)] = k
		}
		b.order = append(b.order, k)
		b.count(idx)
	}
	for _, idx := range b.zones {
		if len(idx) != len(b.items) {
			b.count(idx)
		}
	}
	b.sizes.a *= 1 + nZones // answers, and glue in each zone
	b.sizes.aaaa *= 1 + nZones
	b.sizes.srv *= nZones
}

// count adds the records of one name's items to the pool sizes.
func (b *builder) count(idx []int32) {
	for j, i := range idx {
		it := &b.items[i]
		if it.port != -1 {
			b.sizes.srv++
		}
		if j > 0 && b.items[idx[j-1]].addr == it.addr {
			continue // the same address again, for another port
		}
		if it.addr.Is4() {
			b.sizes.a++
		} else {
			b.sizes.aaaa++
		}
	}
}

// emit builds the planned record sets into one slab.
func (b *builder) emit(o *IndexOptions, svc *Service) *svcRecords {
	recs := &svcRecords{svc: svc, names: make(map[string]*rrSet, len(b.names))}
	nz := len(o.Zones)
	sl := &slab{
		sets: make([]rrSet, 0, len(b.order)+len(b.zones)),
		z:    make([]zoneRRs, 0, (len(b.order)+len(b.zones))*nz),
		a:    make([]dns.A, 0, b.sizes.a),
		aaaa: make([]dns.AAAA, 0, b.sizes.aaaa),
		srv:  make([]dns.SRV, 0, b.sizes.srv),
	}
	for _, k := range b.order {
		recs.names[k] = b.rr.rrSetOf(o, b.items, b.names[k], sl)
	}
	for k, to := range b.shared {
		recs.names[k] = recs.names[to]
	}
	if len(b.zones) > 0 {
		recs.zones = make(map[string]*rrSet, len(b.zones))
		for z, idx := range b.zones {
			if len(idx) == len(b.items) {
				recs.zones[z] = recs.names[""]
			} else {
				recs.zones[z] = b.rr.rrSetOf(o, b.items, idx, sl)
			}
		}
	}
	return recs
}

func resetMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	clear(m)
	return m
}
