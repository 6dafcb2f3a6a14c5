package index

import (
	"net/netip"
	"slices"

	"github.com/headlessdns/headless/internal/object"
)

// item is one (address, port) pair of a Service: what the stock plugin calls
// a msg.Service. Port -1 marks a slice without ports.
type item struct {
	host        string
	addr        netip.Addr
	targets     []string // SRV target of this address per forward zone, shared
	port        int32
	pi          int16       // index of the port in its slice (the API allows 100)
	servingOnly bool        // published because it is serving, not ready (headless.dns/publish: serving)
	nameOnly    bool        // under its own names and PTR only: not ready (headless.dns/publish-not-ready: hostnames)
	loc         *object.Loc // where the endpoint runs (interned)
}

// sameAnswer reports whether two items answer alike.
func (it *item) sameAnswer(o *item) bool {
	return it.host == o.host && it.addr == o.addr && it.port == o.port && it.loc.Zone == o.loc.Zone && it.servingOnly == o.servingOnly && it.nameOnly == o.nameOnly
}

// ptrChange replaces the PTR contributions of one slice: those of its
// previous build by those of its new one (either nil).
type ptrChange struct{ old, new *sliceBuild }

// builder turns Services' slices into record sets. It remembers, per
// Service, what each slice contributed, so a change costs what it changes:
// only the slices that changed are derived again, only the endpoint names
// whose items changed get new record sets, and only the Service-wide sets
// (the Service name, its ports, its zones) are rebuilt whole. It runs under
// the index lock, one Service at a time.
type builder struct {
	state    map[string]*svcBuild // service key -> its memory
	affected map[string]bool      // scratch: endpoint names to rebuild
}

// service builds the record sets of svc from its slices. changed names the
// slices that changed since the last build (nil: look at every slice, as
// for a new Service or a changed one): a change costs what it changes.
func (b *builder) service(o *Options, key string, svc *object.Service, slicesOf map[string]*object.Slice, changed map[string]struct{}) (*Records, []ptrChange) {
	st, ptrs, anew := b.memoryOf(o, key, svc)
	if anew || changed == nil {
		changed = sliceIDs(st.slices, slicesOf)
	}
	b.affected = resetMap(b.affected)
	// with no name in two slices, a changed name is held only by changed
	// slices: their new versions alone tell whether it stays
	unique := st.nhosts == st.hosts.len()
	p := &buildPass{o: o, key: key, svc: svc, st: st, parts: slices.Clone(st.parts), ptrs: ptrs}
	for id := range changed {
		b.rederive(p, id, slicesOf[id])
	}
	if p.membership {
		p.parts = st.sortedParts()
	}
	st.parts = p.parts
	among := p.parts
	if unique {
		among = p.news
	}
	st.hosts = st.hosts.with(b.hostSets(among))
	return &Records{svc: svc, hosts: st.hosts, wide: wideSource{o: o, parts: p.parts}}, p.ptrs
}

// memoryOf is the builder's memory of a Service, made anew (anew true) for
// a Service it has none of or whose publish policy changed (every slice is
// then derived again; ptrs withdraws what the old memory contributed).
func (b *builder) memoryOf(o *Options, key string, svc *object.Service) (st *svcBuild, ptrs []ptrChange, anew bool) {
	if b.state == nil {
		b.state = map[string]*svcBuild{}
	}
	st = b.state[key]
	mode := publishMode{svc.Policy.PublishServing, svc.Policy.Hostnames(o.Hostnames)}
	if st != nil && st.mode != mode {
		ptrs = b.drop(key)
		st = nil
	}
	if st == nil {
		st = newSvcBuild()
		st.mode = mode
		b.state[key] = st
		anew = true
	}
	return st, ptrs, anew
}

// sliceIDs is every slice id of either map: what to look at when a whole
// Service is built.
func sliceIDs(built map[string]*sliceBuild, slicesOf map[string]*object.Slice) map[string]struct{} {
	ids := make(map[string]struct{}, len(built)+len(slicesOf))
	for id := range built {
		ids[id] = struct{}{}
	}
	for id := range slicesOf {
		ids[id] = struct{}{}
	}
	return ids
}

// buildPass is one build of one Service: what its changed slices gave.
type buildPass struct {
	o          *Options
	key        string
	svc        *object.Service
	st         *svcBuild
	parts      []*sliceBuild // the contributions in slice order (while no slice came or went)
	news       []*sliceBuild // the new versions of changed slices
	ptrs       []ptrChange
	membership bool // a slice came or went: parts are sorted anew
}

