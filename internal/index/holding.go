package index

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/headlessdns/headless/internal/object"
)

// Holding is what the index holds of one Service key, taken in or
// published: what a deleted Service must leave none of.
type Holding struct {
	Service bool // the Service is taken in
	Slices  int  // slices filed under the key
	Built   int  // slices the builder remembers for it; -1: no memory of the Service
	PTRs    int  // published PTR contributions naming it
}

// Holding reports what the index holds of a Service key (ServiceKey). It
// takes the lock and walks the PTR table: not for the query path.
func (ix *Index) Holding(key string) Holding {
	ix.publishPending()
	ix.mu.Lock()
	defer ix.mu.Unlock()
	h := Holding{Service: ix.services[key] != nil, Slices: len(ix.slices[key]), Built: -1}
	if st := ix.build.state[key]; st != nil {
		h.Built = len(st.slices)
	}
	for _, c := range ix.ptrTab.Load().chunks {
		for i := range c {
			if c[i].first.svc == key {
				h.PTRs++
			}
			for _, r := range c[i].others() {
				if r.svc == key {
					h.PTRs++
				}
			}
		}
	}
	return h
}

// TakenIn is what the index holds of a Service key as taken in, whether
// published or not: the Service (nil when none passed the filters) and its
// slices, not-ready endpoints included (immutable: shared, never to be
// written), by slice id. It takes the lock: not for the query path.
func (ix *Index) TakenIn(key string) (*object.Service, []*object.Slice) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ids := make([]string, 0, len(ix.slices[key]))
	for id := range ix.slices[key] {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]*object.Slice, len(ids))
	for i, id := range ids {
		out[i] = ix.slices[key][id]
	}
	return ix.services[key], out
}

// Holder is a slice taken in that holds an address, and its Service key.
type Holder struct {
	Key   string
	Slice *object.Slice
}

// HoldersOf are the slices taken in whose endpoints hold address a. It
// takes the lock and walks every slice: not for the query path.
func (ix *Index) HoldersOf(a netip.Addr) []Holder {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var out []Holder
	for key, byID := range ix.slices {
		for _, s := range byID {
			for i := range s.Endpoints {
				if slices.Contains(s.Endpoints[i].Addrs, a) {
					out = append(out, Holder{Key: key, Slice: s})
					break
				}
			}
		}
	}
	slices.SortFunc(out, func(x, y Holder) int { return strings.Compare(x.Key+"/"+x.Slice.Name, y.Key+"/"+y.Slice.Name) })
	return out
}
