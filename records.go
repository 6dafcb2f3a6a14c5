package headless

import (
	"hash/maphash"
	"math"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
)

// rrSet holds the precomputed answers for one owner name. Owner names of the
// answer records are empty: ServeDNS copies the records and sets the name the
// client asked, so the per-query path is free to reorder or trim the copy.
// SRV records and their glue depend on the zone the target is written in and
// are kept per forward zone (index as in Index.fwd). The arrays of one
// Service's sets are carved from shared slabs; sets never change once built.
type rrSet struct {
	a     []dns.A
	aaaa  []dns.AAAA
	z     []zoneRRs // per forward zone
	zones []string  // topology zone of each a/aaaa record (a then aaaa), for zone-aware ordering
}

// zoneRRs are the SRV records of a name and their glue, in one forward zone.
type zoneRRs struct {
	srv   []dns.SRV
	glueA []dns.A
	glue6 []dns.AAAA
}

// svcRecords is the published, immutable answer set of one headless Service
// (its labels, for per-Service policy, are on svc).
type svcRecords struct {
	svc   *Service
	names map[string]*rrSet // prefix left of <svc>.<ns>.svc: "" is the Service name
}

// Index is the store of precomputed answers. The informer handlers feed it
// objects; one builder goroutine turns changed Services into record sets and
// publishes them; ServeDNS reads published sets without locks.
type Index struct {
	fwd      []string // forward zones, lowercase FQDN; SRV targets are built for each, PTR targets in fwd[0]
	ttl      uint32
	podNames bool
	zonal    bool
	selector labels.Selector // Services must match; nil selects all
	nsAllow  map[string]bool // nil allows all

	mu        sync.Mutex
	services  map[string]*Service          // key: name.namespace
	slices    map[string]map[string]*Slice // service key -> slice namespace/name -> slice
	sliceSvc  map[string]string            // slice namespace/name -> service key
	ptrOwn    map[string][]ptrRef          // service key -> the PTRs it contributes
	ptrRefs   map[netip.Addr]ptrRefs       // address -> every PTR contributed for it
	dirty     map[string]struct{}
	wantSync  bool
	kick      chan struct{}
	published map[string]bool // service keys currently in svcMap

	svcs     shardMap[*svcRecords]
	ptrs     shardMap[*ptrSet] // key: reverse name, lowercase FQDN
	modified atomic.Int64
	scr      scratch // builder's working memory, under mu
	isSynced atomic.Bool
	synced   chan struct{}
}

type ptrRef struct {
	addr   netip.Addr
	svc    string
	target string
}

// ptrRefs are the PTRs contributed for one address; nearly always one, kept
// inline in the map so that one address costs no allocation of its own. An
// empty first (invalid address) means none.
type ptrRefs struct {
	first ptrRef
	more  []ptrRef
}

func (p *ptrRefs) empty() bool { return !p.first.addr.IsValid() }

func (p *ptrRefs) add(r ptrRef) {
	if p.empty() {
		p.first = r
	} else {
		p.more = append(p.more, r)
	}
}

func (p *ptrRefs) remove(r ptrRef) {
	if p.first == r {
		p.first = ptrRef{}
		if len(p.more) > 0 {
			p.first, p.more = p.more[0], p.more[1:]
		}
	} else if i := slices.Index(p.more, r); i >= 0 {
		p.more = slices.Delete(p.more, i, i+1)
	}
}

func (p *ptrRefs) all() []ptrRef {
	if p.empty() {
		return nil
	}
	return append([]ptrRef{p.first}, p.more...)
}

// ptrSet is the published PTR answer of one address; one allocation in the
// common case of a single PTR.
type ptrSet struct {
	rr  []dns.PTR
	one [1]dns.PTR
}

