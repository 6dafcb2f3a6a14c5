package index

import "net/netip"

// De-duplication: the stock plugin drops repeated addresses, SRV records
// and glue; rrSetOf does the same, in the cheapest way the items allow.

// dedupMode is how rrSetOf tells first occurrences apart among a name's
// items: by a linear scan of all earlier items (the few items most names
// have), within the run of the same name (a duplicate-free Service: see
// duplicateFree), or by maps. dedupFor chooses it.
type dedupMode int

const (
	dedupLinear dedupMode = iota
	dedupRuns
	dedupMaps
)

const linearDedupMax = 16

type dedup struct {
	s    *rrScratch
	mode dedupMode
}

// earlier returns the items to compare item i with under linear or run modes.
func (d dedup) earlier(items []item, i int) []item {
	if d.mode == dedupLinear {
		return items[:i]
	}
	j := i
	for j > 0 && items[j-1].host == items[i].host {
		j--
	}
	return items[j:i]
}

func (d dedup) newAddr(items []item, i int) bool {
	it := &items[i]
	if d.mode == dedupMaps {
		if d.s.addrSeen[it.addr] {
			return false
		}
		d.s.addrSeen[it.addr] = true
		return true
	}
	for _, o := range d.earlier(items, i) {
		if o.addr == it.addr {
			return false
		}
	}
	return true
}

// newSRVAndGlue: SRV unique by (target, port), glue by (target, address).
func (d dedup) newSRVAndGlue(items []item, i int) (newSRV, newGlue bool) {
	it := &items[i]
	if d.mode == dedupMaps {
		sk, gk := srvKey{it.host, it.port}, glueKey{it.host, it.addr}
		newSRV, newGlue = !d.s.srvSeen[sk], !d.s.glueSeen[gk]
		d.s.srvSeen[sk], d.s.glueSeen[gk] = true, true
		return newSRV, newGlue
	}
	newSRV, newGlue = true, true
	for _, o := range d.earlier(items, i) {
		if o.port == -1 || o.host != it.host {
			continue
		}
		newSRV = newSRV && o.port != it.port
		newGlue = newGlue && o.addr != it.addr
	}
	return newSRV, newGlue
}

// dedupFor is the mode for building records from items, the contributions
// of parts (nil: items alone, as for one endpoint name), and any subset of
// them: linear for the few items most names have, runs when no address or
// name is repeated, else maps.
func dedupFor(parts []*sliceBuild, items []item) dedupMode {
	switch {
	case len(items) <= linearDedupMax:
		return dedupLinear
	case duplicateFree(parts, items):
		return dedupRuns
	}
	return dedupMaps
}

// duplicateFree reports whether every endpoint has one address and no
// address or name occurs twice among items. The items of one name are then
// consecutive and unique but for their ports, and de-duplication needs only
// look back within a name.
func duplicateFree(parts []*sliceBuild, items []item) bool {
	for _, p := range parts {
		if p.multi > 0 {
			return false
		}
	}
	addrs := make(map[netip.Addr]struct{}, len(items))
	hosts := make(map[string]struct{}, len(items))
	for i := range items {
		it := &items[i]
		if it.pi != 0 {
			continue // one occurrence per (endpoint, address)
		}
		if _, dup := addrs[it.addr]; dup {
			return false
		}
		if _, dup := hosts[it.host]; dup {
			return false
		}
		addrs[it.addr], hosts[it.host] = struct{}{}, struct{}{}
	}
	return true
}
