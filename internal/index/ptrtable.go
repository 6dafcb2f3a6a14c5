package index

import (
	"net/netip"
	"slices"
	"sort"
)

// ptrTable is the published PTR side: every address that has a PTR, sorted,
// with its contributions inline, in chunks copied on write. A readiness flip
// in a large Service copies one chunk and the chunk index. The same table
// answers PTR queries (a reverse name is parsed to its address), locates
// clients that are endpoints, and tells which reverse names lie above a
// published address. Immutable once published.
type ptrTable struct {
	chunks [][]PTRs // each sorted by address and non-empty, in order
	n      int
}

const ptrChunk = 64 // a chunk is split when it grows past twice this

// ptrEdit is one address's new contributions; none removes the address.
type ptrEdit struct {
	addr netip.Addr
	refs PTRs
}

func (e *PTRs) key() netip.Addr { return e.first.addr }

func cmpEntry(e PTRs, a netip.Addr) int { return e.first.addr.Compare(a) }

// Len is the number of addresses.
func (t *ptrTable) Len() int { return t.n }

// chunkFor is the index of the chunk where a belongs: the first whose last
// address is not below a (the last chunk when a is above all).
func (t *ptrTable) chunkFor(a netip.Addr) int {
	i := sort.Search(len(t.chunks), func(i int) bool {
		c := t.chunks[i]
		return c[len(c)-1].key().Compare(a) >= 0
	})
	return min(i, len(t.chunks)-1)
}

// get returns the contributions of a, or nil.
func (t *ptrTable) get(a netip.Addr) *PTRs {
	if t.n == 0 {
		return nil
	}
	c := t.chunks[t.chunkFor(a)]
	if j, ok := slices.BinarySearchFunc(c, a, cmpEntry); ok {
		return &c[j]
	}
	return nil
}

// anyIn reports whether an address of the table is inside p.
func (t *ptrTable) anyIn(p netip.Prefix) bool {
	if t.n == 0 {
		return false
	}
	lo := p.Masked().Addr()
	c := t.chunks[t.chunkFor(lo)]
	j, _ := slices.BinarySearchFunc(c, lo, cmpEntry)
	return j < len(c) && p.Contains(c[j].key())
}

// with returns the table with the edits (sorted by address, one per
// address) applied; t itself is not modified. Few edits copy the chunks
// they touch; many rebuild the table in one merge.
func (t *ptrTable) with(edits []ptrEdit) *ptrTable {
	if len(edits) == 0 {
		return t
	}
	if len(t.chunks) == 0 || 2*t.touched(edits) > len(t.chunks) {
		return t.rebuilt(edits)
	}
	out := &ptrTable{chunks: make([][]PTRs, 0, len(t.chunks)+1), n: t.n}
	j := 0
	for i, c := range t.chunks {
		k := t.editsEnd(i, edits, j)
		if k == j {
			out.chunks = append(out.chunks, c)
			continue
		}
		merged := mergeEdits(c, edits[j:k])
		j = k
		out.n += len(merged) - len(c)
		if len(merged) <= 2*ptrChunk {
			if len(merged) > 0 {
				out.chunks = append(out.chunks, merged)
			}
			continue
		}
		// split, a chunk an allocation: pieces of one array would keep
		// all of it alive once some are replaced
		for len(merged) > 0 {
			k := ptrChunk
			if len(merged) <= 2*ptrChunk {
				k = len(merged)
			}
			out.chunks = append(out.chunks, slices.Clone(merged[:k]))
			merged = merged[k:]
		}
	}
	return out
}

// editsEnd is where the edits that fall in chunk i end, those before j
// having fallen in earlier chunks.
func (t *ptrTable) editsEnd(i int, edits []ptrEdit, j int) int {
	if i == len(t.chunks)-1 {
		return len(edits)
	}
	c := t.chunks[i]
	last := c[len(c)-1].key()
	for j < len(edits) && edits[j].addr.Compare(last) <= 0 {
		j++
	}
	return j
}

// touched counts the chunks the edits fall in: when they are more than
// half, one merge into new chunks costs no more than copying them, and
// evens out chunks that deletions shrank.
func (t *ptrTable) touched(edits []ptrEdit) int {
	n, j := 0, 0
	for i := range t.chunks {
		if k := t.editsEnd(i, edits, j); k > j {
			n++
			j = k
		}
		if j == len(edits) {
			break
		}
	}
	return n
}

// mergeEdits returns old (sorted) with the sorted edits applied.
func mergeEdits(old []PTRs, edits []ptrEdit) []PTRs {
	out := make([]PTRs, 0, len(old)+len(edits))
	j := 0
	for _, e := range edits {
		for j < len(old) && old[j].key().Compare(e.addr) < 0 {
			out = append(out, old[j])
			j++
		}
		if j < len(old) && old[j].key() == e.addr {
			j++ // replaced or removed
		}
		if !e.refs.empty() {
			out = append(out, e.refs)
		}
	}
	return slices.Clip(append(out, old[j:]...))
}

// rebuilt merges the whole table with the edits into new chunks, a chunk
// an allocation (a chunk replaced later frees its memory).
func (t *ptrTable) rebuilt(edits []ptrEdit) *ptrTable {
	out := &ptrTable{chunks: make([][]PTRs, 0, (t.n+len(edits))/ptrChunk+1)}
	var cur []PTRs
	emit := func(e *PTRs) {
		if e.empty() {
			return
		}
		if cur == nil {
			cur = make([]PTRs, 0, ptrChunk)
		}
		cur = append(cur, *e)
		out.n++
		if len(cur) == ptrChunk {
			out.chunks = append(out.chunks, cur)
			cur = nil
		}
	}
	j := 0
	for _, c := range t.chunks {
		for i := range c {
			a := c[i].key()
			for ; j < len(edits) && edits[j].addr.Compare(a) < 0; j++ {
				emit(&edits[j].refs)
			}
			if j < len(edits) && edits[j].addr == a {
				emit(&edits[j].refs) // replaced or removed
				j++
				continue
			}
			emit(&c[i])
		}
	}
	for ; j < len(edits); j++ {
		emit(&edits[j].refs)
	}
	if len(cur) > 0 {
		out.chunks = append(out.chunks, slices.Clip(cur))
	}
	return out
}
