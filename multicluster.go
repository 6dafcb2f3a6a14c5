package headless

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin/pkg/nonwriter"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Clusterset zones (the multicluster option): the names of multi-cluster
// Services (KEP-1645) as the MCS DNS specification 1.0.0 writes them, from
// ServiceImports and the EndpointSlices labelled
// multicluster.kubernetes.io/service-name. A headless import is served by
// an index of its own, exactly as a headless Service (its endpoints named
// <hostname>.<clusterid>); a ClusterSetIP import by a small table of its
// clusterset IPs (index.VIPs).

// MCSVersion is the MCS DNS specification's schema version, the TXT record at
// dns-version.<clusterset zone>.
const MCSVersion = "1.0.0"

// importRecheck is how often the plugin looks again for the ServiceImport
// API when it was not served (the MCS CRD installed later).
var importRecheck = time.Minute

// clusterset is the multicluster option's running state.
type clusterset struct {
	index  *index.Index
	vips   *index.VIPs
	zones  []string // the clusterset zones, in the order given
	scoped bool     // namespace_labels: ClusterSetIP imports only of namespaces in scope

	mu     sync.Mutex                    // orders starting the watch against shutdown
	watch  atomic.Pointer[watch.Watcher] // nil until the ServiceImport API is found; read on every reply (stale)
	absent atomic.Bool                   // the ServiceImport API is not served: the zones are passed on
	flips  atomic.Uint64                 // changes of absent
	stop   chan struct{}
	done   sync.WaitGroup
}

// newClusterset builds the clusterset side for the clusterset zones fwd.
func newClusterset(cfg *config, fwd []string) *clusterset {
	o := indexOptions(cfg, fwd)
	o.Imported, o.Cluster = true, cfg.ClusterID
	o.Hooks = importedIndexHooks
	return &clusterset{index: index.New(o), vips: index.NewVIPs(o), zones: fwd, scoped: o.Scoped, stop: make(chan struct{})}
}

// inScope reports whether namespace_labels (when given) puts ns in scope;
// the clusterset index holds the scope, the table of clusterset IPs reads it.
func (c *clusterset) inScope(ns string) bool { return !c.scoped || c.index.InScope(ns) }

// keyNamespace is the namespace of a Service key ("name.namespace").
func keyNamespace(key string) string {
	_, ns, _ := strings.Cut(key, ".")
	return ns
}

// importTargets deliver an import to the index (headless ones) and to the
// table of clusterset IPs (ClusterSetIP ones).
type importTargets struct {
	*index.Index
	vips *index.VIPs
}

func (t importTargets) UpdateService(s *object.Service, deleted bool) {
	t.vips.Update(s, deleted)
	t.Index.UpdateService(s, deleted)
}

// start finds the ServiceImport API and watches it (in the background: a
// clusterset zone never holds start-up or readiness back). Without it, one
// line is logged, the zones answer as empty ones (NXDOMAIN below the apex;
// fallthrough passes those on), and it is looked for again every
// importRecheck.
func (c *clusterset) start(src watch.Source, cfg *config, opts watch.Options) {
	c.done.Add(1)
	go func() {
		defer c.done.Done()
		logged := false
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			v, err := src.ImportVersion(ctx)
			cancel()
			wait := importRecheck
			switch {
			case err != nil:
				wait = time.Second // the API server is not answering: soon again
			case v == "":
				c.setAbsent(true)
				if !logged {
					log.Warningf("multicluster: the API server serves no ServiceImports (multicluster.x-k8s.io, the MCS CRD is not installed): %s answered as empty zones until it does (looked for again every %s)", strings.Join(c.zones, " "), importRecheck)
					logged = true
				}
			default:
				if cfg.ClusterID == "" {
					c.learnCluster(src)
				}
				w := c.watchImports(src, cfg, opts, v)
				// a zone that was empty stays so until the watches have synced
				for w != nil && !w.WaitSynced(time.Second) {
					select {
					case <-c.stop:
						return
					default:
					}
				}
				c.setAbsent(false)
				return
			}
			select {
			case <-c.stop:
				return
			case <-time.After(wait):
			}
		}
	}()
}

// learnCluster reads this cluster's ID from the ClusterProperty
// cluster.clusterset.k8s.io (the About API), when the Corefile names none:
// once, before the imported slices are watched (the ID is fixed for the
// cluster's membership of its clusterset; a reload reads it again).
func (c *clusterset) learnCluster(src watch.Source) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	id, err := src.ClusterID(ctx)
	cancel()
	switch {
	case err != nil:
		log.Warningf("multicluster: ClusterProperty %s not read (%v): other clusters' endpoints are not ordered last; name this cluster with cluster in the Corefile", watch.ClusterIDProperty, err)
	case id == "":
	case len(validation.IsDNS1123Label(id)) > 0:
		log.Warningf("multicluster: ClusterProperty %s value %q is not a DNS label: ignored", watch.ClusterIDProperty, id)
	default:
		c.index.SetCluster(id)
		log.Infof("multicluster: this cluster is %s (ClusterProperty %s)", id, watch.ClusterIDProperty)
	}
}

func (c *clusterset) setAbsent(v bool) {
	if c.absent.Swap(v) != v {
		c.flips.Add(1)
	}
}

