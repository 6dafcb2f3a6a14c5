package index

import (
	"slices"
)

// svcBuild is the builder's memory of one Service between flushes: what each
// of its slices contributed, and its published endpoint names.
type svcBuild struct {
	slices map[string]*sliceBuild
	ids    []string      // the slice ids, sorted
	parts  []*sliceBuild // the slices' contributions in ids order (published: never written to)
	hosts  hostMap
	nhosts int         // the names of all slices counted per slice: hosts.len() when no name is in two slices
	mode   publishMode // the publish policy the slices were derived with
}

// publishMode is what of a Service's policy decides which endpoints its
// slices publish: a change derives every slice again.
type publishMode struct {
	serving   bool // headless.dns/publish: serving
	hostnames bool // not ready endpoints get their own names
}

func newSvcBuild() *svcBuild { return &svcBuild{slices: map[string]*sliceBuild{}} }

// sortedParts sorts the slice ids anew (a slice came or went) and returns
// the contributions in their order.
func (st *svcBuild) sortedParts() []*sliceBuild {
	st.ids = st.ids[:0:0]
	for id := range st.slices {
		st.ids = append(st.ids, id)
	}
	slices.Sort(st.ids)
	parts := make([]*sliceBuild, len(st.ids))
	for i, id := range st.ids {
		parts[i] = st.slices[id]
	}
	return parts
}

// changedHosts marks the names whose items differ between two versions of a
// slice (either may be nil).
func changedHosts(old, nb *sliceBuild, affected map[string]bool) {
	if old == nil || nb == nil { // a slice came or went: all its names
		for _, sb := range []*sliceBuild{old, nb} {
			if sb != nil {
				for i := range sb.items {
					affected[sb.items[i].host] = true
				}
			}
		}
		return
	}
	oldBy, newBy := itemsByHost(old), itemsByHost(nb)
	for h, oi := range oldBy {
		ni, ok := newBy[h]
		if !ok || len(oi) != len(ni) {
			affected[h] = true
			continue
		}
		for j := range oi {
			if !old.items[oi[j]].sameAnswer(&nb.items[ni[j]]) {
				affected[h] = true
				break
			}
		}
	}
	for h := range newBy {
		if _, ok := oldBy[h]; !ok {
			affected[h] = true
		}
	}
}

// rederivedHosts marks the names of the endpoints nb derived anew from old (and
// of old's endpoints past nb's end): the rest are old's, unchanged.
func rederivedHosts(old, nb *sliceBuild, affected map[string]bool) {
	mark := func(sb *sliceBuild, i int) {
		a, z := sb.spans[i], sb.spans[i+1]
		for _, it := range sb.items[a:z] {
			affected[it.host] = true
		}
	}
	for _, i := range nb.rederived {
		if int(i) < len(old.spans)-1 {
			mark(old, int(i))
		}
		mark(nb, int(i))
	}
	for i := len(nb.spans) - 1; i < len(old.spans)-1; i++ {
		mark(old, i)
	}
}

func itemsByHost(sb *sliceBuild) map[string][]int32 {
	if sb == nil {
		return nil
	}
	m := make(map[string][]int32, len(sb.hosts))
	for i := range sb.items {
		m[sb.items[i].host] = append(m[sb.items[i].host], int32(i))
	}
	return m
}
