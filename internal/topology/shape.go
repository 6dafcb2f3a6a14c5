package topology

import (
	"net"
	"slices"
	"strings"
	"sync"

	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// Shaping is what one reply's per-client step does: order by topology and
// cap. It works on the finished message (as headless wrote it, or from cache
// and loadbalance), so every client gets its own order and rotation.
type Shaping struct {
	Mode   object.TrafficMode // TrafficUnset: no topology order
	Client ClientLoc
	Loc    Locator // where an answer's address runs
	Limit  int     // most address (or SRV) records; 0: no cap
	Size   int     // the client's UDP buffer; 0 over TCP (no cap)
	Turn   uint64  // this reply's rotation
}

// Locator finds where the endpoint with an address runs (nil: unknown).
type Locator interface{ Loc(net.IP) *object.Loc }

// Topology match of a reply, the match label of its metric: the best
// group it holds for the client.
const (
	MatchNode = "node"
	MatchZone = "zone"
	MatchNone = "none"
)

// Scratch is the working memory of one Shaping, pooled.
type Scratch struct {
	ranks   []uint8
	keys    []keyIdx
	idx     []int
	ordered []dns.RR // the reply's answer in topology order: handed to the message
	chosen  []dns.RR // the capped answer: handed to the message
	order   []dns.RR // an answer headless wrote in order, as written
	memo    rankMemo
}

type keyIdx struct {
	k uint64
	i int
}

var scratchPool = sync.Pool{New: func() any { return &Scratch{} }}

// GetScratch takes working memory for one query from a pool.
func GetScratch() *Scratch { return scratchPool.Get().(*Scratch) }

// PutScratch gives working memory back: what it handed to messages is
// forgotten, the rest is reused.
func PutScratch(sc *Scratch) {
	sc.ordered, sc.chosen = nil, nil
	scratchPool.Put(sc)
}

// Keep copies rrs into sc's own buffer (valid until sc is put back).
func (sc *Scratch) Keep(rrs []dns.RR) []dns.RR {
	sc.order = append(sc.order[:0], rrs...)
	return sc.order
}

// ShapeWith orders and caps m (its sections are replaced, never written to)
// with working memory sc. It returns the topology match ("" when no order
// applied) and whether records were left out. pre, when not nil, says m's
// answer is already in topology order, with these group ends (headless
// wrote it so).
func ShapeWith(m *dns.Msg, s Shaping, sc *Scratch, pre *Ends) (match string, capped bool) {
	match, capped = shapeWith(m, s, sc, pre)
	sc.ordered, sc.chosen = nil, nil // m's sections now: never reused
	return match, capped
}

func shapeWith(m *dns.Msg, s Shaping, sc *Scratch, pre *Ends) (match string, capped bool) {
	if len(m.Answer) < 2 {
		if s.Mode != object.TrafficUnset {
			return MatchNone, false
		}
		return "", false
	}
	if _, ok := m.Answer[0].(*dns.SRV); ok {
		return shapeSRV(m, s, sc)
	}
	var ends Ends
	if pre != nil {
		ends = *pre
	} else {
		ranks := slices.Grow(sc.ranks[:0], len(m.Answer))
		ordered := s.Ordered()
		sc.memo.reset()
		for _, rr := range m.Answer {
			ip, ok := rrIP(rr)
			if !ok {
				return "", false // not an address answer: left as it is
			}
			r := uint8(0)
			if ordered {
				r = sc.memo.rank(&s, s.Loc.Loc(ip))
			}
			ranks = append(ranks, r)
		}
		sc.ranks = ranks
		m.Answer, ends = partition(m.Answer, ranks, &sc.ordered)
	}
	match = s.matchOf(ends)
	if s.Limit == 0 || s.Size == 0 {
		return match, false
	}
	all := m.Answer
	k := fit(m, min(s.Limit, len(all)), s.Size, func(k int) { m.Answer = all[:k] })
	m.Answer = choose(all, ends, k, s.Turn, sc, addrKey)
	for k > 1 && !fits(m, s.Size) {
		k--
		m.Answer = m.Answer[:k]
	}
	m.Truncated = false
	return match, len(m.Answer) < len(all)
}

// shapeSRV orders SRV records by their target's rank (priority = rank, so
// RFC 2782 clients try preferred targets first) and caps SRV records and
// their glue together.
func shapeSRV(m *dns.Msg, s Shaping, sc *Scratch) (string, bool) {
	targetRank := map[string]uint8{}
	if s.Ordered() {
		for _, rr := range m.Extra {
			ip, ok := rrIP(rr)
			if !ok {
				continue
			}
			owner := strings.ToLower(rr.Header().Name)
			r := s.rankOf(ip)
			if old, ok := targetRank[owner]; !ok || r < old {
				targetRank[owner] = r
			}
		}
	}
	ranks := sc.ranks[:0]
	for _, rr := range m.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok {
			return "", false
		}
		r, ok := targetRank[strings.ToLower(srv.Target)]
		if !ok {
			r = s.rankOf(nil)
		}
		ranks = append(ranks, r)
	}
	sc.ranks = ranks
	var ends Ends
	m.Answer, ends = partition(m.Answer, ranks, &sc.ordered)
	match := s.matchOf(ends)
	if match != "" && match != MatchNone {
		low := firstRank(ends)
		answer := make([]dns.RR, len(m.Answer))
		for i, rr := range m.Answer {
			c := *rr.(*dns.SRV) // a copy: the record may be cache's too
			c.Priority = uint16(rankAt(ends, i) - low)
			answer[i] = &c
		}
		m.Answer = answer
	}
	if s.Limit == 0 || s.Size == 0 {
		return match, false
	}
	all, extra := m.Answer, m.Extra
	setK := func(sel []dns.RR) {
		m.Answer = sel
		m.Extra = glueOf(sel, extra)
	}
	k := fit(m, min(s.Limit, len(all)), s.Size, func(k int) { setK(all[:k]) })
	setK(choose(all, ends, k, s.Turn, sc, srvOrderKey))
	for k > 1 && !fits(m, s.Size) {
		k--
		setK(m.Answer[:k])
	}
	m.Truncated = false
	return match, len(m.Answer) < len(all)
}

