package headless

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// shaping is what one reply's per-client step does: order by topology and
// cap. It works on the finished message (fresh from headless, or from cache
// and loadbalance), so every client gets its own order and rotation.
type shaping struct {
	mode   trafficMode // trafficUnset: no topology order
	client clientLoc
	loc    func(netip.Addr) *epLoc // where an answer's address runs
	limit  int                     // most address (or SRV) records; 0: no cap
	size   int                     // the client's UDP buffer; 0 over TCP (no cap)
	turn   uint64                  // this reply's rotation
}

// Topology match of a reply, the match label of its metric.
const (
	matchNode = "node"
	matchZone = "zone"
	matchNone = "none"
)

// shape orders and caps m in place. It returns the topology match ("" when
// no order applied) and whether records were left out.
func shape(m *dns.Msg, s shaping) (match string, capped bool) {
	if len(m.Answer) < 2 {
		if s.mode != trafficUnset {
			return matchNone, false
		}
		return "", false
	}
	if _, ok := m.Answer[0].(*dns.SRV); ok {
		return shapeSRV(m, s)
	}
	ranks := make([]int, len(m.Answer))
	for i, rr := range m.Answer {
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA)
		default:
			return "", false // not an address answer: left as it is
		}
		ranks[i] = s.rankOf(a)
	}
	groups := groupByRank(ranks)
	match = s.matchOf(groups)
	orig := m.Answer
	answers := pick(orig, concat(groups))
	m.Answer = answers
	if s.limit == 0 || s.size == 0 {
		return match, false
	}
	k := fit(m, min(s.limit, len(answers)), s.size, func(k int) { m.Answer = answers[:k] })
	m.Answer = pick(orig, rotate(groups, k, s.turn, func(i int) string { return rdataKey(orig[i]) }))
	for k > 1 && !fits(m, s.size) {
		k--
		m.Answer = m.Answer[:k]
	}
	m.Truncated = false
	return match, len(m.Answer) < len(answers)
}

// shapeSRV orders SRV records by their target's rank (priority = rank, so
// RFC 2782 clients try preferred targets first) and caps SRV records and
// their glue together.
func shapeSRV(m *dns.Msg, s shaping) (string, bool) {
	targetRank := map[string]int{}
	for _, rr := range m.Extra {
		var a netip.Addr
		switch v := rr.(type) {
		case *dns.A:
			a, _ = netip.AddrFromSlice(v.A.To4())
		case *dns.AAAA:
			a, _ = netip.AddrFromSlice(v.AAAA)
		default:
			continue
		}
		owner := strings.ToLower(rr.Header().Name)
		r := s.rankOf(a)
		if old, ok := targetRank[owner]; !ok || r < old {
			targetRank[owner] = r
		}
	}
	ranks := make([]int, len(m.Answer))
	for i, rr := range m.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			return "", false
		}
		r, ok := targetRank[strings.ToLower(srv.Target)]
		if !ok {
			r = s.rankOf(netip.Addr{})
		}
		ranks[i] = r
	}
	groups := groupByRank(ranks)
	match := s.matchOf(groups)
	if match != "" && match != matchNone {
		low := groups[0].rank
		for i, rr := range m.Answer {
			rr.(*dns.SRV).Priority = uint16(ranks[i] - low)
		}
	}
	orig := m.Answer
	answers := pick(orig, concat(groups))
	extra := m.Extra
	m.Answer = answers
	if s.limit == 0 || s.size == 0 {
		return match, false
	}
	setK := func(sel []dns.RR) {
		m.Answer = sel
		m.Extra = glueOf(sel, extra)
	}
	k := fit(m, min(s.limit, len(answers)), s.size, func(k int) { setK(answers[:k]) })
	setK(pick(orig, rotate(groups, k, s.turn, func(i int) string { return rdataKey(orig[i]) })))
	for k > 1 && !fits(m, s.size) {
		k--
		setK(m.Answer[:k])
	}
	m.Truncated = false
	return match, len(m.Answer) < len(answers)
}

