package index

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/object"
	"k8s.io/apimachinery/pkg/labels"
)

// Options configure an Index.
type Options struct {
	Zones      []string        // forward zones, lowercase FQDN; SRV targets are built for each, PTR targets in Zones[0]
	TTL        uint32          // TTL of every record
	PodNames   bool            // endpoint_pod_names: name endpoints without hostname by their pod
	Zonal      bool            // zone-scoped names
	Selector   labels.Selector // Services must match; nil selects all
	Namespaces []string        // only these namespaces; none means all
	Scoped     bool            // namespace_labels: only the namespaces SetNamespace puts in scope are published
	Hostnames  bool            // publish_not_ready hostnames: for Services that set no headless.dns/publish-not-ready
	Hooks      Hooks           // what the plugin's metrics are told

	// A clusterset index (multicluster): Services are ServiceImports, slices
	// the imported ones (object.Slice.Imported), each endpoint named
	// <name>.<cluster>.
	Imported bool
	Cluster  string // this cluster's ID: endpoints of other clusters are away (topology); "" unknown
}

// Hooks are told what the index does; a nil hook is not called.
type Hooks struct {
	// Published is told how long one publish took.
	Published func(time.Duration)
	// Programmed is told the DNS programming latency of a change taken in
	// (see latency.go), by whether its Service has a selector.
	Programmed func(d time.Duration, withSelector bool)
}

// Index is the store of precomputed answers. The watches hand it reduced
// objects (Update*); the builder goroutine (Run) turns changed Services into
// record sets and publishes them; reads (Service, PTR, ...) load published
// versions without a lock, except the first read after a change was taken
// in: it publishes that change first, under the lock (publishPending).
type Index struct {
	opts    Options
	nsAllow map[string]bool // nil allows all
	scope   map[string]bool // with Scoped, the namespaces in scope (under mu); nil: all are

	// taken in: under mu
	mu       sync.Mutex
	services map[string]*object.Service          // key: name.namespace
	slices   map[string]map[string]*object.Slice // service key -> slice namespace/name -> slice
	owners   map[string]sliceOwner               // slice namespace/name -> where it is filed, and which watch delivered it
	dirty    map[string]map[string]struct{}      // service key -> its changed slice ids; nil: the Service itself changed
	wantSync bool
	wantSvc  bool
	build    builder       // the builder's working memory
	ptr      ptrBook       // PTR contributions filed since the last publish
	pub      publishedSet  // what is published, counted
	waiting  int           // endpoints of the slices changed since the last publish
	urgentAt int           // waiting endpoints that make the builder publish without settling
	kick     chan struct{} // a change was taken in
	urgent   chan struct{} // more changes wait than a settle period should gather: publish now
	settle   time.Duration // how long later changes gather before the builder publishes them unasked

	// published: read without the lock
	svcs       shardMap[*Records]
	namespaces atomic.Pointer[map[string]struct{}]
	ptrTab     atomic.Pointer[ptrTable] // every published PTR address and its contributions
	capped     atomic.Int64             // published Services whose headless.dns/max-answers sets a cap
	ownTTL     atomic.Int64             // published Services whose headless.dns/ttl sets their TTL
	ownNegTTL  atomic.Int64             // published Services whose headless.dns/negative-ttl sets their negative TTL
	modified   atomic.Int64
	nServices  atomic.Int64
	nAddresses atomic.Int64

	// sync state
	gen       atomic.Uint64 // changes taken in so far (Generation)
	pending   atomic.Bool   // a change is taken in and not yet published: the next read publishes it
	caughtUp  atomic.Bool   // the initial sync is published whole
	isSynced  atomic.Bool
	svcSynced atomic.Bool
	synced    chan struct{}
}

// publishedSet is what the publishes so far have made visible, under mu.
type publishedSet struct {
	keys    map[string]bool     // service keys currently published
	perNS   map[string]int      // namespace -> published Services in it
	capKeys map[string]struct{} // published Services with a max-answers annotation cap
	ttlKeys map[string]struct{} // published Services with a ttl annotation
	negKeys map[string]struct{} // published Services with a negative-ttl annotation
}

// sliceOwner is where a slice is filed and which watch delivered it last:
// a slice that moves between two watches (its managed-by label changed) may
// be added by the new watch before the old watch's delete arrives, and that
// delete must not remove it.
type sliceOwner struct {
	service string
	watch   int
}

