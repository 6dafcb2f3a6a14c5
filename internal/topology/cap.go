package topology

import (
	"encoding/binary"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Caps: a UDP reply carries at most the record cap and never more than the
// client's buffer takes, so it is never truncated; successive capped
// replies rotate through the records that did not fit.

// choose picks k records, best groups first: whole groups while they fit
// (in the order given), then a window of the next group. The window moves
// by k each turn over the group in a fixed order (by key), so successive
// replies give out every record of the group even when loadbalance has
// shuffled it; the chosen ones keep the order they came in.
func choose(all []dns.RR, ends Ends, k int, turn uint64, sc *Scratch, key func(dns.RR) uint64) []dns.RR {
	out := slices.Grow(sc.chosen[:0], k)
	defer func() { sc.chosen = out }()
	start := 0
	for _, end := range ends {
		g := all[start:end]
		start = end
		rem := k - len(out)
		if rem == 0 {
			break
		}
		if len(g) <= rem {
			out = append(out, g...)
			continue
		}
		keys := sc.keys[:0]
		for i, rr := range g {
			keys = append(keys, keyIdx{key(rr), i})
		}
		sc.keys = keys
		slices.SortFunc(keys, func(a, b keyIdx) int {
			if a.k != b.k {
				if a.k < b.k {
					return -1
				}
				return 1
			}
			return a.i - b.i
		})
		w := int((turn * uint64(rem)) % uint64(len(g)))
		idx := sc.idx[:0]
		for j := 0; j < rem; j++ {
			idx = append(idx, keys[(w+j)%len(g)].i)
		}
		slices.Sort(idx)
		sc.idx = idx
		for _, i := range idx {
			out = append(out, g[i])
		}
	}
	return out
}

var keySeed = maphash.MakeSeed()

// addrKey and srvOrderKey give a record's fixed place in rotation order.
func addrKey(rr dns.RR) uint64 {
	switch v := rr.(type) {
	case *dns.A:
		if ip4 := v.A.To4(); ip4 != nil {
			return uint64(binary.BigEndian.Uint32(ip4))
		}
	case *dns.AAAA:
		return maphash.Bytes(keySeed, v.AAAA)
	}
	return 0
}

func srvOrderKey(rr dns.RR) uint64 {
	v := rr.(*dns.SRV)
	return maphash.String(keySeed, strings.ToLower(v.Target)) ^ uint64(v.Port)
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

// fits reports whether m, compressed, fits a UDP buffer of size.
func fits(m *dns.Msg, size int) bool {
	m.Compress = true
	return m.Len() <= size
}