// NewIndex returns an empty index for the forward zones given.
func NewIndex(fwd []string, ttl uint32, podNames, zonal bool, selector labels.Selector, namespaces []string) *Index {
	ix := &Index{
		fwd: fwd, ttl: ttl, podNames: podNames, zonal: zonal, selector: selector,
		services:  map[string]*Service{},
		slices:    map[string]map[string]*Slice{},
		sliceSvc:  map[string]string{},
		ptrOwn:    map[string][]ptrRef{},
		ptrRefs:   map[netip.Addr]ptrRefs{},
		dirty:     map[string]struct{}{},
		kick:      make(chan struct{}, 1),
		published: map[string]bool{},
		synced:    make(chan struct{}),
	}
	if len(namespaces) > 0 {
		ix.nsAllow = map[string]bool{}
		for _, n := range namespaces {
			ix.nsAllow[n] = true
		}
	}
	ix.svcs.init()
	ix.ptrs.init()
	ix.modified.Store(time.Now().Unix())
	return ix
}

func serviceKey(name, namespace string) string { return name + "." + namespace }

func (ix *Index) markDirty(key string) {
	ix.dirty[key] = struct{}{}
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// UpdateService records a Service add, update or delete.
func (ix *Index) UpdateService(s *Service, deleted bool) {
	key := serviceKey(s.Name, s.Namespace)
	keep := !deleted && s.Headless && ix.allowed(s.Namespace) &&
		(ix.selector == nil || ix.selector.Matches(labels.Set(s.Labels)))
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if keep {
		ix.services[key] = s
	} else {
		delete(ix.services, key)
	}
	ix.markDirty(key)
}

// UpdateSlice records an EndpointSlice add, update or delete.
func (ix *Index) UpdateSlice(s *Slice, deleted bool) {
	id := s.Namespace + "/" + s.Name
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if old, ok := ix.sliceSvc[id]; ok {
		delete(ix.slices[old], id)
		if len(ix.slices[old]) == 0 {
			delete(ix.slices, old)
		}
		delete(ix.sliceSvc, id)
		ix.markDirty(old)
	}
	if deleted || s.Service == "" || !ix.allowed(s.Namespace) {
		return
	}
	key := serviceKey(s.Service, s.Namespace)
	if ix.slices[key] == nil {
		ix.slices[key] = map[string]*Slice{}
	}
	ix.slices[key][id] = s
	ix.sliceSvc[id] = key
	ix.markDirty(key)
}

func (ix *Index) allowed(ns string) bool { return ix.nsAllow == nil || ix.nsAllow[ns] }

// MarkSynced tells the index that every watch has delivered its initial list.
// The index reports synced once it has published what that list held.
func (ix *Index) MarkSynced() {
	ix.mu.Lock()
	ix.wantSync = true
	ix.mu.Unlock()
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// Synced reports whether the index holds a full sync.
func (ix *Index) Synced() bool { return ix.isSynced.Load() }

// Run builds and publishes record sets for changed Services until stop closes.
func (ix *Index) Run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-ix.kick:
			ix.Flush()
		}
	}
}

// Flush builds and publishes everything that changed since the last flush.
func (ix *Index) Flush() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if len(ix.dirty) > 0 {
		start := time.Now()
		svcChanges := make(map[string]*svcRecords, len(ix.dirty))
		ptrChanged := map[netip.Addr]struct{}{}
		for key := range ix.dirty {
			var recs *svcRecords
			var refs []ptrRef
			if svc := ix.services[key]; svc != nil {
				recs, refs = ix.build(svc, ix.slices[key])
			}
			ix.replacePTR(key, refs, ptrChanged)
			if recs != nil {
				svcChanges[key] = recs
				ix.published[key] = true
			} else if ix.published[key] {
				svcChanges[key] = nil
				delete(ix.published, key)
			}
		}
		clear(ix.dirty)
		ix.svcs.apply(svcChanges)
		ix.ptrs.apply(ix.ptrSets(ptrChanged))
		ix.modified.Store(time.Now().Unix())
		indexBuildSeconds.Observe(time.Since(start).Seconds())
		indexServices.Set(float64(len(ix.published)))
		indexAddresses.Set(float64(len(ix.ptrRefs)))
	}
	if ix.wantSync && !ix.isSynced.Load() {
		ix.isSynced.Store(true)
		close(ix.synced)
	}
}

