package headless

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/labels"
)

// IndexOptions configure an Index.
type IndexOptions struct {
	Zones      []string        // forward zones, lowercase FQDN; SRV targets are built for each, PTR targets in Zones[0]
	TTL        uint32          // TTL of every record
	PodNames   bool            // endpoint_pod_names: name endpoints without hostname by their pod
	Zonal      bool            // zone-scoped names
	Selector   labels.Selector // Services must match; nil selects all
	Namespaces []string        // only these namespaces; none means all
}

// Index is the store of precomputed answers. The informer handlers feed it
// objects; one builder goroutine turns changed Services into record sets and
// publishes them; ServeDNS reads published sets without locks.
type Index struct {
	opts    IndexOptions
	nsAllow map[string]bool // nil allows all

	mu       sync.Mutex
	services map[string]*Service            // key: name.namespace
	slices   map[string]map[string]*Slice   // service key -> slice namespace/name -> slice
	owners   map[string]sliceOwner          // slice namespace/name -> where it is filed, and which watch delivered it
	dirty    map[string]map[string]struct{} // service key -> its changed slice ids; nil: the Service itself changed
	wantSync bool
	wantSvc  bool
	kick     chan struct{}
	build    builder         // the builder's working memory, under mu
	ptr      ptrBook         // PTR contributions per address, under mu
	live     map[string]bool // service keys currently published
	liveNS   map[string]int  // namespace -> published Services in it
	nodes    map[string]*Node
	capKeys  map[string]struct{} // live Services with a max-answers annotation cap
	ttlKeys  map[string]struct{} // live Services with a ttl annotation
	nodesNew bool                // nodes changed since the last publish

	svcs       shardMap[*svcRecords]
	namespaces atomic.Pointer[map[string]struct{}]
	ptrTab     atomic.Pointer[ptrTable] // every published PTR address and its contributions
	nodeTab    atomic.Pointer[nodeTable]
	capped     atomic.Int64 // published Services whose headless.dns/max-answers sets a cap
	ownTTL     atomic.Int64 // published Services whose headless.dns/ttl sets their TTL
	modified   atomic.Int64
	pending    atomic.Bool   // a change is taken in and not yet published: the next read publishes it
	caughtUp   atomic.Bool   // the initial sync is published whole
	settle     time.Duration // how long later changes gather before the builder publishes them unasked
	urgent     chan struct{} // more changes wait than a settle period should gather: publish now
	waiting    int           // endpoints of the slices changed since the last publish (under mu)
	urgentAt   int           // waiting endpoints that make the builder publish without settling
	nServices  atomic.Int64
	nAddresses atomic.Int64
	isSynced   atomic.Bool
	svcSynced  atomic.Bool
	synced     chan struct{}
}

// sliceOwner is where a slice is filed and which watch delivered it last:
// a slice that moves between two watches (its managed-by label changed) may
// be added by the new watch before the old watch's delete arrives, and that
// delete must not remove it.
type sliceOwner struct {
	service string
	watch   int
}

// NewIndex returns an empty index.
func NewIndex(o IndexOptions) *Index {
	ix := &Index{
		opts:     o,
		services: map[string]*Service{},
		slices:   map[string]map[string]*Slice{},
		owners:   map[string]sliceOwner{},
		dirty:    map[string]map[string]struct{}{},
		kick:     make(chan struct{}, 1),
		live:     map[string]bool{},
		liveNS:   map[string]int{},
		nodes:    map[string]*Node{},
		capKeys:  map[string]struct{}{},
		ttlKeys:  map[string]struct{}{},
		synced:   make(chan struct{}),
		settle:   settlePeriod,
		urgent:   make(chan struct{}, 1),
		urgentAt: flushBatch,
	}
	if len(o.Namespaces) > 0 {
		ix.nsAllow = map[string]bool{}
		for _, n := range o.Namespaces {
			ix.nsAllow[n] = true
		}
	}
	ix.svcs.init()
	ix.namespaces.Store(&map[string]struct{}{})
	ix.ptrTab.Store(&ptrTable{})
	ix.nodeTab.Store(newNodeTable(nil))
	ix.modified.Store(time.Now().Unix())
	return ix
}

func serviceKey(name, namespace string) string { return name + "." + namespace }

// markDirty marks a Service changed as a whole: every slice is looked at.
func (ix *Index) markDirty(key string) {
	ix.dirty[key] = nil
	n := 0
	for _, s := range ix.slices[key] {
		n += len(s.Endpoints)
	}
	ix.noteWaiting(n)
	ix.kickBuilder()
}

// noteWaiting counts endpoints of changed slices since the last publish
// (under mu): past urgentAt, the builder publishes without settling.
func (ix *Index) noteWaiting(endpoints int) {
	ix.waiting += endpoints
	if ix.waiting >= ix.urgentAt {
		select {
		case ix.urgent <- struct{}{}:
		default:
		}
	}
}

// markSlice marks one slice of a Service changed (added, updated, deleted):
// only it is derived again.
func (ix *Index) markSlice(key, id string, endpoints int) {
	ix.noteWaiting(endpoints)
	ids, had := ix.dirty[key]
	switch {
	case had && ids == nil: // the whole Service is already dirty
	case ids == nil:
		ix.dirty[key] = map[string]struct{}{id: {}}
	default:
		ids[id] = struct{}{}
	}
	ix.kickBuilder()
}

