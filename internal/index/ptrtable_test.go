package index

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"testing"

	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	"github.com/miekg/dns"
)

// ptrTable against a plain map, through random edits small and large.
func TestPTRTable(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	addr := func() netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(rng.Intn(4)), byte(rng.Intn(256)), byte(rng.Intn(256))})
	}
	tab := &ptrTable{}
	want := map[netip.Addr]string{}
	for round := 0; round < 300; round++ {
		n := 1 + rng.Intn(3)
		if round%50 == 0 {
			n = 3000 // a relist: rebuilt whole
		}
		touched := map[netip.Addr]bool{} // as the PTR book: one edit per address
		var edits []ptrEdit
		for i := 0; i < n; i++ {
			a := addr()
			if touched[a] {
				continue
			}
			touched[a] = true
			e := ptrEdit{addr: a}
			if _, had := want[a]; had && rng.Intn(2) == 0 {
				delete(want, a)
			} else {
				target := fmt.Sprintf("t%d-%d.", round, i)
				want[a] = target
				e.refs.first = ptrRef{addr: a, target: target}
			}
			edits = append(edits, e)
		}
		slices.SortFunc(edits, func(x, y ptrEdit) int { return x.addr.Compare(y.addr) })
		old := tab
		oldLen, oldChunks := old.Len(), len(old.chunks)
		tab = tab.with(edits)
		if old.Len() != oldLen || len(old.chunks) != oldChunks {
			t.Fatal("with modified the table it was given")
		}
		if tab.Len() != len(want) {
			t.Fatalf("round %d: %d addresses, want %d", round, tab.Len(), len(want))
		}
		var flat []netip.Addr
		for _, c := range tab.chunks {
			if len(c) == 0 || len(c) > 2*ptrChunk {
				t.Fatalf("chunk of %d", len(c))
			}
			for _, e := range c {
				flat = append(flat, e.key())
			}
		}
		if !slices.IsSortedFunc(flat, netip.Addr.Compare) || len(slices.Compact(flat)) != len(want) {
			t.Fatalf("round %d: not a sorted set of %d", round, len(want))
		}
		for a, target := range want {
			if e := tab.get(a); e == nil || e.first.target != target {
				t.Fatalf("round %d: %s = %v, want %s", round, a, e, target)
			}
		}
		for i := 0; i < 20; i++ {
			if a := addr(); tab.get(a) != nil != (want[a] != "") {
				t.Fatalf("round %d: get(%s) disagrees", round, a)
			}
			p := netip.PrefixFrom(addr(), 8+rng.Intn(25)).Masked()
			has := false
			for a := range want {
				if p.Contains(a) {
					has = true
					break
				}
			}
			if got := tab.anyIn(p); got != has {
				t.Fatalf("anyIn(%s) = %v, want %v", p, got, has)
			}
		}
	}
}

// EndpointLoc locates a client that is a published endpoint, and no other.
func TestEndpointLoc(t *testing.T) {
	ix := newTestIndex()
	ix.UpdateService(svcObj("ns", "web"), false)
	ix.UpdateSlice(sliceObj("ns", "web-1", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.2.1", Host: "a", Zone: "zone-a"}), false, 0)
	ix.Flush()
	if l := ix.EndpointLoc(netip.MustParseAddr("10.0.2.1")); l == nil || l.Zone != "zone-a" {
		t.Errorf("endpoint 10.0.2.1 located at %v, want zone-a", l)
	}
	if l := ix.EndpointLoc(netip.MustParseAddr("10.0.2.2")); l != nil {
		t.Errorf("a client that is no endpoint located at %v", l)
	}
}

// swapAll files exactly the refs only the new list holds and withdraws
// those only the old one held, each once however often it is listed.
func TestPTRSwapAll(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	locs := []*object.Loc{{Zone: "a"}, {Zone: "b"}}
	ref := func() ptrRef {
		return ptrRef{addr: netip.AddrFrom4([4]byte{10, 0, 0, byte(rng.Intn(12))}), svc: fmt.Sprint("s", rng.Intn(2)),
			target: fmt.Sprint("t", rng.Intn(2)), loc: locs[rng.Intn(2)]}
	}
	for round := 0; round < 500; round++ {
		var old, refs []ptrRef
		for n := rng.Intn(20); n > 0; n-- {
			old = append(old, ref())
		}
		for n := rng.Intn(20); n > 0; n-- {
			refs = append(refs, ref())
		}
		inOld, inNew := map[ptrRef]bool{}, map[ptrRef]bool{}
		for _, r := range old {
			inOld[r] = true
		}
		for _, r := range refs {
			inNew[r] = true
		}
		var b ptrBook
		b.swapAll(slices.Clone(old), slices.Clone(refs))
		filed, withdrawn := map[ptrRef]int{}, map[ptrRef]int{}
		for _, op := range b.ops {
			if op.add {
				filed[op.r]++
			} else {
				withdrawn[op.r]++
			}
		}
		for r := range inNew {
			if want := !inOld[r]; (filed[r] == 1) != want || filed[r] > 1 {
				t.Fatalf("round %d: %v filed %d times, want once: %v", round, r, filed[r], want)
			}
		}
		for r := range inOld {
			if want := !inNew[r]; (withdrawn[r] == 1) != want || withdrawn[r] > 1 {
				t.Fatalf("round %d: %v withdrawn %d times, want once: %v", round, r, withdrawn[r], want)
			}
		}
		if len(filed)+len(withdrawn) != len(b.ops) {
			t.Fatalf("round %d: %d ops for %d refs", round, len(b.ops), len(filed)+len(withdrawn))
		}
		for r := range filed {
			if !inNew[r] {
				t.Fatalf("round %d: %v filed, not in the new list", round, r)
			}
		}
		for r := range withdrawn {
			if !inOld[r] {
				t.Fatalf("round %d: %v withdrawn, not in the old list", round, r)
			}
		}
	}
}

// An address's contributions come out in one order whatever order they
// were filed in: its records, and the Service ServiceKey names.
func TestPTRsOrderIndependentOfFiling(t *testing.T) {
	a := netip.MustParseAddr("10.0.0.1")
	refs := []ptrRef{
		{addr: a, svc: "web.par", target: "web-0.web.par.svc.cluster.local."},
		{addr: a, svc: "alias.par", target: "10-0-0-1.alias.par.svc.cluster.local."},
		{addr: a, svc: "db.app", target: "db-0.db.app.svc.cluster.local.", named: true},
	}
	var want []string
	for _, perm := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}, {1, 2, 0}} {
		var p PTRs
		for _, i := range perm {
			p.add(refs[i])
		}
		var got []string
		for _, rr := range p.Records("1.0.0.10.in-addr.arpa.", 5) {
			got = append(got, rr.(*dns.PTR).Ptr)
		}
		got = append(got, p.ServiceKey())
		if want == nil {
			want = got
		} else if !slices.Equal(got, want) {
			t.Errorf("filed in the order %v: %v, want %v", perm, got, want)
		}
		p.remove(refs[perm[0]])
		p.add(refs[perm[0]])
		var again []string
		for _, rr := range p.Records("1.0.0.10.in-addr.arpa.", 5) {
			again = append(again, rr.(*dns.PTR).Ptr)
		}
		if !slices.Equal(append(again, p.ServiceKey()), want) {
			t.Errorf("removed and filed again: %v, want %v", again, want)
		}
	}
	if want[len(want)-1] != "db.app" {
		t.Errorf("ServiceKey %s, want the first Service by namespace (db.app)", want[len(want)-1])
	}
}