// generation moves when the clusterset IPs or absent change (explain's
// memo of reasons reads both).
func (c *clusterset) generation() uint64 { return c.vips.Generation() + c.flips.Load() }

// clusterSetIP is the ClusterSetIP import of key, or nil.
func (c *clusterset) clusterSetIP(key string) *object.Service {
	if v := c.vips.Get(key); v != nil {
		return v.Service()
	}
	return nil
}

// watchImports starts the watches of ServiceImports of version v and of the
// imported slices.
func (c *clusterset) watchImports(src watch.Source, cfg *config, opts watch.Options, v string) *watch.Watcher {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case <-c.stop:
		return nil
	default:
	}
	log.Infof("multicluster: watching ServiceImports multicluster.x-k8s.io/%s for %s", v, strings.Join(c.zones, " "))
	specs := watch.ImportSpecs(cfg.Namespaces, cfg.Labels, v)
	w := watch.New(src, specs, watch.Targets{Index: importTargets{c.index, c.vips}}, opts)
	c.watch.Store(w)
	w.Start()
	return w
}

// shutdown stops the clusterset watches.
func (c *clusterset) shutdown() {
	c.mu.Lock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	w := c.watch.Load() // (under mu: watchImports starts none after stop)
	c.mu.Unlock()
	c.done.Wait()
	if w != nil {
		w.Stop()
	}
}

// stale is the first clusterset watch failing past the freshness
// threshold; false before the watches start.
func (c *clusterset) stale() (watch.Health, bool) {
	if w := c.watch.Load(); w != nil {
		return w.Stale()
	}
	return watch.Health{}, false
}

// health is the clusterset watches' health (none before they start).
func (c *clusterset) health() []watch.Health {
	w := c.watch.Load()
	if w == nil {
		return nil
	}
	return w.Health()
}

// resolveClusterset resolves a forward name in a clusterset zone. The zone
// is ours whole: names that are no import are NXDOMAIN (fallthrough passes
// them on), the apex and empty non-terminals are answered here. Without
// the ServiceImport API the zone is an empty one: no Service name exists.
func (h *Headless) resolveClusterset(q *question) result {
	c := h.mc
	n := &q.fwd
	switch n.Kind {
	case names.Apex:
		return result{out: apex}
	case names.NS:
		return result{out: nsHost}
	case names.SvcLabel:
		return result{out: nodata}
	case names.Other:
		if q.name == "dns-version."+q.z.name {
			return result{out: version}
		}
		return result{out: nxdomain}
	}
	if c.absent.Load() {
		return result{out: nxdomain}
	}
	if !c.index.ServicesSynced() {
		if h.fallBack() {
			return result{out: pass}
		}
		return result{out: servfail}
	}
	if n.Kind == names.Namespace {
		// as for local names: a namespace with imports is an empty
		// non-terminal (stock asks whether the namespace exists here)
		if c.index.HasNamespace(n.Namespace) || c.vips.HasNamespace(n.Namespace) && c.inScope(n.Namespace) {
			return result{out: nodata}
		}
		return result{out: nxdomain}
	}
	if v := c.vips.Get(n.Service); v != nil && c.inScope(n.Namespace) {
		// §2.3: the name, its ports; no record disambiguating to a cluster
		if set := v.Name(n.Prefix); set != nil && n.TopoZone == "" && !n.TooLong {
			return result{out: answer, set: set, svc: v.Service()}
		}
		return result{out: nxdomain, svc: v.Service()}
	}
	res := h.resolveService(c.index, n)
	if res.out == pass {
		res.out = nxdomain // no such import
	}
	return res
}

// ptr is the clusterset PTR of an address (an imported endpoint's, else a
// clusterset IP's) as a result marked behind; false when there is none or
// the clusterset side cannot tell yet.
func (c *clusterset) ptr(a netip.Addr) (result, bool) {
	if c.absent.Load() || !c.index.Synced() {
		return result{}, false
	}
	p := c.index.PTR(a)
	if p == nil {
		if p = c.vips.PTR(a); p != nil && !c.inScope(keyNamespace(p.Single().ServiceKey())) {
			p = nil
		}
	}
	if p == nil {
		return result{}, false
	}
	return result{out: answer, ptr: p, behind: true}, true
}

// ptrBehind answers a reverse question that only a clusterset zone has a
// PTR for (§2.3.3, §2.4.3: when the address has no cluster-local PTR): the
// next plugin is asked first, and its PTR is the answer when it has one.
func (h *Headless) ptrBehind(ctx context.Context, w dns.ResponseWriter, r *dns.Msg, z *zone, res result) (int, error) {
	nw := nonwriter.New(w)
	rc, err := h.Next.ServeDNS(ctx, nw, r)
	if m := nw.Msg; m != nil && m.Rcode == dns.RcodeSuccess && hasPTR(m) {
		return rc, w.WriteMsg(m)
	}
	if err != nil && nw.Msg == nil {
		log.Debugf("reverse %s: the next plugin failed (%v): answering the clusterset PTR", r.Question[0].Name, err)
	}
	return h.reply(nil, w, r, z, res)
}

func hasPTR(m *dns.Msg) bool {
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == dns.TypePTR {
			return true
		}
	}
	return false
}
