package headless

import (
	"net/netip"
	"slices"
	"strconv"

	"github.com/miekg/dns"
)

// ptrRef is one PTR contribution: a Service publishes target for addr.
type ptrRef struct {
	addr   netip.Addr
	svc    string
	target string
	loc    *epLoc // where the endpoint runs: locates clients that are endpoints
}

// ptrRefs are the PTRs contributed for one address; nearly always one, kept
// inline in the map so that one address costs no allocation of its own. An
// empty first (invalid address) means none.
type ptrRefs struct {
	first ptrRef
	more  []ptrRef
}

func (p *ptrRefs) empty() bool { return !p.first.addr.IsValid() }

func (p *ptrRefs) add(r ptrRef) {
	if p.empty() {
		p.first = r
	} else {
		p.more = append(p.more, r)
	}
}

func (p *ptrRefs) remove(r ptrRef) {
	if p.first == r {
		p.first = ptrRef{}
		if len(p.more) > 0 {
			p.first, p.more = p.more[0], p.more[1:]
		}
	} else if i := slices.Index(p.more, r); i >= 0 {
		p.more = slices.Delete(p.more, i, i+1)
	}
}

// ptrSet is the published PTR answer of one address; one allocation in the
// common case of a single PTR.
type ptrSet struct {
	rr  []dns.PTR
	one [1]dns.PTR
	loc *epLoc // of the first contribution
	svc string // service key of the first contribution (its TTL policy)
}

// ptrBook keeps who contributes which PTR, and which addresses changed since
// the last publish (only those are rebuilt).
type ptrBook struct {
	own     map[string][]ptrRef     // service key -> the PTRs it contributes
	refs    map[netip.Addr]ptrRefs  // address -> every PTR contributed for it
	changed map[netip.Addr]struct{} // since the last publish
	keep    map[ptrRef]bool         // scratch
	had     map[ptrRef]bool         // scratch
}

func newPTRBook() ptrBook {
	return ptrBook{own: map[string][]ptrRef{}, refs: map[netip.Addr]ptrRefs{}, changed: map[netip.Addr]struct{}{},
		keep: map[ptrRef]bool{}, had: map[ptrRef]bool{}}
}

// empty reports whether no address is filed.
func (b *ptrBook) empty() bool { return len(b.refs) == 0 }

// reserve sizes an empty book for about n addresses: the first build files
// every address of the cluster, and growing the maps there allocated twice
// what they end up holding.
func (b *ptrBook) reserve(n int) {
	if len(b.refs) == 0 && n > len(b.changed) {
		b.refs = make(map[netip.Addr]ptrRefs, n)
		b.changed = make(map[netip.Addr]struct{}, n)
	}
}

// replace swaps the PTR contributions filed under key (a slice of a
// Service). A slice's refs keep their order from one version to the next,
// so only what lies between the common prefix and suffix is compared; a ref
// listed twice (an address twice in a slice) is filed once.
func (b *ptrBook) replace(key string, refs []ptrRef) {
	old := b.own[key]
	if slices.Equal(old, refs) {
		return
	}
	p := 0
	for p < len(old) && p < len(refs) && old[p] == refs[p] {
		p++
	}
	q := 0
	for q < len(old)-p && q < len(refs)-p && old[len(old)-1-q] == refs[len(refs)-1-q] {
		q++
	}
	gone, came := old[p:len(old)-q], refs[p:len(refs)-q]
	if len(gone)+len(came) > 8 {
		b.swapAll(old, refs)
	} else {
		kept := func(r ptrRef, list []ptrRef, mid []ptrRef) bool {
			return slices.Contains(list[:p], r) || slices.Contains(list[len(list)-q:], r) || slices.Contains(mid, r)
		}
		for i, r := range gone {
			if !kept(r, refs, came) && !slices.Contains(gone[:i], r) {
				b.unfile(r)
			}
		}
		for i, r := range came {
			if !kept(r, old, gone) && !slices.Contains(came[:i], r) {
				b.file(r)
			}
		}
	}
	if len(refs) == 0 {
		delete(b.own, key)
	} else {
		b.own[key] = refs
	}
}

// swapAll replaces old refs by new ones by sets.
func (b *ptrBook) swapAll(old, refs []ptrRef) {
	if len(old) == 0 { // a new contributor (every slice at start-up): no maps
		for i, r := range refs {
			if e := b.refs[r.addr]; (e.first == r || slices.Contains(e.more, r)) && slices.Contains(refs[:i], r) {
				continue // a repeat within refs (filed once; another contributor's copy counts on its own)
			}
			b.file(r)
		}
		return
	}
	b.keep = resetMap(b.keep)
	for _, r := range refs {
		b.keep[r] = true
	}
	b.had = resetMap(b.had)
	for _, r := range old {
		if !b.had[r] && !b.keep[r] {
			b.unfile(r)
		}
		b.had[r] = true
	}
	for _, r := range refs {
		if !b.had[r] {
			b.file(r)
		}
		b.had[r] = true
	}
}

func (b *ptrBook) file(r ptrRef) {
	e := b.refs[r.addr]
	e.add(r)
	b.refs[r.addr] = e
	b.changed[r.addr] = struct{}{}
}

func (b *ptrBook) unfile(r ptrRef) {
	e := b.refs[r.addr]
	e.remove(r)
	if e.empty() {
		delete(b.refs, r.addr)
	} else {
		b.refs[r.addr] = e
	}
	b.changed[r.addr] = struct{}{}
}

// publish returns the PTR sets of the changed addresses (nil deletes) keyed by
// reverse name, and the set of every published address with the changes
// applied (set itself is not modified).
func (b *ptrBook) publish(o *IndexOptions, set *addrSet) (map[string]*ptrSet, *addrSet) {
	out := make(map[string]*ptrSet, len(b.changed))
	var added, removed []netip.Addr
	for addr := range b.changed {
		name := reverseName(addr)
		e, ok := b.refs[addr]
		if !ok {
			removed = append(removed, addr)
			out[name] = nil
			continue
		}
		added = append(added, addr) // inserting a present address is a no-op
		out[name] = newPTRSet(o.TTL, &e)
	}
	b.changed = resetMap(b.changed)
	if len(added) == 0 && len(removed) == 0 {
		return out, set
	}
	slices.SortFunc(added, netip.Addr.Compare)
	return out, set.with(added, removed)
}

// reverseName is addr's reverse (PTR) name, lowercase FQDN, as
// dns.ReverseAddr writes it; IPv4 without formatting the address first.
func reverseName(addr netip.Addr) string {
	if !addr.Is4() {
		name, _ := dns.ReverseAddr(addr.String())
		return name
	}
	b4 := addr.As4()
	buf := make([]byte, 0, len("255.255.255.255.in-addr.arpa."))
	for i := 3; i >= 0; i-- {
		buf = strconv.AppendUint(buf, uint64(b4[i]), 10)
		buf = append(buf, '.')
	}
	return string(append(buf, "in-addr.arpa."...))
}

func newPTRSet(ttl uint32, e *ptrRefs) *ptrSet {
	set := &ptrSet{loc: e.first.loc, svc: e.first.svc}
	hdr := dns.RR_Header{Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}
	if len(e.more) == 0 {
		set.one[0] = dns.PTR{Hdr: hdr, Ptr: e.first.target}
		set.rr = set.one[:]
		return set
	}
	seen := map[string]bool{}
	for _, r := range append([]ptrRef{e.first}, e.more...) {
		if !seen[r.target] {
			seen[r.target] = true
			set.rr = append(set.rr, dns.PTR{Hdr: hdr, Ptr: r.target})
		}
	}
	return set
}