// replacePTR swaps the PTR contributions of one Service and notes the
// addresses whose PTR set changed (only those are rebuilt and published).
func (ix *Index) replacePTR(key string, refs []ptrRef, changed map[netip.Addr]struct{}) {
	old := ix.ptrOwn[key]
	if slices.Equal(old, refs) {
		return
	}
	keep := resetMap(ix.scr.keepPTR)
	ix.scr.keepPTR = keep
	for _, r := range refs {
		keep[r] = true
	}
	had := resetMap(ix.scr.hadPTR)
	ix.scr.hadPTR = had
	for _, r := range old {
		had[r] = true
		if keep[r] {
			continue
		}
		e := ix.ptrRefs[r.addr]
		e.remove(r)
		if e.empty() {
			delete(ix.ptrRefs, r.addr)
		} else {
			ix.ptrRefs[r.addr] = e
		}
		changed[r.addr] = struct{}{}
	}
	for _, r := range refs {
		if had[r] {
			continue
		}
		e := ix.ptrRefs[r.addr]
		e.add(r)
		ix.ptrRefs[r.addr] = e
		changed[r.addr] = struct{}{}
	}
	if len(refs) == 0 {
		delete(ix.ptrOwn, key)
	} else {
		ix.ptrOwn[key] = refs
	}
}

func (ix *Index) ptrSets(changed map[netip.Addr]struct{}) map[string]*ptrSet {
	out := make(map[string]*ptrSet, len(changed))
	for addr := range changed {
		name, _ := dns.ReverseAddr(addr.String())
		e, ok := ix.ptrRefs[addr]
		if !ok {
			out[name] = nil
			continue
		}
		set := &ptrSet{}
		if len(e.more) == 0 {
			set.one[0] = dns.PTR{Hdr: ix.hdr(dns.TypePTR, ""), Ptr: e.first.target}
			set.rr = set.one[:]
		} else {
			seen := map[string]bool{}
			for _, r := range e.all() {
				if !seen[r.target] {
					seen[r.target] = true
					set.rr = append(set.rr, dns.PTR{Hdr: ix.hdr(dns.TypePTR, ""), Ptr: r.target})
				}
			}
		}
		out[name] = set
	}
	return out
}

func (ix *Index) hdr(t uint16, name string) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: ix.ttl}
}

// endpointHostname is the stock plugin's name for an endpoint address:
// its hostname, else (endpoint_pod_names) its target's name, else the dashed IP.
func endpointHostname(ep *Endpoint, addr string, podNames bool) string {
	if ep.Hostname != "" {
		return ep.Hostname
	}
	if podNames && ep.TargetName != "" {
		return ep.TargetName
	}
	if strings.Contains(addr, ".") {
		return strings.ReplaceAll(addr, ".", "-")
	}
	h := strings.ReplaceAll(addr, ":", "-")
	if strings.HasSuffix(h, "-") {
		h += "0"
	}
	return h
}

// item is one (address, port) pair of a name: what the stock plugin calls a
// msg.Service. Port -1 marks a slice without ports.
type item struct {
	host    string
	addr    netip.Addr
	ip      net.IP   // addr as net.IP, shared by every record of this address
	targets []string // SRV target of this address per forward zone, shared
	port    int32
	zone    string
}

// acc collects the items of one name as indices into the Service's items.
type acc struct{ idx []int32 }

