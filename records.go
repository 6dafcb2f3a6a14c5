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
// are kept per forward zone (index as in Index.fwd).
type rrSet struct {
	a     []dns.A
	aaaa  []dns.AAAA
	srv   [][]dns.SRV
	glueA [][]dns.A
	glue6 [][]dns.AAAA
	ptr   []dns.PTR
	zones []string // topology zone of each a/aaaa record (a then aaaa), for zone-aware ordering
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
	fwd      []string // forward zones, lowercase FQDN; SRV targets are built for each
	ptrZone  string   // zone PTR targets are written in (the first forward zone)
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
	ptrRefs   map[netip.Addr][]ptrRef      // address -> every PTR contributed for it
	dirty     map[string]struct{}
	wantSync  bool
	kick      chan struct{}
	published map[string]bool // service keys currently in svcMap

	svcs     shardMap[*svcRecords]
	ptrs     shardMap[*rrSet] // key: reverse name, lowercase FQDN
	modified atomic.Int64
	isSynced atomic.Bool
	synced   chan struct{}
	builds   atomic.Uint64 // batches published, for tests and metrics
}

type ptrRef struct {
	addr   netip.Addr
	svc    string
	target string
}

// NewIndex returns an empty index for the forward zones given.
func NewIndex(fwd []string, ttl uint32, podNames, zonal bool, selector labels.Selector, namespaces []string) *Index {
	ix := &Index{
		fwd: fwd, ttl: ttl, podNames: podNames, zonal: zonal, selector: selector,
		services:  map[string]*Service{},
		slices:    map[string]map[string]*Slice{},
		sliceSvc:  map[string]string{},
		ptrOwn:    map[string][]ptrRef{},
		ptrRefs:   map[netip.Addr][]ptrRef{},
		dirty:     map[string]struct{}{},
		kick:      make(chan struct{}, 1),
		published: map[string]bool{},
		synced:    make(chan struct{}),
	}
	if len(fwd) > 0 {
		ix.ptrZone = fwd[0]
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
		ix.builds.Add(1)
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
	keep := make(map[ptrRef]bool, len(refs))
	for _, r := range refs {
		keep[r] = true
	}
	had := make(map[ptrRef]bool, len(old))
	for _, r := range old {
		had[r] = true
		if keep[r] {
			continue
		}
		ix.ptrRefs[r.addr] = slices.DeleteFunc(ix.ptrRefs[r.addr], func(o ptrRef) bool { return o == r })
		if len(ix.ptrRefs[r.addr]) == 0 {
			delete(ix.ptrRefs, r.addr)
		}
		changed[r.addr] = struct{}{}
	}
	for _, r := range refs {
		if had[r] {
			continue
		}
		ix.ptrRefs[r.addr] = append(ix.ptrRefs[r.addr], r)
		changed[r.addr] = struct{}{}
	}
	if len(refs) == 0 {
		delete(ix.ptrOwn, key)
	} else {
		ix.ptrOwn[key] = refs
	}
}

func (ix *Index) ptrSets(changed map[netip.Addr]struct{}) map[string]*rrSet {
	out := make(map[string]*rrSet, len(changed))
	for addr := range changed {
		name, _ := dns.ReverseAddr(addr.String())
		refs := ix.ptrRefs[addr]
		if len(refs) == 0 {
			out[name] = nil
			continue
		}
		set := &rrSet{}
		seen := map[string]bool{}
		for _, r := range refs {
			if seen[r.target] {
				continue
			}
			seen[r.target] = true
			set.ptr = append(set.ptr, dns.PTR{Hdr: ix.hdr(dns.TypePTR, ""), Ptr: r.target})
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
	host string
	addr netip.Addr
	ip   net.IP // addr as net.IP, shared by every record of this address
	port int32
	zone string
}

type acc struct{ items []item }

func (a *acc) add(it item) { a.items = append(a.items, it) }

// build computes every record set of one Service from its slices.
func (ix *Index) build(svc *Service, sl map[string]*Slice) (*svcRecords, []ptrRef) {
	recs := &svcRecords{svc: svc}
	ids := make([]string, 0, len(sl))
	for id := range sl {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	accs := map[string]*acc{}
	get := func(k string) *acc {
		a := accs[k]
		if a == nil {
			a = &acc{}
			accs[k] = a
		}
		return a
	}
	var refs []ptrRef
	seenPTR := map[ptrRef]bool{}
	svcSuffix := "." + svc.Name + "." + svc.Namespace + ".svc."
	key := serviceKey(svc.Name, svc.Namespace)
	for _, id := range ids {
		s := sl[id]
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
				for pi, p := range s.Ports {
					it := item{host: lhost, addr: addr, ip: ip, port: p.Port, zone: ep.Zone}
					get("").add(it)
					get(lhost).add(it)
					if portKeys[pi] != "" {
						get(portKeys[pi]).add(it)
					}
					if ix.zonal && ep.Zone != "" {
						get(ep.Zone + ".pin._zone").add(it)
						get(ep.Zone + ".prefer._zone").add(it)
					}
				}
				if ix.ptrZone != "" {
					r := ptrRef{addr: addr, svc: key, target: lhost + svcSuffix + ix.ptrZone}
					if !seenPTR[r] {
						seenPTR[r] = true
						refs = append(refs, r)
					}
				}
			}
		}
	}
	recs.names = make(map[string]*rrSet, len(accs))
	for k, a := range accs {
		recs.names[k] = ix.rrSetOf(a.items, svcSuffix)
	}
	return recs, refs
}

// rrSetOf turns the (address, port) items of one name into records exactly as
// the stock plugin's A, AAAA and SRV builders do: addresses de-duplicated,
// SRV weight 100/N over all N items, SRV de-duplicated by (target, port) and
// glue by (target, address).
func (ix *Index) rrSetOf(items []item, svcSuffix string) *rrSet {
	nz := len(ix.fwd)
	set := &rrSet{srv: make([][]dns.SRV, nz), glueA: make([][]dns.A, nz), glue6: make([][]dns.AAAA, nz)}
	// De-duplication: linear for the small sets most names have, maps beyond.
	small := len(items) <= 16
	var seen map[netip.Addr]bool
	if !small {
		seen = make(map[netip.Addr]bool, len(items))
	}
	var zA, z6 []string
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
			if seen[it.addr] {
				continue
			}
			seen[it.addr] = true
		}
		ip := it.ip
		if it.addr.Is4() {
			if set.a == nil {
				set.a = make([]dns.A, 0, len(items))
			}
			set.a = append(set.a, dns.A{Hdr: ix.hdr(dns.TypeA, ""), A: ip})
			zA = append(zA, it.zone)
		} else {
			set.aaaa = append(set.aaaa, dns.AAAA{Hdr: ix.hdr(dns.TypeAAAA, ""), AAAA: ip})
			z6 = append(z6, it.zone)
		}
	}
	set.zones = append(zA, z6...)
	w1 := 100.0 / float64(100*len(items)) * 100
	weight := uint16(math.Floor(w1))
	if weight == 0 {
		weight = 1
	}
	type srvKey struct {
		host string
		port int32
	}
	type glueKey struct {
		host string
		addr netip.Addr
	}
	var srvSeen map[srvKey]bool
	var glueSeen map[glueKey]bool
	if !small {
		srvSeen, glueSeen = make(map[srvKey]bool, len(items)), make(map[glueKey]bool, len(items))
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
			newSRV = !srvSeen[srvKey{it.host, it.port}]
			srvSeen[srvKey{it.host, it.port}] = true
			newGlue = !glueSeen[glueKey{it.host, it.addr}]
			glueSeen[glueKey{it.host, it.addr}] = true
		}
		if !newSRV && !newGlue {
			continue
		}
		ip := it.ip
		for zi, zone := range ix.fwd {
			target := it.host + svcSuffix + zone
			if newSRV {
				set.srv[zi] = append(set.srv[zi], dns.SRV{Hdr: ix.hdr(dns.TypeSRV, ""), Priority: 0, Weight: weight, Port: uint16(it.port), Target: target})
			}
			if newGlue {
				if it.addr.Is4() {
					set.glueA[zi] = append(set.glueA[zi], dns.A{Hdr: ix.hdr(dns.TypeA, target), A: ip})
				} else {
					set.glue6[zi] = append(set.glue6[zi], dns.AAAA{Hdr: ix.hdr(dns.TypeAAAA, target), AAAA: ip})
				}
			}
		}
	}
	return set
}

// lookupService returns the published records of a headless Service by its
// key (name.namespace, lowercase).
func (ix *Index) lookupService(key string) *svcRecords {
	r, _ := ix.svcs.get(key)
	return r
}

// lookupPTR returns the PTR set of a reverse name (lowercase FQDN).
func (ix *Index) lookupPTR(name string) *rrSet {
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
