package index

import "github.com/headlessdns/headless/internal/object"

// loc4Table maps IPv4 addresses to where their endpoint runs: open
// addressing over a power-of-two array, built once per published Service
// version. Topology order looks up every address of a reply in it; a Go map
// costs several times more per lookup.
type loc4Table struct {
	keys  []uint32 // 0: empty (0.0.0.0 is never an endpoint address)
	vals  []*object.Loc
	shift uint
}

func newLoc4Table(n int) *loc4Table {
	size, bits := 8, uint(3)
	for size < 2*n {
		size, bits = size*2, bits+1
	}
	return &loc4Table{keys: make([]uint32, size), vals: make([]*object.Loc, size), shift: 32 - bits}
}

func (t *loc4Table) slot(k uint32) uint32 { return (k * 0x9E3779B1) >> t.shift }

// add files k once (the first location wins).
func (t *loc4Table) add(k uint32, v *object.Loc) {
	mask := uint32(len(t.keys) - 1)
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case 0:
			t.keys[i], t.vals[i] = k, v
			return
		case k:
			return
		}
	}
}

func (t *loc4Table) get(k uint32) *object.Loc {
	mask := uint32(len(t.keys) - 1)
	for i := t.slot(k); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			return nil
		}
	}
}