// build computes every record set of one Service from its slices.
func (ix *Index) build(svc *Service, slicesOf map[string]*Slice) (*svcRecords, []ptrRef) {
	recs := &svcRecords{svc: svc}
	ids := make([]string, 0, len(slicesOf))
	for id := range slicesOf {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	items := ix.scr.all[:0] // every (address, port) of the Service, in order
	defer func() { ix.scr.all = items[:0] }()
	accs := map[string]*acc{}
	add := func(k string) {
		a := accs[k]
		if a == nil {
			a = &acc{}
			accs[k] = a
		}
		a.idx = append(a.idx, int32(len(items)-1))
	}
	var refs []ptrRef
	sl := &slab{scr: &ix.scr}
	seenPTR := resetMap(ix.scr.seenPTR)
	ix.scr.seenPTR = seenPTR
	svcSuffix := "." + svc.Name + "." + svc.Namespace + ".svc."
	key := serviceKey(svc.Name, svc.Namespace)
	for _, id := range ids {
		s := slicesOf[id]
		portKeys := make([]string, len(s.Ports))
		for i, p := range s.Ports {
			if p.Name != "" && p.Protocol != "" {
				portKeys[i] = "_" + strings.ToLower(p.Name) + "._" + strings.ToLower(p.Protocol)
			}
		}
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			if !ep.Ready {
				continue
			}
			for _, raw := range ep.Addrs {
				addr, err := netip.ParseAddr(raw)
				if err != nil {
					continue
				}
				addr = addr.Unmap()
				host := endpointHostname(ep, raw, ix.podNames)
				lhost := strings.ToLower(host)
				ip := net.IP(addr.AsSlice())
				targets := carve(&sl.targets, len(ix.fwd))
				for zi, zone := range ix.fwd {
					targets[zi] = lhost + svcSuffix + zone
				}
				var pinKey string
				if ix.zonal && ep.Zone != "" {
					pinKey = ep.Zone + ".pin._zone"
				}
				for pi, p := range s.Ports {
					items = append(items, item{host: lhost, addr: addr, ip: ip, targets: targets, port: p.Port, zone: ep.Zone})
					add(lhost)
					if portKeys[pi] != "" {
						add(portKeys[pi])
					}
					if pinKey != "" {
						add(pinKey)
					}
				}
				if len(ix.fwd) > 0 { // PTR targets are written in the first forward zone
					r := ptrRef{addr: addr, svc: key, target: targets[0]}
					if !seenPTR[r] {
						seenPTR[r] = true
						refs = append(refs, r)
					}
				}
			}
		}
	}
	recs.names = make(map[string]*rrSet, len(accs)+1)
	if len(items) > 0 {
		all := make([]int32, len(items))
		for i := range all {
			all[i] = int32(i)
		}
		accs[""] = &acc{idx: all}
	}
	// Which names get a set of their own, and exact pool sizes for them.
	build := make([]string, 0, len(accs))
	var n4, n6, nsrv int
	for k, a := range accs {
		if k != "" && strings.HasPrefix(k, "_") && len(a.idx) == len(items) {
			continue // a port every item has, so every item is of it: shares the Service's set
		}
		build = append(build, k)
		for j, i := range a.idx {
			it := &items[i]
			if it.port != -1 {
				nsrv++
			}
			if j > 0 && items[a.idx[j-1]].addr == it.addr {
				continue // the same address again, for another port
			}
			if it.addr.Is4() {
				n4++
			} else {
				n6++
			}
		}
	}
	nz := len(ix.fwd)
	sl.sets = make([]rrSet, 0, len(build))
	sl.z = make([]zoneRRs, 0, len(build)*nz)
	sl.a = make([]dns.A, 0, n4*(1+nz)) // answers, and glue in each zone
	sl.aaaa = make([]dns.AAAA, 0, n6*(1+nz))
	sl.srv = make([]dns.SRV, 0, nsrv*nz)
	sl.zones = make([]string, 0, n4+n6)
	for _, k := range build {
		recs.names[k] = ix.rrSetOf(items, accs[k].idx, sl)
	}
	for k := range accs {
		if recs.names[k] == nil {
			recs.names[k] = recs.names[""] // the skipped port set
		}
		if strings.HasSuffix(k, ".pin._zone") {
			// prefer is pin wherever the zone has endpoints
			recs.names[strings.TrimSuffix(k, ".pin._zone")+".prefer._zone"] = recs.names[k]
		}
	}
	return recs, refs
}

