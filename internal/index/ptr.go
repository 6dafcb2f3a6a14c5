package index

import (
	"cmp"
	"net/netip"
	"slices"
	"strings"
	"unsafe"

	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// ptrRef is one PTR contribution: a Service publishes target for addr.
type ptrRef struct {
	addr   netip.Addr
	svc    string
	target string
	loc    *object.Loc // where the endpoint runs: locates clients that are endpoints
	named  bool        // the endpoint has a hostname (its pod's subdomain names the Service)
}

// PTRs are the PTRs contributed for one address; nearly always one, kept
// inline in the table so that one address costs no allocation of its own
// (the rare others behind a pointer). An empty first (invalid address)
// means none.
type PTRs struct {
	first ptrRef
	more  *[]ptrRef
}

// ServiceKey is the key ("namespace/name") of the Service of the first
// contribution (the first by namespace, then name).
func (p *PTRs) ServiceKey() string { return p.first.svc }

func (p *PTRs) empty() bool { return !p.first.addr.IsValid() }

// others are the contributions after the first.
func (p *PTRs) others() []ptrRef {
	if p.more == nil {
		return nil
	}
	return *p.more
}

func (p *PTRs) setOthers(m []ptrRef) {
	if len(m) == 0 {
		p.more = nil
	} else {
		p.more = &m
	}
}

// add files r in its place: an address's contributions are kept in the
// order of cmpPTRRefs, so that its records come in one order on every
// replica, whatever order the slices arrived in.
func (p *PTRs) add(r ptrRef) {
	if p.empty() {
		p.first = r
		return
	}
	if cmpPTRRefs(r, p.first) < 0 {
		r, p.first = p.first, r
	}
	more := p.others()
	i := 0
	for i < len(more) && cmpPTRRefs(more[i], r) <= 0 {
		i++
	}
	p.setOthers(slices.Insert(more, i, r))
}

// cmpPTRRefs orders an address's contributions: by Service (namespace,
// then name), then target, a named endpoint first.
func cmpPTRRefs(a, b ptrRef) int {
	if c := cmpServiceKeys(a.svc, b.svc); c != 0 {
		return c
	}
	if c := strings.Compare(a.target, b.target); c != 0 {
		return c
	}
	if a.named != b.named {
		if a.named {
			return -1
		}
		return 1
	}
	return 0
}

func (p *PTRs) remove(r ptrRef) {
	more := p.others()
	if p.first == r {
		p.first = ptrRef{}
		if len(more) > 0 {
			p.first = more[0]
			p.setOthers(more[1:])
		}
	} else if i := slices.Index(more, r); i >= 0 {
		p.setOthers(slices.Delete(more, i, i+1))
	}
}

// ptrBook keeps the PTR contributions filed and withdrawn since the last
// publish, in order; publish applies them to the published table. Who
// contributes what is not kept here: a slice's build lists its own.
type ptrBook struct {
	ops      []ptrOp  // since the last publish
	old, new []ptrRef // scratch: a slice's contributions before and after
}

// ptrOp files (add) or withdraws one contribution; ops are kept in filing
// order (publish sorts their indices by address, that order kept within
// one address).
type ptrOp struct {
	r   ptrRef
	add bool
}

// replace swaps the PTR contributions of a slice's previous build by those
// of its new one. A slice's refs keep their order from one version to the
// next, so only what lies between the common prefix and suffix is compared;
// a ref listed twice (an address twice in a slice) is filed once.
func (b *ptrBook) replace(c ptrChange) {
	old := c.old.ptrRefs(b.old[:0])
	refs := c.new.ptrRefs(b.new[:0])
	b.old, b.new = old, refs
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
}

// swapAll replaces old refs by new ones as sets: both lists (the book's
// scratch) are sorted and walked together; a ref listed twice counts once.
func (b *ptrBook) swapAll(old, refs []ptrRef) {
	slices.SortFunc(old, cmpRef)
	slices.SortFunc(refs, cmpRef)
	old, refs = slices.Compact(old), slices.Compact(refs)
	i, j := 0, 0
	for i < len(old) || j < len(refs) {
		c := 1 // old[i] is not in refs
		switch {
		case i == len(old):
			c = -1
		case j < len(refs):
			c = cmpRef(refs[j], old[i])
		}
		switch {
		case c < 0:
			b.file(refs[j])
			j++
		case c > 0:
			b.unfile(old[i])
			i++
		default:
			i++
			j++
		}
	}
}

// cmpRef orders refs by address first (nearly always decisive), then by
// every other field: equal refs compare 0.
func cmpRef(x, y ptrRef) int {
	if c := x.addr.Compare(y.addr); c != 0 {
		return c
	}
	if c := strings.Compare(x.svc, y.svc); c != 0 {
		return c
	}
	if c := strings.Compare(x.target, y.target); c != 0 {
		return c
	}
	if x.named != y.named {
		return cmp.Compare(b2i(x.named), b2i(y.named))
	}
	return cmp.Compare(uintptr(unsafe.Pointer(x.loc)), uintptr(unsafe.Pointer(y.loc)))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (b *ptrBook) file(r ptrRef) {
	b.ops = append(b.ops, ptrOp{r: r, add: true})
}
func (b *ptrBook) unfile(r ptrRef) { b.ops = append(b.ops, ptrOp{r: r}) }

// applyTo returns the published table t with the ops since the last
// publish applied (t itself is not modified).
func (b *ptrBook) applyTo(t *ptrTable) *ptrTable {
	if len(b.ops) == 0 {
		return t
	}
	ops := b.ops
	// sorted by address, in filing order within one: indices are sorted,
	// not the ops (moving an op is moving its pointers)
	order := make([]int32, len(ops))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		if c := ops[x].r.addr.Compare(ops[y].r.addr); c != 0 {
			return c
		}
		return int(x - y)
	})
	edits := make([]ptrEdit, 0, len(ops))
	for i := 0; i < len(order); {
		a := ops[order[i]].r.addr
		var e PTRs
		if was := t.get(a); was != nil {
			e = *was
			e.setOthers(slices.Clone(e.others())) // the published one stays as it is
		}
		for ; i < len(order) && ops[order[i]].r.addr == a; i++ {
			if op := &ops[order[i]]; op.add {
				e.add(op.r)
			} else {
				e.remove(op.r)
			}
		}
		edits = append(edits, ptrEdit{addr: a, refs: e})
	}
	if cap(b.ops) > 4096 {
		b.ops = nil // the first build's log is not kept
	} else {
		b.ops = b.ops[:0]
	}
	return t.with(edits)
}