func (ix *Index) kickBuilder() {
	ix.pending.Store(true)
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

func (ix *Index) allowed(ns string) bool { return ix.nsAllow == nil || ix.nsAllow[ns] }

// UpdateService records a Service add, update or delete. A revision that
// changes nothing an answer depends on (a relist) costs no rebuild.
func (ix *Index) UpdateService(s *Service, deleted bool) {
	key := serviceKey(s.Name, s.Namespace)
	keep := !deleted && s.Headless && ix.allowed(s.Namespace) &&
		(ix.opts.Selector == nil || ix.opts.Selector.Matches(labels.Set(s.Labels)))
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.services[key]
	switch {
	case keep && old != nil && old.sameContent(s):
		ix.services[key] = s
		return
	case keep:
		ix.services[key] = s
	case old == nil:
		return
	default:
		delete(ix.services, key)
	}
	ix.markDirty(key)
}

// UpdateSlice records an EndpointSlice add, update or delete delivered by
// watch number watch. A delete from a watch that no longer owns the slice is
// stale (the slice moved to another watch) and ignored.
func (ix *Index) UpdateSlice(s *Slice, deleted bool, watch int) {
	ix.UpdateSliceAt(s, deleted, watch, time.Time{})
}

// UpdateSliceAt is UpdateSlice for a live change that began at trigger: when
// the change is published, the time since trigger is the DNS programming
// latency. A zero trigger (a relist) is not measured.
func (ix *Index) UpdateSliceAt(s *Slice, deleted bool, watch int, trigger time.Time) {
	id := s.Namespace + "/" + s.Name
	ix.mu.Lock()
	defer ix.mu.Unlock()
	owner, had := ix.owners[id]
	if deleted && had && owner.watch != watch {
		return
	}
	key := ""
	if !deleted && s.Service != "" && ix.allowed(s.Namespace) {
		key = serviceKey(s.Service, s.Namespace)
	}
	if had {
		if old := ix.slices[owner.service][id]; key == owner.service && old != nil && old.sameContent(s) {
			ix.slices[key][id] = s
			ix.owners[id] = sliceOwner{service: key, watch: watch}
			return
		}
		delete(ix.slices[owner.service], id)
		if len(ix.slices[owner.service]) == 0 {
			delete(ix.slices, owner.service)
		}
		delete(ix.owners, id)
		ix.markSlice(owner.service, id, len(s.Endpoints))
		if key != owner.service {
			ix.noteTrigger(owner.service, trigger) // the change is its leaving
		}
	}
	if key == "" {
		return
	}
	if ix.slices[key] == nil {
		ix.slices[key] = map[string]*Slice{}
	}
	ix.slices[key][id] = s
	ix.owners[id] = sliceOwner{service: key, watch: watch}
	ix.markSlice(key, id, len(s.Endpoints))
	ix.noteTrigger(key, trigger)
}

// MarkSynced tells the index that every watch has delivered its initial list.
// From then on the index is synced: what the lists held is taken in, and a
// read publishes what it needs of it first (fresh), so answers never miss
// it; the builder publishes the rest at once, a batch at a time.
func (ix *Index) MarkSynced() {
	ix.mu.Lock()
	ix.wantSync = true
	if !ix.isSynced.Load() {
		ix.svcSynced.Store(true)
		ix.isSynced.Store(true)
		close(ix.synced)
	}
	ix.mu.Unlock()
	ix.kickBuilder()
}

// MarkServicesSynced tells the index that the Service watches have delivered
// their initial lists: from the next publish on it knows every headless
// Service, and names of other Services can pass on.
func (ix *Index) MarkServicesSynced() {
	ix.mu.Lock()
	ix.wantSvc = true
	ix.mu.Unlock()
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

// ServicesSynced reports whether the index knows every headless Service.
func (ix *Index) ServicesSynced() bool { return ix.svcSynced.Load() }

// Synced reports whether the index holds a full sync.
func (ix *Index) Synced() bool { return ix.isSynced.Load() }

// The query API: what ServeDNS reads. Lock-free, allocation-free.

// Service returns the published records of a headless Service by its key
// (name.namespace, lowercase), or nil.
func (ix *Index) Service(key string) *svcRecords {
	ix.freshService(key)
	r, _ := ix.svcs.get(key)
	return r
}

// PTR returns the PTR contributions of the address a reverse name (lowercase
// FQDN) spells, or nil.
func (ix *Index) PTR(name string) *ptrRefs {
	p, ok := parseReverse(name)
	if !ok || p.Bits() != p.Addr().BitLen() {
		return nil
	}
	ix.fresh()
	return ix.ptrTab.Load().get(p.Addr())
}

// HasNamespace reports whether a headless Service is published in ns.
func (ix *Index) HasNamespace(ns string) bool {
	ix.fresh()
	_, ok := (*ix.namespaces.Load())[ns]
	return ok
}

// HasAddressIn reports whether a published PTR address is inside p.
func (ix *Index) HasAddressIn(p netip.Prefix) bool {
	ix.fresh()
	return ix.ptrTab.Load().anyIn(p)
}

// TTL is the TTL of every record, and the SOA minimum.
func (ix *Index) TTL() uint32 { return ix.opts.TTL }

// Zonal reports whether zone-scoped names are answered.
func (ix *Index) Zonal() bool { return ix.opts.Zonal }

// Serial is the SOA serial: the Unix time of the last published change.
func (ix *Index) Serial() uint32 {
	ix.fresh()
	return uint32(ix.modified.Load())
}

// Counts are the published Services and distinct PTR addresses.
func (ix *Index) Counts() (services, addresses int64) {
	ix.fresh()
	return ix.nServices.Load(), ix.nAddresses.Load()
}