// slab hands out sub-slices of a few large arrays, so one Service's records
// take a handful of allocations instead of several per name. Each sub-slice's
// capacity is its length: an append can never reach a neighbour.
type slab struct {
	a       []dns.A
	aaaa    []dns.AAAA
	srv     []dns.SRV
	z       []zoneRRs
	zones   []string
	targets []string
	sets    []rrSet
	scr     *scratch // the index's, reused Service after Service
}

// scratch is working memory of the builder, reused across names and Services.
type scratch struct {
	items    []item
	sa       []dns.A
	s6       []dns.AAAA
	szA, sz6 []string
	ssrv     []dns.SRV
	sgA      []dns.A
	sg6      []dns.AAAA
	srvSeen  map[srvKey]bool
	glueSeen map[glueKey]bool
	seen     map[netip.Addr]bool
	all      []item
	seenPTR  map[ptrRef]bool
	keepPTR  map[ptrRef]bool
	hadPTR   map[ptrRef]bool
}

type srvKey struct {
	host string
	port int32
}

type glueKey struct {
	host string
	addr netip.Addr
}

// carve returns a sub-slice of n elements of *pool, starting a new chunk
// when the current one is full. Chunks are never reallocated.
func carve[T any](pool *[]T, n int) []T {
	if n == 0 {
		return nil
	}
	if cap(*pool)-len(*pool) < n {
		*pool = make([]T, 0, max(n, 2*cap(*pool), 16))
	}
	l := len(*pool)
	*pool = (*pool)[:l+n]
	return (*pool)[l : l+n : l+n]
}

// keep copies scratch into the slab and returns the copy.
func keep[T any](pool *[]T, scratch []T) []T {
	out := carve(pool, len(scratch))
	copy(out, scratch)
	return out
}

