package headless

import (
	"math/rand"
	"net/netip"
	"slices"
	"testing"
)

// addrSet against a plain sorted list, through random changes small and large.
func TestAddrSet(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(rng.Intn(4)), byte(rng.Intn(256)), byte(rng.Intn(256))})
	}
	set := &addrSet{}
	want := map[netip.Addr]bool{}
	for round := 0; round < 300; round++ {
		n := 1 + rng.Intn(3)
		if round%50 == 0 {
			n = 3000 // a relist: rebuilt whole
		}
		var added, removed []netip.Addr
		touched := map[netip.Addr]bool{} // as the PTR book, one change per address
		for i := 0; i < n; i++ {
			a := addr()
			if touched[a] {
				continue
			}
			touched[a] = true
			if want[a] && rng.Intn(2) == 0 {
				removed = append(removed, a)
				delete(want, a)
			} else if !want[a] {
				added = append(added, a)
				want[a] = true
			}
		}
		slices.SortFunc(added, netip.Addr.Compare)
		old := set
		oldLen := old.Len()
		set = set.with(added, removed)
		if old.Len() != oldLen {
			t.Fatal("with modified the set it was given")
		}
		if set.Len() != len(want) {
			t.Fatalf("round %d: %d addresses, want %d", round, set.Len(), len(want))
		}
		var flat []netip.Addr
		for _, c := range set.chunks {
			if len(c) == 0 || len(c) > 2*addrChunk {
				t.Fatalf("chunk of %d", len(c))
			}
			flat = append(flat, c...)
		}
		if !slices.IsSortedFunc(flat, netip.Addr.Compare) || len(flat) != len(want) {
			t.Fatalf("round %d: not a sorted set of %d", round, len(want))
		}
		for i := 0; i < 20; i++ {
			p := netip.PrefixFrom(addr(), 8+rng.Intn(25)).Masked()
			has := false
			for a := range want {
				if p.Contains(a) {
					has = true
					break
				}
			}
			if got := set.anyIn(p); got != has {
				t.Fatalf("anyIn(%s) = %v, want %v", p, got, has)
			}
		}
	}
}
