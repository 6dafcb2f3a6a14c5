package headless

import (
	"net/netip"
	"slices"

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

// replace swaps the PTR contributions of one Service.
func (b *ptrBook) replace(key string, refs []ptrRef) {
	old := b.own[key]
	if slices.Equal(old, refs) {
		return
	}
	clear(b.keep)
	for _, r := range refs {
		b.keep[r] = true
	}
	clear(b.had)
	for _, r := range old {
		b.had[r] = true
		if b.keep[r] {
			continue
		}
		e := b.refs[r.addr]
		e.remove(r)
		if e.empty() {
			delete(b.refs, r.addr)
		} else {
			b.refs[r.addr] = e
		}
		b.changed[r.addr] = struct{}{}
	}
	for _, r := range refs {
		if b.had[r] {
			continue
		}
		e := b.refs[r.addr]
		e.add(r)
		b.refs[r.addr] = e
		b.changed[r.addr] = struct{}{}
	}
	if len(refs) == 0 {
		delete(b.own, key)
	} else {
		b.own[key] = refs
	}
}

// publish returns the PTR sets of the changed addresses (nil deletes) keyed by
// reverse name, and the sorted list of every published address, updated from
// sorted (which it does not modify).
func (b *ptrBook) publish(o *IndexOptions, sorted []netip.Addr) (map[string]*ptrSet, []netip.Addr) {
	out := make(map[string]*ptrSet, len(b.changed))
	var added, removed []netip.Addr
	for addr := range b.changed {
		name, _ := dns.ReverseAddr(addr.String())
		e, ok := b.refs[addr]
		_, was := slices.BinarySearchFunc(sorted, addr, netip.Addr.Compare)
		switch {
		case !ok && was:
			removed = append(removed, addr)
		case ok && !was:
			added = append(added, addr)
		}
		if !ok {
			out[name] = nil
			continue
		}
		out[name] = newPTRSet(o.TTL, &e)
	}
	clear(b.changed)
	if len(added) == 0 && len(removed) == 0 {
		return out, sorted
	}
	slices.SortFunc(added, netip.Addr.Compare)
	slices.SortFunc(removed, netip.Addr.Compare)
	next := make([]netip.Addr, 0, len(sorted)+len(added)-len(removed))
	i, j := 0, 0
	for _, a := range sorted {
		for i < len(added) && added[i].Less(a) {
			next = append(next, added[i])
			i++
		}
		if j < len(removed) && removed[j] == a {
			j++
			continue
		}
		next = append(next, a)
	}
	return out, append(next, added[i:]...)
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

// anyIn reports whether a sorted address list holds an address inside p.
func anyIn(sorted []netip.Addr, p netip.Prefix) bool {
	i, _ := slices.BinarySearchFunc(sorted, p.Masked().Addr(), netip.Addr.Compare)
	return i < len(sorted) && p.Contains(sorted[i])
}