// rrSetOf turns the (address, port) items of one name into records exactly as
// the stock plugin's A, AAAA and SRV builders do: addresses de-duplicated,
// SRV weight 100/N over all N items, SRV de-duplicated by (target, port) and
// glue by (target, address). Records land in the slab.
func (ix *Index) rrSetOf(all []item, idx []int32, sl *slab) *rrSet {
	set := &carve(&sl.sets, 1)[0]
	items := sl.scr.items[:0]
	for _, i := range idx {
		items = append(items, all[i])
	}
	sl.scr.items = items
	// De-duplication: linear for the small sets most names have, maps beyond.
	small := len(items) <= 16
	if !small {
		sl.scr.seen = resetMap(sl.scr.seen)
		sl.scr.srvSeen = resetMap(sl.scr.srvSeen)
		sl.scr.glueSeen = resetMap(sl.scr.glueSeen)
	}
	sa, s6, szA, sz6 := sl.scr.sa[:0], sl.scr.s6[:0], sl.scr.szA[:0], sl.scr.sz6[:0]
	for i, it := range items {
		if small {
			dup := false
			for _, o := range items[:i] {
				if o.addr == it.addr {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
		} else {
			if sl.scr.seen[it.addr] {
				continue
			}
			sl.scr.seen[it.addr] = true
		}
		if it.addr.Is4() {
			sa = append(sa, dns.A{Hdr: ix.hdr(dns.TypeA, ""), A: it.ip})
			szA = append(szA, it.zone)
		} else {
			s6 = append(s6, dns.AAAA{Hdr: ix.hdr(dns.TypeAAAA, ""), AAAA: it.ip})
			sz6 = append(sz6, it.zone)
		}
	}
	set.a, set.aaaa = keep(&sl.a, sa), keep(&sl.aaaa, s6)
	set.zones = carve(&sl.zones, len(szA)+len(sz6))
	copy(set.zones, szA)
	copy(set.zones[len(szA):], sz6)
	sl.scr.sa, sl.scr.s6, sl.scr.szA, sl.scr.sz6 = sa, s6, szA, sz6

	w1 := 100.0 / float64(100*len(items)) * 100
	weight := uint16(math.Floor(w1))
	if weight == 0 {
		weight = 1
	}
	set.z = carve(&sl.z, len(ix.fwd))
	for zi := range ix.fwd {
		ssrv, sgA, sg6 := sl.scr.ssrv[:0], sl.scr.sgA[:0], sl.scr.sg6[:0]
		if !small {
			clear(sl.scr.srvSeen)
			clear(sl.scr.glueSeen)
		}
		for i, it := range items {
			if it.port == -1 {
				continue
			}
			var newSRV, newGlue bool
			if small {
				newSRV, newGlue = true, true
				for _, o := range items[:i] {
					if o.port == -1 || o.host != it.host {
						continue
					}
					if o.port == it.port {
						newSRV = false
					}
					if o.addr == it.addr {
						newGlue = false
					}
				}
			} else {
				newSRV = !sl.scr.srvSeen[srvKey{it.host, it.port}]
				sl.scr.srvSeen[srvKey{it.host, it.port}] = true
				newGlue = !sl.scr.glueSeen[glueKey{it.host, it.addr}]
				sl.scr.glueSeen[glueKey{it.host, it.addr}] = true
			}
			target := it.targets[zi]
			if newSRV {
				ssrv = append(ssrv, dns.SRV{Hdr: ix.hdr(dns.TypeSRV, ""), Priority: 0, Weight: weight, Port: uint16(it.port), Target: target})
			}
			if newGlue {
				if it.addr.Is4() {
					sgA = append(sgA, dns.A{Hdr: ix.hdr(dns.TypeA, target), A: it.ip})
				} else {
					sg6 = append(sg6, dns.AAAA{Hdr: ix.hdr(dns.TypeAAAA, target), AAAA: it.ip})
				}
			}
		}
		set.z[zi] = zoneRRs{srv: keep(&sl.srv, ssrv), glueA: keep(&sl.a, sgA), glue6: keep(&sl.aaaa, sg6)}
		sl.scr.ssrv, sl.scr.sgA, sl.scr.sg6 = ssrv, sgA, sg6
	}
	return set
}

func resetMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	clear(m)
	return m
}

// lookupService returns the published records of a headless Service by its
// key (name.namespace, lowercase).
func (ix *Index) lookupService(key string) *svcRecords {
	r, _ := ix.svcs.get(key)
	return r
}

// lookupPTR returns the PTR set of a reverse name (lowercase FQDN).
func (ix *Index) lookupPTR(name string) *ptrSet {
	r, _ := ix.ptrs.get(name)
	return r
}

// Serial is the SOA serial: the Unix time of the last published change.
func (ix *Index) Serial() uint32 { return uint32(ix.modified.Load()) }

// shardMap is a string-keyed map read without locks: each of its shards is an
// immutable map behind an atomic pointer, replaced whole by the single writer.
// Sharding keeps a publish cheap: only shards holding changed keys are copied.
type shardMap[V comparable] struct {
	seed   maphash.Seed
	shards [64]atomic.Pointer[map[string]V]
}

func (m *shardMap[V]) init() { m.seed = maphash.MakeSeed() }

func (m *shardMap[V]) shard(k string) int { return int(maphash.String(m.seed, k) & 63) }

func (m *shardMap[V]) get(k string) (V, bool) {
	p := m.shards[m.shard(k)].Load()
	if p == nil {
		var zero V
		return zero, false
	}
	v, ok := (*p)[k]
	return v, ok
}

// apply publishes changes; a zero value deletes its key. One writer only.
func (m *shardMap[V]) apply(changes map[string]V) {
	var by [64]map[string]V
	for k, v := range changes {
		i := m.shard(k)
		if by[i] == nil {
			by[i] = map[string]V{}
		}
		by[i][k] = v
	}
	var zero V
	for i, ch := range by {
		if ch == nil {
			continue
		}
		next := map[string]V{}
		if old := m.shards[i].Load(); old != nil {
			next = make(map[string]V, len(*old)+len(ch))
			for k, v := range *old {
				next[k] = v
			}
		}
		for k, v := range ch {
			if v == zero {
				delete(next, k)
			} else {
				next[k] = v
			}
		}
		m.shards[i].Store(&next)
	}
}