// New returns an empty index.
func New(o Options) *Index {
	ix := &Index{
		opts:     o,
		services: map[string]*object.Service{},
		slices:   map[string]map[string]*object.Slice{},
		owners:   map[string]sliceOwner{},
		dirty:    map[string]map[string]struct{}{},
		kick:     make(chan struct{}, 1),
		pub: publishedSet{keys: map[string]bool{}, perNS: map[string]int{},
			capKeys: map[string]struct{}{}, ttlKeys: map[string]struct{}{}, negKeys: map[string]struct{}{}},
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
	if o.Scoped {
		ix.scope = map[string]bool{}
	}
	ix.svcs.init()
	ix.namespaces.Store(&map[string]struct{}{})
	ix.ptrTab.Store(&ptrTable{})
	ix.modified.Store(time.Now().Unix())
	return ix
}

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
	ix.gen.Add(1)
	ix.pending.Store(true)
	select {
	case ix.kick <- struct{}{}:
	default:
	}
}

func (ix *Index) allowed(ns string) bool { return ix.nsAllow == nil || ix.nsAllow[ns] }

// inScope reports whether a namespace's Services are published (under mu).
func (ix *Index) inScope(ns string) bool { return ix.scope == nil || ix.scope[ns] }

// InScope reports whether a namespace's Services are published: always,
// without namespace_labels.
func (ix *Index) InScope(ns string) bool {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.inScope(ns)
}

// SetNamespace puts a namespace in scope or takes it out (namespace_labels):
// its Services are published or withdrawn at the next publish. What the
// watches delivered of it is kept either way, so a namespace relabelled
// into scope is served at once, without a relist.
func (ix *Index) SetNamespace(ns string, in bool) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	if ix.scope == nil || ix.scope[ns] == in {
		return
	}
	if in {
		ix.scope[ns] = true
	} else {
		delete(ix.scope, ns)
	}
	for key, svc := range ix.services {
		if svc.Namespace == ns {
			ix.markDirty(key)
		}
	}
}

// UpdateService records a Service add, update or delete. A revision that
// changes nothing an answer depends on (a relist) costs no rebuild.
func (ix *Index) UpdateService(s *object.Service, deleted bool) {
	key := ServiceKey(s.Name, s.Namespace)
	keep := !deleted && s.Headless && ix.allowed(s.Namespace) &&
		(ix.opts.Selector == nil || ix.opts.Selector.Matches(labels.Set(s.Labels)))
	ix.mu.Lock()
	defer ix.mu.Unlock()
	old := ix.services[key]
	switch {
	case keep && old != nil && old.SameContent(s):
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
func (ix *Index) UpdateSlice(s *object.Slice, deleted bool, watch int) {
	ix.UpdateSliceAt(s, deleted, watch, time.Time{})
}

// UpdateSliceAt is UpdateSlice for a change of the watch stream that began
// at trigger: the time from trigger until the change is taken in is the DNS
// programming latency. A zero trigger (a relist) is not measured.
func (ix *Index) UpdateSliceAt(s *object.Slice, deleted bool, watch int, trigger time.Time) {
	id := s.Namespace + "/" + s.Name
	ix.mu.Lock()
	defer ix.mu.Unlock()
	owner, had := ix.owners[id]
	if deleted && had && owner.watch != watch {
		return
	}
	key := ""
	if !deleted && s.Service != "" && s.Imported == ix.opts.Imported && ix.allowed(s.Namespace) {
		key = ServiceKey(s.Service, s.Namespace)
	}
	if had {
		if old := ix.slices[owner.service][id]; key == owner.service && old != nil && old.SameContent(s) {
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
		ix.slices[key] = map[string]*object.Slice{}
	}
	ix.slices[key][id] = s
	ix.owners[id] = sliceOwner{service: key, watch: watch}
	ix.markSlice(key, id, len(s.Endpoints))
	ix.noteTrigger(key, trigger)
}

// MarkSynced tells the index that every watch has delivered its initial list.
// From then on the index is synced: what the lists held is taken in, and a
// read publishes what it needs of it first (publishPending), so answers never miss
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

// The read API: what ServeDNS reads. Lock-free and allocation-free, but
// for the first read after a change is taken in, which publishes it
// (publishPending).

// WaitSynced waits until the index holds a full sync (true), timeout
// passes or stop closes.
func (ix *Index) WaitSynced(timeout time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ix.synced:
		return true
	case <-t.C:
	case <-stop:
	}
	return false
}

// SetCluster sets this cluster's ID (Options.Cluster), before the first
// slice is taken in: a clusterset index may learn it from the API server.
func (ix *Index) SetCluster(id string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ix.opts.Cluster = id
}

// locOf is where an endpoint of slice s runs, as topology order compares
// it: in a clusterset index that knows this cluster's ID, another cluster's
// endpoint is away.
func (o *Options) locOf(s *object.Slice, ep *object.Endpoint) *object.Loc {
	if s.Cluster != "" && o.Cluster != "" && s.Cluster != o.Cluster {
		return object.AwayLoc(ep.Loc)
	}
	return ep.Loc
}
