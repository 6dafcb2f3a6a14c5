package headless

import (
	"net/netip"
	"slices"
	"sort"
)

// addrSet is the sorted set of every published PTR address, kept in chunks
// and copied on write: a readiness flip in a large Service copies one chunk
// and the chunk index, not every address. Immutable once published.
type addrSet struct {
	chunks [][]netip.Addr // each sorted and non-empty, in order
	n      int
}

const addrChunk = 256 // a chunk is split when it grows past twice this

// Len is the number of addresses.
func (s *addrSet) Len() int { return s.n }

// chunkFor is the index of the chunk where a belongs: the first whose last
// address is not below a (the last chunk when a is above all).
func (s *addrSet) chunkFor(a netip.Addr) int {
	i := sort.Search(len(s.chunks), func(i int) bool {
		c := s.chunks[i]
		return c[len(c)-1].Compare(a) >= 0
	})
	return min(i, len(s.chunks)-1)
}

// anyIn reports whether an address of the set is inside p.
func (s *addrSet) anyIn(p netip.Prefix) bool {
	if s.n == 0 {
		return false
	}
	lo := p.Masked().Addr()
	c := s.chunks[s.chunkFor(lo)]
	j, _ := slices.BinarySearchFunc(c, lo, netip.Addr.Compare)
	return j < len(c) && p.Contains(c[j])
}

// with returns the set with added and removed applied. A few changes copy
// the chunks they touch; many rebuild the set in one merge.
func (s *addrSet) with(added, removed []netip.Addr) *addrSet {
	if len(added)+len(removed) > s.n/16+8 {
		return s.rebuilt(added, removed)
	}
	out := &addrSet{chunks: slices.Clone(s.chunks), n: s.n}
	for _, a := range removed {
		out.remove(a)
	}
	for _, a := range added {
		out.insert(a)
	}
	return out
}

func (s *addrSet) insert(a netip.Addr) {
	if len(s.chunks) == 0 {
		s.chunks = [][]netip.Addr{{a}}
		s.n = 1
		return
	}
	i := s.chunkFor(a)
	c := s.chunks[i]
	j, found := slices.BinarySearchFunc(c, a, netip.Addr.Compare)
	if found {
		return
	}
	nc := make([]netip.Addr, 0, len(c)+1)
	nc = append(append(append(nc, c[:j]...), a), c[j:]...)
	s.n++
	if len(nc) <= 2*addrChunk {
		s.chunks[i] = nc
		return
	}
	half := len(nc) / 2
	s.chunks = slices.Insert(s.chunks, i+1, nc[half:len(nc):len(nc)])
	s.chunks[i] = nc[:half:half]
}

func (s *addrSet) remove(a netip.Addr) {
	if len(s.chunks) == 0 {
		return
	}
	i := s.chunkFor(a)
	c := s.chunks[i]
	j, found := slices.BinarySearchFunc(c, a, netip.Addr.Compare)
	if !found {
		return
	}
	s.n--
	if len(c) == 1 {
		s.chunks = slices.Delete(s.chunks, i, i+1)
		return
	}
	nc := make([]netip.Addr, 0, len(c)-1)
	s.chunks[i] = append(append(nc, c[:j]...), c[j+1:]...)
}

// rebuilt merges the changes into one sorted list and chunks it again.
func (s *addrSet) rebuilt(added, removed []netip.Addr) *addrSet {
	gone := make(map[netip.Addr]struct{}, len(removed))
	for _, a := range removed {
		gone[a] = struct{}{}
	}
	all := make([]netip.Addr, 0, s.n+len(added))
	for _, c := range s.chunks {
		for _, a := range c {
			if _, g := gone[a]; !g {
				all = append(all, a)
			}
		}
	}
	all = append(all, added...)
	slices.SortFunc(all, netip.Addr.Compare)
	all = slices.Compact(all)
	out := &addrSet{n: len(all)}
	for len(all) > 0 {
		k := min(addrChunk, len(all))
		out.chunks = append(out.chunks, all[:k:k])
		all = all[k:]
	}
	return out
}