// glueOf keeps the records of extra that are not glue, and the glue of the
// SRV targets in answer.
func glueOf(answer, extra []dns.RR) []dns.RR {
	keep := make(map[string]bool, len(answer))
	for _, rr := range answer {
		keep[strings.ToLower(rr.(*dns.SRV).Target)] = true
	}
	out := make([]dns.RR, 0, len(answer))
	for _, rr := range extra {
		t := rr.Header().Rrtype
		if (t == dns.TypeA || t == dns.TypeAAAA) && !keep[strings.ToLower(rr.Header().Name)] {
			continue
		}
		out = append(out, rr)
	}
	return out
}

// rankOf is an address's rank for this reply's client (0 without order).
func (s *shaping) rankOf(a netip.Addr) int {
	if s.mode == trafficUnset || !s.client.known() {
		return 0
	}
	var l *epLoc
	if a.IsValid() {
		l = s.loc(a)
	}
	return rank(s.mode, l, s.client)
}

// matchOf names the best topology group this reply holds.
func (s *shaping) matchOf(groups []group) string {
	if s.mode == trafficUnset {
		return ""
	}
	if !s.client.known() {
		return matchNone
	}
	switch r := groups[0].rank; {
	case s.mode == trafficSameNode && r == 0:
		return matchNode
	case s.mode == trafficSameNode && r == 1, s.mode == trafficSameZone && r == 0:
		return matchZone
	}
	return matchNone
}

// group is the indices of the records of one rank, in the order given.
type group struct {
	rank int
	idx  []int
}

// groupByRank returns the non-empty groups, best rank first.
func groupByRank(ranks []int) []group {
	buckets := make([][]int, slices.Max(ranks)+1)
	for i, r := range ranks {
		buckets[r] = append(buckets[r], i)
	}
	out := make([]group, 0, len(buckets))
	for r, b := range buckets {
		if len(b) > 0 {
			out = append(out, group{rank: r, idx: b})
		}
	}
	return out
}

// concat is the groups' indices one after another: the preferred order.
func concat(groups []group) []int {
	var out []int
	for _, g := range groups {
		out = append(out, g.idx...)
	}
	return out
}

// pick returns rrs at the given indices.
func pick(rrs []dns.RR, idx []int) []dns.RR {
	out := make([]dns.RR, len(idx))
	for i, j := range idx {
		out[i] = rrs[j]
	}
	return out
}

// rotate chooses k records, best groups first: whole groups while they fit
// (in the order given), then a window of the next group. The window moves
// by k each turn over the group in a fixed order (by key), so successive
// replies give out every record of the group even when loadbalance has
// shuffled it; the chosen ones keep the order they came in.
func rotate(groups []group, k int, turn uint64, key func(i int) string) []int {
	out := make([]int, 0, k)
	for _, g := range groups {
		rem := k - len(out)
		if rem == 0 {
			break
		}
		n := len(g.idx)
		if n <= rem {
			out = append(out, g.idx...)
			continue
		}
		keys := make(map[int]string, n)
		for _, i := range g.idx {
			keys[i] = key(i)
		}
		canon := slices.Clone(g.idx)
		slices.SortFunc(canon, func(a, b int) int { return strings.Compare(keys[a], keys[b]) })
		start := int((turn * uint64(rem)) % uint64(n))
		chosen := make([]int, 0, rem)
		for j := 0; j < rem; j++ {
			chosen = append(chosen, canon[(start+j)%n])
		}
		slices.Sort(chosen) // a group's indices ascend: the order they came in
		out = append(out, chosen...)
	}
	return out
}

// rdataKey is a record's data as a sort key: the fixed order of rotation.
func rdataKey(rr dns.RR) string {
	switch v := rr.(type) {
	case *dns.A:
		return string(v.A.To4())
	case *dns.AAAA:
		return string(v.AAAA)
	case *dns.SRV:
		return strings.ToLower(v.Target) + string(rune(v.Port))
	}
	return rr.String()
}

// fit returns the largest k <= limit for which the message, set up by
// set(k), fits size (at least 1).
func fit(m *dns.Msg, limit, size int, set func(k int)) int {
	lo, hi := 1, limit
	for lo < hi {
		mid := (lo + hi + 1) / 2
		set(mid)
		if fits(m, size) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	set(lo)
	return lo
}

// fits reports whether m, compressed, fits a UDP buffer of size with room
// for the OPT record the server adds.
func fits(m *dns.Msg, size int) bool {
	m.Compress = true
	return m.Len() <= size
}