// Records are the PTR records of the address's contributions, one per
// distinct target, named name.
func (p *PTRs) Records(name string, ttl uint32) []dns.RR {
	hdr := dns.RR_Header{Name: name, Rrtype: dns.TypePTR, Class: dns.ClassINET, Ttl: ttl}
	more := p.others()
	if len(more) == 0 {
		return []dns.RR{&dns.PTR{Hdr: hdr, Ptr: p.first.target}}
	}
	out := []dns.RR{&dns.PTR{Hdr: hdr, Ptr: p.first.target}}
	for i, r := range more {
		if r.target != p.first.target && !slices.ContainsFunc(more[:i], func(o ptrRef) bool { return o.target == r.target }) {
			out = append(out, &dns.PTR{Hdr: hdr, Ptr: r.target})
		}
	}
	return out
}

// Single is the one contribution single_ptr answers with, as PTRs of its
// own: the endpoint that has a hostname (the Service its pod's subdomain
// names), else the first Service by namespace, then name; p itself when it
// has one contribution.
func (p *PTRs) Single() *PTRs {
	more := p.others()
	if len(more) == 0 {
		return p
	}
	best := p.first
	for _, r := range more {
		if r.named != best.named {
			if r.named {
				best = r
			}
			continue
		}
		if c := cmpServiceKeys(r.svc, best.svc); c < 0 || c == 0 && r.target < best.target {
			best = r
		}
	}
	return &PTRs{first: best}
}

// Contributions are the Service keys that contribute a PTR for the address,
// the first one's first, each once.
func (p *PTRs) Contributions() []string {
	out := []string{p.first.svc}
	for _, r := range p.others() {
		if !slices.Contains(out, r.svc) {
			out = append(out, r.svc)
		}
	}
	return out
}

// cmpServiceKeys orders Service keys (name.namespace) by namespace, then
// name.
func cmpServiceKeys(a, b string) int {
	an, ans := splitServiceKey(a)
	bn, bns := splitServiceKey(b)
	if c := strings.Compare(ans, bns); c != 0 {
		return c
	}
	return strings.Compare(an, bn)
}

// splitServiceKey splits a Service key into name and namespace (a Service
// name has no dot; a namespace has none either).
func splitServiceKey(k string) (name, namespace string) {
	name, namespace, _ = strings.Cut(k, ".")
	return name, namespace
}
