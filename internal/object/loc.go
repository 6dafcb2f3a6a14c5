package object

import (
	"strings"
	"sync"
)

// Loc is where an endpoint runs. Interned when a slice is reduced: the
// endpoints of one place share one, so comparing two is comparing pointers.
type Loc struct {
	Node, Zone           string
	HintZones, HintNodes string // hints.forZones (lowercase) and hints.forNodes, comma-separated
	Away                 bool   // in another cluster than this one (an imported endpoint): never near a client
}

// AwayLoc is l in another cluster: the same place names, which topology
// order does not compare with a client's (they name another cluster's).
func AwayLoc(l *Loc) *Loc {
	a := *l
	a.Away = true
	return locs.intern(a)
}

// noLoc is the location of an endpoint that names none.
var noLoc = &Loc{}

// locInterner keeps one copy of each endpoint location: the endpoints of a
// node share it (the watches' goroutines intern concurrently).
type locInterner struct {
	mu sync.Mutex
	m  map[Loc]*Loc
}

var locs locInterner

func (li *locInterner) intern(l Loc) *Loc {
	if l == (Loc{}) {
		return noLoc
	}
	li.mu.Lock()
	defer li.mu.Unlock()
	if p := li.m[l]; p != nil {
		return p
	}
	if li.m == nil || len(li.m) > 1<<16 {
		li.m = map[Loc]*Loc{} // bounded: older copies stay valid where they are used
	}
	// copies, not l's strings: they may view a decode buffer (and not &l:
	// l would then escape on every call)
	p := &Loc{Node: strings.Clone(l.Node), Zone: strings.Clone(l.Zone), HintZones: strings.Clone(l.HintZones), HintNodes: strings.Clone(l.HintNodes), Away: l.Away}
	li.m[*p] = p
	return p
}

// recentLocs interns through a few recently seen locations first, without
// the lock.
type recentLocs struct {
	locs [4]*Loc
	next int
}

func (r *recentLocs) intern(l Loc) *Loc {
	for _, p := range r.locs {
		if p != nil && *p == l {
			return p
		}
	}
	p := locs.intern(l)
	r.locs[r.next] = p
	r.next = (r.next + 1) % len(r.locs)
	return p
}

// hintsOf returns an endpoint's topology hints as comma-separated lists
// (zones lowercase, as zones are compared).
func hintsOf(forZones, forNodes []string) (zones, nodes string) {
	switch len(forZones) {
	case 0:
	case 1: // the usual case: no list to build
		zones = strings.ToLower(forZones[0])
	default:
		z := make([]string, len(forZones))
		for i, f := range forZones {
			z[i] = strings.ToLower(f)
		}
		zones = strings.Join(z, ",")
	}
	return zones, strings.Join(forNodes, ",")
}

// HasHint reports whether the comma-separated list holds v.
func HasHint(list, v string) bool {
	for list != "" {
		i := strings.IndexByte(list, ',')
		if i < 0 {
			return list == v
		}
		if list[:i] == v {
			return true
		}
		list = list[i+1:]
	}
	return false
}
