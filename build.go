package headless

import (
	"encoding/binary"
	"hash/maphash"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// svcRecords is the published, immutable answer set of one headless Service.
// Endpoint names are built when their slice changes; the Service-wide sets
// (the Service name, its port keys, its zones: every endpoint, O(n) records)
// are built from the slices' contributions when first asked for, once per
// published version, so a change to one endpoint of a large Service costs
// what it changes.
type svcRecords struct {
	svc   *Service
	hosts hostMap // endpoint names
	wide  wideSource
	once  sync.Once
	agg   map[string]*rrSet // the Service itself ("") and its port keys
	zones map[string]*rrSet // topology zone -> its endpoints (zone-scoped names)

	locOnce sync.Once
	loc4    *loc4Table          // where each address runs: built when topology order first asks
	loc6    map[[16]byte]*epLoc //
	turn    atomic.Uint32       // rotation of capped replies
}

// Loc returns where the endpoint with address ip runs, or nil.
func (r *svcRecords) Loc(ip net.IP) *epLoc {
	r.locOnce.Do(r.buildLocs)
	if len(ip) == net.IPv4len {
		return r.loc4.get(binary.BigEndian.Uint32(ip))
	}
	if ip4 := ip.To4(); ip4 != nil {
		return r.loc4.get(binary.BigEndian.Uint32(ip4))
	}
	if len(ip) != net.IPv6len {
		return nil
	}
	return r.loc6[[16]byte(ip)]
}

func (r *svcRecords) buildLocs() {
	n := 0
	for _, p := range r.wide.parts {
		n += len(p.slice.Endpoints)
	}
	r.loc4, r.loc6 = newLoc4Table(n), map[[16]byte]*epLoc{}
	shared := map[epLoc]*epLoc{}
	for _, p := range r.wide.parts {
		for i := range p.slice.Endpoints {
			ep := &p.slice.Endpoints[i]
			l := epLoc{node: ep.NodeName, zone: ep.Zone, hintZones: ep.HintZones, hintNodes: ep.HintNodes}
			loc := shared[l]
			if loc == nil {
				loc = &l
				shared[l] = loc
			}
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
	return r.hosts.get(key)
}

// Zone returns the record set of the endpoints in a topology zone, or nil.
func (r *svcRecords) Zone(zone string) *rrSet {
	r.wideSets()
	return r.zones[zone]
}

// item is one (address, port) pair of a Service: what the stock plugin calls
// a msg.Service. Port -1 marks a slice without ports.
type item struct {
	host    string
	addr    netip.Addr
	targets []string // SRV target of this address per forward zone, shared
	port    int32
	pi      int32 // index of the port in its slice
	zone    string
	serving bool // published as serving, not ready (headless.dns/publish: serving)
}

// sameAnswer reports whether two items answer alike.
func (it *item) sameAnswer(o *item) bool {
	return it.host == o.host && it.addr == o.addr && it.port == o.port && it.zone == o.zone && it.serving == o.serving
}

// ptrChange replaces the PTR contributions filed under key.
type ptrChange struct {
	key  string
	refs []ptrRef
}

// builder turns Services' slices into record sets. It remembers, per
// Service, what each slice contributed, so a change costs what it changes:
// only the slices that changed are derived again, only the endpoint names
// whose items changed get new record sets, and only the Service-wide sets
// (the Service name, its ports, its zones) are rebuilt whole. It runs under
// the index lock, one Service at a time.
type builder struct {
	state    map[string]*svcBuild // service key -> its memory
	rr       rrScratch
	affected map[string]bool  // scratch: endpoint names to rebuild
	locs     map[epLoc]*epLoc // interned endpoint locations
}

// intern returns the shared copy of an endpoint location.
func (b *builder) intern(l epLoc) *epLoc {
	if p := b.locs[l]; p != nil {
		return p
	}
	if b.locs == nil || len(b.locs) > 1<<16 {
		b.locs = map[epLoc]*epLoc{} // bounded: older copies stay valid where they are used
	}
	p := &l
	b.locs[l] = p
	return p
}

// service builds the record sets of svc from its slices. changed names the
// slices that changed since the last build (nil: look at every slice, as
// for a new Service or a changed one): a change costs what it changes.
func (b *builder) service(o *IndexOptions, key string, svc *Service, slicesOf map[string]*Slice, changed map[string]struct{}) (*svcRecords, []ptrChange) {
	if b.state == nil {
		b.state = map[string]*svcBuild{}
	}
	var ptrs []ptrChange
	st := b.state[key]
	if st != nil && st.serving != svc.Policy.serving {
		ptrs = b.drop(key) // its publish policy changed: every slice is derived again
		st = nil
	}
	if st == nil {
		st = newSvcBuild()
		st.serving = svc.Policy.serving
		b.state[key] = st
		changed = nil
	}
	if changed == nil {
		changed = make(map[string]struct{}, len(st.slices)+len(slicesOf))
		for id := range st.slices {
			changed[id] = struct{}{}
		}
		for id := range slicesOf {
			changed[id] = struct{}{}
		}
	}
	b.affected = resetMap(b.affected)
	membership := false
	parts := slices.Clone(st.parts)
	for id := range changed {
		old, s := st.slices[id], slicesOf[id]
		if old != nil && old.slice == s {
			continue
		}
		var nb *sliceBuild
		if s != nil {
			nb = b.deriveSlice(o, key, svc, s, old)
		}
		if nb != nil && nb.fresh != nil {
			freshHosts(old, nb, b.affected)
			nb.fresh = nil
		} else {
			changedHosts(old, nb, b.affected)
		}
		switch {
		case nb == nil:
			delete(st.slices, id)
			ptrs = append(ptrs, ptrChange{key: key + "/" + id})
			membership = true
			continue
		case old == nil:
			membership = true
		}
		st.slices[id] = nb
		if old == nil || !slices.Equal(old.refs, nb.refs) {
			ptrs = append(ptrs, ptrChange{key: key + "/" + id, refs: nb.refs})
		}
		if !membership {
			i, _ := slices.BinarySearch(st.ids, id)
			parts[i] = nb
		}
	}
	if membership {
		st.ids = st.ids[:0:0]
		for id := range st.slices {
			st.ids = append(st.ids, id)
		}
		slices.Sort(st.ids)
		parts = make([]*sliceBuild, len(st.ids))
		for i, id := range st.ids {
			parts[i] = st.slices[id]
		}
	}
	st.parts = parts
	st.hosts = st.hosts.with(b.hostSets(o, st))
	return &svcRecords{svc: svc, hosts: st.hosts, wide: wideSource{o: o, parts: parts}}, ptrs
}

// drop forgets a Service that is gone, returning the PTR contributions to remove.
func (b *builder) drop(key string) []ptrChange {
	st := b.state[key]
	if st == nil {
		return nil
	}
	delete(b.state, key)
	ptrs := make([]ptrChange, 0, len(st.slices))
	for id := range st.slices {
		ptrs = append(ptrs, ptrChange{key: key + "/" + id})
	}
	return ptrs
}

// hostSets builds the record sets of the affected endpoint names from every
// slice holding them (nearly always one), in slice order; nil for a name no
// slice holds any more.
func (b *builder) hostSets(o *IndexOptions, st *svcBuild) map[string]*rrSet {
	changes := make(map[string]*rrSet, len(b.affected))
	sl := &slab{}
	var items []item
	for h := range b.affected {
		items = items[:0]
		hh := hostHash(h)
		for _, sb := range st.parts {
			if !sb.bloom.has(hh) {
				continue
			}
			if _, ok := slices.BinarySearch(sb.hosts, h); !ok {
				continue
			}
			for i := range sb.items {
				if sb.items[i].host == h {
					items = append(items, sb.items[i])
				}
			}
		}
		if len(items) == 0 {
			changes[h] = nil
			continue
		}
		changes[h] = b.rr.rrSetOf(o, items, nil, sl, dedupLinear)
	}
	return changes
}

// buildWide builds the Service-wide sets: the Service name, each port key
// (shared when it selects the same items as another), and with zonal each
// topology zone.
func buildWide(w wideSource) (map[string]*rrSet, map[string]*rrSet) {
	w.parts = readyParts(w.parts)
	var items []item
	for _, p := range w.parts {
		items = append(items, p.items...)
	}
	agg := map[string]*rrSet{}
	if len(items) == 0 {
		return agg, nil
	}
	mode := dedupMaps
	switch {
	case len(items) <= linearDedupMax:
		mode = dedupLinear
	case duplicateFree(w.parts, items):
		mode = dedupRuns
	}
	var rr rrScratch
	sl := &slab{}
	all := rr.rrSetOf(w.o, items, nil, sl, mode)
	agg[""] = all
	bySig := map[string]*rrSet{}
	for k, idx := range portKeyItems(w.parts) {
		if len(idx) == len(items) {
			agg[k] = all
			continue
		}
		sig := string(int32Bytes(idx))
		if bySig[sig] == nil {
			bySig[sig] = rr.rrSetOf(w.o, items, idx, sl, mode)
		}
		agg[k] = bySig[sig]
	}
	if !w.o.Zonal {
		return agg, nil
	}
	byZone := map[string][]int32{}
	for i := range items {
		if z := items[i].zone; z != "" {
			byZone[z] = append(byZone[z], int32(i))
		}
	}
	zones := make(map[string]*rrSet, len(byZone))
	for z, idx := range byZone {
		if len(idx) == len(items) {
			zones[z] = all
		} else {
			zones[z] = rr.rrSetOf(w.o, items, idx, sl, mode)
		}
	}
	return agg, zones
}

// readyParts returns the slices' contributions with only their ready items
// when some are published as serving and some endpoint is ready: the Service
// name and its ports list serving, terminating endpoints only when no
// endpoint is ready (kube-proxy's fallback). Endpoint names keep them.
func readyParts(parts []*sliceBuild) []*sliceBuild {
	serving, total := 0, 0
	for _, p := range parts {
		serving += p.serving
		total += len(p.items)
	}
	if serving == 0 || serving == total {
		return parts
	}
	out := make([]*sliceBuild, len(parts))
	for i, p := range parts {
		if p.serving == 0 {
			out[i] = p
			continue
		}
		c := *p
		c.items = make([]item, 0, len(p.items)-p.serving)
		for _, it := range p.items {
			if !it.serving {
				c.items = append(c.items, it)
			}
		}
		c.serving = 0
		out[i] = &c
	}
	return out
}

// portKeyItems lists, for every port key of the slices, the indices of the
// items it selects (items in slice order, as concatenated).
func portKeyItems(parts []*sliceBuild) map[string][]int32 {
	out := map[string][]int32{}
	base := int32(0)
	for _, sb := range parts {
		for i := range sb.items {
			for _, k := range sb.portKeys[sb.items[i].pi] {
				out[k] = append(out[k], base+int32(i))
			}
		}
		base += int32(len(sb.items))
	}
	return out
}

// sliceBuild is what one slice contributes to its Service.
type sliceBuild struct {
	slice    *Slice
	items    []item     // published (address, port) items, endpoints and ports as written
	hosts    []string   // the distinct endpoint names of items, sorted
	portKeys [][]string // per slice port: every spelling that selects it
	refs     []ptrRef
	spans    []span    // per endpoint of the slice, and one past the last
	fresh    []int32   // derived from a previous version: the endpoints derived anew (nil: all were)
	bloom    hostBloom // of hosts
	multi    int       // published endpoints with more than one address
	serving  int       // items published as serving, not ready
}

// deriveSlice computes a slice's items, names and PTR contributions: ready
// endpoints, and with publish: serving also serving (terminating) ones.
func (b *builder) deriveSlice(o *IndexOptions, key string, svc *Service, s *Slice, old *sliceBuild) *sliceBuild {
	sb := &sliceBuild{slice: s, spans: make([]span, 0, len(s.Endpoints)+1)}
	// exact sizes: append's doubling would leave up to half of each unused
	addrs := 0
	for i := range s.Endpoints {
		if ep := &s.Endpoints[i]; ep.Ready || (svc.Policy.serving && ep.Serving) {
			addrs += len(ep.Addrs)
		}
	}
	sb.items = make([]item, 0, addrs*len(s.Ports))
	if len(s.Ports) > 0 {
		sb.hosts = make([]string, 0, addrs)
		if len(o.Zones) > 0 {
			sb.refs = make([]ptrRef, 0, addrs)
		}
	}
	reuse := old != nil && slices.Equal(old.slice.Ports, s.Ports)
	if reuse {
		sb.portKeys = old.portKeys
		sb.fresh = []int32{}
	} else {
		sb.portKeys = portKeysOf(s.Ports)
	}
	suffix := "." + svc.Name + "." + svc.Namespace + ".svc"
	var targetPool []string // items keep it alive: sized for the endpoints derived anew only
	if !reuse {
		targetPool = make([]string, 0, addrs*len(o.Zones))
	}
	for i := range s.Endpoints {
		sb.spans = append(sb.spans, span{items: int32(len(sb.items)), refs: int32(len(sb.refs))})
		ep := &s.Endpoints[i]
		same := reuse && i < len(old.slice.Endpoints) && sameEndpoint(&old.slice.Endpoints[i], ep)
		if reuse && !same {
			sb.fresh = append(sb.fresh, int32(i)) // also when it is no longer published: its old names change
		}
		if !ep.Ready && !(svc.Policy.serving && ep.Serving) {
			continue
		}
		if len(ep.Addrs) > 1 {
			sb.multi++
		}
		if same {
			sb.reuse(old, i, len(s.Ports) > 0) // an unchanged endpoint: what it contributed before
			continue
		}
		loc := b.intern(epLoc{node: ep.NodeName, zone: ep.Zone, hintZones: ep.HintZones, hintNodes: ep.HintNodes})
		for ai, addr := range ep.Addrs {
			host := strings.ToLower(endpointHostname(ep, ep.addrString(ai), o.PodNames))
			targets := carve(&targetPool, len(o.Zones))
			for zi, zone := range o.Zones {
				targets[zi] = joinName(host+suffix, zone)
			}
			for pi, p := range s.Ports {
				sb.items = append(sb.items, item{host: host, addr: addr, targets: targets, port: p.Port, pi: int32(pi), zone: ep.Zone, serving: !ep.Ready})
				if !ep.Ready {
					sb.serving++
				}
			}
			if len(s.Ports) > 0 {
				sb.hosts = append(sb.hosts, host)
			}
			if len(o.Zones) > 0 && len(s.Ports) > 0 { // PTR targets are written in the first forward zone
				sb.refs = append(sb.refs, ptrRef{addr: addr, svc: key, target: targets[0], loc: loc}) // duplicates: the PTR book keeps one
			}
		}
	}
	sb.spans = append(sb.spans, span{items: int32(len(sb.items)), refs: int32(len(sb.refs))})
	slices.Sort(sb.hosts)
	sb.hosts = slices.Compact(sb.hosts)
	for _, h := range sb.hosts {
		sb.bloom.add(hostHash(h))
	}
	return sb
}

// hostBloom tells, with few false positives, whether a slice holds a name:
// finding the slices of a changed name does not search every slice.
type hostBloom [16]uint64

var bloomSeed = maphash.MakeSeed()

func hostHash(h string) uint64 { return maphash.String(bloomSeed, h) }

func (f *hostBloom) add(x uint64) {
	f[x&1023>>6] |= 1 << (x & 63)
	y := x >> 10
	f[y&1023>>6] |= 1 << (y & 63)
}

func (f *hostBloom) has(x uint64) bool {
	y := x >> 10
	return f[x&1023>>6]&(1<<(x&63)) != 0 && f[y&1023>>6]&(1<<(y&63)) != 0
}

// span is where one endpoint's contributions start in a sliceBuild.
type span struct{ items, refs int32 }

// reuse appends what endpoint i contributed to old.
func (sb *sliceBuild) reuse(old *sliceBuild, i int, ports bool) {
	a, z := old.spans[i], old.spans[i+1]
	for _, it := range old.items[a.items:z.items] {
		if it.serving {
			sb.serving++
		}
		if ports && it.pi == 0 {
			sb.hosts = append(sb.hosts, it.host)
		}
	}
	sb.items = append(sb.items, old.items[a.items:z.items]...)
	sb.refs = append(sb.refs, old.refs[a.refs:z.refs]...)
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

func int32Bytes(v []int32) []byte {
	b := make([]byte, 0, 4*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8), byte(x>>16), byte(x>>24))
	}
	return b
}

// resetMap empties a scratch map. One that held many entries (a full
// build) is dropped: clearing and iterating a map costs its capacity, and
// the common change touches a few.
func resetMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil || len(m) > 256 {
		return map[K]V{}
	}
	clear(m)
	return m
}
