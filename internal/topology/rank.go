package topology

import (
	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// ClientLoc is where a client runs; the zero value is an unknown client.
type ClientLoc struct{ Node, Zone string }

// Known reports whether anything is known of where the client runs.
func (c ClientLoc) Known() bool { return c.Node != "" || c.Zone != "" }

// MaxRank is the last rank: PreferSameNode ranks node 0, zone 1, rest 2.
const MaxRank = 2

// Ends are where each rank's group of an ordered answer ends.
type Ends [MaxRank + 1]int

// rank orders an endpoint for a client under a traffic mode, 0 first:
// PreferSameZone: same zone 0, rest 1; PreferSameNode: same node 0, same
// zone 1, rest 2; an endpoint of another cluster (a clusterset name's) ranks
// MaxRank, after all of the client's own cluster. Zone: the endpoint's hints.forZones when the controller
// set them (as kube-proxy reads them), else its own zone. Unknown endpoints
// (nil) rank last.
func rank(m object.TrafficMode, e *object.Loc, c ClientLoc) int {
	last := 1
	if m == object.TrafficSameNode {
		last = 2
	}
	if e == nil {
		return last
	}
	if e.Away {
		return MaxRank // another cluster's: after every endpoint of the client's own
	}
	sameZone := c.Zone != "" && ((e.HintZones != "" && object.HasHint(e.HintZones, c.Zone)) || (e.HintZones == "" && e.Zone == c.Zone))
	if m == object.TrafficSameNode {
		switch {
		case c.Node != "" && (e.Node == c.Node || object.HasHint(e.HintNodes, c.Node)):
			return 0
		case sameZone:
			return 1
		}
		return 2
	}
	if sameZone {
		return 0
	}
	return last
}

// rankMemo remembers the ranks of a few endpoint locations for one reply's
// client: locations are interned (one pointer per place, interned when a slice is reduced),
// so a reply's addresses share few of them (one per zone, or per node).
type rankMemo struct {
	locs  [8]*object.Loc
	ranks [8]uint8
	n     int // entries in use
	evict int // the entry replaced next when all are in use
}

func (m *rankMemo) reset() { m.n, m.evict = 0, 0 }

// rank is l's rank for s's client.
func (m *rankMemo) rank(s *Shaping, l *object.Loc) uint8 {
	for i := 0; i < m.n; i++ {
		if m.locs[i] == l {
			return m.ranks[i]
		}
	}
	r := uint8(rank(s.Mode, l, s.Client))
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

// RankKey is what an answer's order for s's client depends on: the traffic
// mode, the record type and where the client runs (its node only under
// PreferSameNode). Replies with one key share one order.
type RankKey struct {
	mode   object.TrafficMode
	qtype  uint16
	client ClientLoc
}

// RankKey is the key of s's order of records of type qtype.
func (s *Shaping) RankKey(qtype uint16) RankKey {
	k := RankKey{mode: s.Mode, qtype: qtype, client: s.Client}
	if s.Mode != object.TrafficSameNode {
		k.client.Node = ""
	}
	return k
}

// RankLocs are the ranks of records located at locs, by position, for s's
// client (sc's memo as working memory).
func (s *Shaping) RankLocs(locs []*object.Loc, sc *Scratch) []uint8 {
	ranks := make([]uint8, len(locs))
	sc.memo.reset()
	for i, l := range locs {
		ranks[i] = sc.memo.rank(s, l)
	}
	return ranks
}

// Place copies src (owner name set) into one allocation, as the plugin
// copies records for a reply, and returns the copies stably ordered by ranks (only the pointers
// move) and each rank's group end.
func Place[T any, P interface {
	*T
	dns.RR
}](src []T, ranks []uint8, name string) ([]dns.RR, Ends) {
	var count, next, ends Ends
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
