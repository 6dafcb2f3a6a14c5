package headless

import "github.com/miekg/dns"

// rankMemo remembers the ranks of a few endpoint locations for one reply's
// client: locations are interned (one pointer per place, see locInterner),
// so a reply's addresses share few of them (one per zone, or per node).
type rankMemo struct {
	locs  [8]*epLoc
	ranks [8]uint8
	n     int // entries in use
	evict int // the entry replaced next when all are in use
}

func (m *rankMemo) reset() { m.n, m.evict = 0, 0 }

// rank is l's rank for s's client.
func (m *rankMemo) rank(s *shaping, l *epLoc) uint8 {
	for i := 0; i < m.n; i++ {
		if m.locs[i] == l {
			return m.ranks[i]
		}
	}
	r := uint8(rank(s.mode, l, s.client))
	i := m.n
	if i == len(m.locs) { // full: replace in turn
		i = m.evict
		m.evict = (m.evict + 1) % len(m.locs)
	} else {
		m.n++
	}
	m.locs[i], m.ranks[i] = l, r
	return r
}

// rankKey is what a Service name's order depends on: the traffic mode and
// where the client runs (its node only under PreferSameNode).
type rankKey struct {
	mode   trafficMode
	qtype  uint16
	client clientLoc
}

// maxRankMemos bounds the orders one Service version remembers (clients
// that differ by node under PreferSameNode are many; zones are few).
const maxRankMemos = 64

// positionRanks are the ranks, by position, of the Service name's records
// of type qtype for s's client: computed once per Service version and
// client place, then shared by every reply to that place.
func (r *svcRecords) positionRanks(s *shaping, qtype uint16, sc *scratch) []uint8 {
	k := rankKey{mode: s.mode, qtype: qtype, client: s.client}
	if s.mode != trafficSameNode {
		k.client.node = ""
	}
	if v, ok := r.rankMemos.Load(k); ok {
		return v.([]uint8)
	}
	locs := r.posLocs(qtype)
	ranks := make([]uint8, len(locs))
	sc.memo.reset()
	for i, l := range locs {
		ranks[i] = sc.memo.rank(s, l)
	}
	if r.memoCount.Add(1) <= maxRankMemos {
		r.rankMemos.Store(k, ranks)
	}
	return ranks
}

// presortedAnswer writes the A or AAAA answer of the Service name in the
// client's topology order when the front step planned one for this query
// (copies, as copyRRs makes, placed by rank). It remembers what it wrote so
// that the front step can tell whether anything reordered it since.
func (cw *clientWriter) presortedAnswer(set *rrSet, qtype uint16, name string) ([]dns.RR, bool) {
	if cw == nil || (qtype != dns.TypeA && qtype != dns.TypeAAAA) || !cw.s.ordered() || cw.sc == nil || cw.recs.Name("") != set {
		return nil, false
	}
	sc := cw.sc
	ranks := cw.recs.positionRanks(&cw.s, qtype, sc)
	var out []dns.RR
	var ends [maxRank + 1]int
	if qtype == dns.TypeA {
		out, ends = placeRRs(set.a, ranks, name)
	} else {
		out, ends = placeRRs(set.aaaa, ranks, name)
	}
	sc.order = append(sc.order[:0], out...)
	cw.pre = presorted{order: sc.order, ends: ends, ok: true}
	return out, true
}

// placeRRs copies src (owner name set) into one allocation, as copyRRs
// does, and returns the copies stably ordered by ranks (only the pointers
// move) and each rank's group end.
func placeRRs[T any, P interface {
	*T
	dns.RR
}](src []T, ranks []uint8, name string) ([]dns.RR, [maxRank + 1]int) {
	var count, next, ends [maxRank + 1]int
	for _, r := range ranks {
		count[r]++
	}
	n := 0
	for r := range count {
		next[r] = n
		n += count[r]
		ends[r] = n
	}
	arr := make([]T, len(src))
	copy(arr, src)
	out := make([]dns.RR, len(src))
	for i := range arr {
		p := P(&arr[i])
		p.Header().Name = name
		out[next[ranks[i]]] = p
		next[ranks[i]]++
	}
	return out, ends
}