// rederive derives slice id again from its new version s (nil: gone) and
// files the change in the Service's memory: which names it affects, its
// PTR contributions, its place among the parts.
func (b *builder) rederive(p *buildPass, id string, s *object.Slice) {
	st := p.st
	old := st.slices[id]
	if old != nil && old.slice == s {
		return
	}
	var nb *sliceBuild
	if s != nil {
		nb = b.deriveSlice(p.o, p.key, p.svc, s, old)
	}
	if nb != nil && nb.rederived != nil {
		rederivedHosts(old, nb, b.affected)
		nb.rederived = nil
	} else {
		changedHosts(old, nb, b.affected)
	}
	if old != nil {
		st.nhosts -= len(old.hosts)
	}
	if nb == nil {
		delete(st.slices, id)
		p.ptrs = append(p.ptrs, ptrChange{old: old})
		p.membership = true
		return
	}
	st.nhosts += len(nb.hosts)
	p.news = append(p.news, nb)
	p.membership = p.membership || old == nil
	st.slices[id] = nb
	p.ptrs = append(p.ptrs, ptrChange{old: old, new: nb})
	if !p.membership {
		i, _ := slices.BinarySearch(st.ids, id)
		p.parts[i] = nb
	}
}

// drop forgets a Service that is gone, returning the PTR contributions to remove.
func (b *builder) drop(key string) []ptrChange {
	st := b.state[key]
	if st == nil {
		return nil
	}
	delete(b.state, key)
	ptrs := make([]ptrChange, 0, len(st.slices))
	for _, sb := range st.slices {
		ptrs = append(ptrs, ptrChange{old: sb})
	}
	return ptrs
}

// hostSets returns new entries for the affected endpoint names that one of
// among (the slices that may hold them) holds, nil for the others; their
// record sets are built when first asked for (hostEntry).
func (b *builder) hostSets(among []*sliceBuild) map[string]*hostEntry {
	changes := make(map[string]*hostEntry, len(b.affected))
	for h := range b.affected {
		changes[h] = nil
		hh := hostHash(h)
		for _, sb := range among {
			if sb.has(h, hh) {
				changes[h] = &hostEntry{}
				break
			}
		}
	}
	return changes
}

// buildWide builds the Service-wide sets: the Service name, each port key
// (shared when it selects the same items as another), and with zonal each
// topology zone.
func buildWide(w wideSource) (map[string]*RRSet, map[string]*RRSet) {
	w.parts = readyParts(w.parts)
	var items []item
	for _, p := range w.parts {
		items = append(items, p.items...)
	}
	agg := map[string]*RRSet{}
	if len(items) == 0 {
		return agg, nil
	}
	mode := dedupFor(w.parts, items)
	var rr rrScratch
	sl := &slab{}
	all := rr.rrSetOf(w.o, items, nil, sl, mode)
	agg[""] = all
	bySig := map[string]*RRSet{}
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
		if z := items[i].loc.Zone; z != "" {
			byZone[z] = append(byZone[z], int32(i))
		}
	}
	zones := make(map[string]*RRSet, len(byZone))
	for z, idx := range byZone {
		if len(idx) == len(items) {
			zones[z] = all
		} else {
			zones[z] = rr.rrSetOf(w.o, items, idx, sl, mode)
		}
	}
	return agg, zones
}

// readyParts returns the slices' contributions as the Service name and its
// ports list them: never the items published under their own names only
// (not ready, the hostnames policy), and the serving, terminating ones only
// when no endpoint is ready (kube-proxy's fallback). Endpoint names keep
// them all.
func readyParts(parts []*sliceBuild) []*sliceBuild {
	dropServing, nameOnly := dropsServing(parts)
	if nameOnly == 0 && !dropServing {
		return parts
	}
	out := make([]*sliceBuild, len(parts))
	for i, p := range parts {
		if p.nameOnly == 0 && (p.servingOnly == 0 || !dropServing) {
			out[i] = p
			continue
		}
		c := *p
		c.items = make([]item, 0, len(p.items)-p.nameOnly)
		for _, it := range p.items {
			if !it.nameOnly && !(dropServing && it.servingOnly) {
				c.items = append(c.items, it)
			}
		}
		c.servingOnly, c.nameOnly = 0, 0
		if !dropServing {
			c.servingOnly = p.servingOnly
		}
		out[i] = &c
	}
	return out
}

// dropsServing reports whether the Service name leaves out the serving,
// terminating items (some endpoint is ready), and counts the items
// published under their own names only.
func dropsServing(parts []*sliceBuild) (drop bool, nameOnly int) {
	serving, total := 0, 0
	for _, p := range parts {
		serving += p.servingOnly
		nameOnly += p.nameOnly
		total += len(p.items)
	}
	return serving > 0 && serving+nameOnly < total, nameOnly
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
