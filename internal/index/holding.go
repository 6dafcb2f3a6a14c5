package index

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