// rrIP is the address of an A or AAAA record; false for other types.
func rrIP(rr dns.RR) (net.IP, bool) {
	switch v := rr.(type) {
	case *dns.A:
		return v.A, true
	case *dns.AAAA:
		return v.AAAA, true
	}
	return nil, false
}

// partition orders rrs by rank, stable within a rank, and returns them and
// where each rank's group ends. It never writes to rrs: on a cache miss the
// message's slices and records are also cache's stored copy.
func partition(rrs []dns.RR, ranks []uint8, buf *[]dns.RR) ([]dns.RR, Ends) {
	var count Ends
	sorted := true
	for i, r := range ranks {
		count[r]++
		sorted = sorted && (i == 0 || ranks[i-1] <= r)
	}
	var ends Ends
	n := 0
	for r := range count {
		n += count[r]
		ends[r] = n
	}
	if sorted {
		return rrs, ends
	}
	out := slices.Grow((*buf)[:0], len(rrs))[:len(rrs)]
	*buf = out
	var next Ends
	for r := 1; r <= MaxRank; r++ {
		next[r] = ends[r-1]
	}
	for i, rr := range rrs {
		out[next[ranks[i]]] = rr
		next[ranks[i]]++
	}
	return out, ends
}

func firstRank(ends Ends) int {
	for r, e := range ends {
		if e > 0 {
			return r
		}
	}
	return 0
}

func rankAt(ends Ends, i int) int {
	for r, e := range ends {
		if i < e {
			return r
		}
	}
	return MaxRank
}

// Ordered reports whether this reply gets topology order.
func (s *Shaping) Ordered() bool { return s.Mode != object.TrafficUnset && s.Client.Known() }

// rankOf is an address's rank for this reply's client (0 without order).
func (s *Shaping) rankOf(ip net.IP) uint8 {
	if !s.Ordered() {
		return 0
	}
	var l *object.Loc
	if ip != nil {
		l = s.Loc.Loc(ip)
	}
	return uint8(rank(s.Mode, l, s.Client))
}

// matchOf names the best topology group this reply holds.
func (s *Shaping) matchOf(ends Ends) string {
	if s.Mode == object.TrafficUnset {
		return ""
	}
	if !s.Client.Known() {
		return MatchNone
	}
	switch r := firstRank(ends); {
	case s.Mode == object.TrafficSameNode && r == 0:
		return MatchNode
	case s.Mode == object.TrafficSameNode && r == 1, s.Mode == object.TrafficSameZone && r == 0:
		return MatchZone
	}
	return MatchNone
}
