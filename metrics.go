package headless

import (
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	watchEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "watch_events_total",
		Help: "Watch events received, by resource (services, endpointslices).",
	}, []string{"resource"})
	watchFailures = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "watch_failures_total",
		Help: "Failed list or watch calls of the plugin's watches (retried about once a second while the API server is unreachable).",
	})
	invalidObjects = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "invalid_objects_total",
		Help: "Parts of objects skipped because the API server would reject them, by resource and what was skipped.",
	}, []string{"resource", "reason"})
	indexBuildSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "index_build_duration_seconds",
		Help:    "Time to build and publish one batch of changed Services.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
	})
	programmingSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "dns_programming_duration_seconds",
		Help:    "Time from an endpoint change (the EndpointSlice's last-change-trigger-time, else the event's arrival) to its new answer being served, by service_kind (headless_with_selector, headless_without_selector) and source (local: cluster zones; clusterset: the multicluster option's imported slices).",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 17),
	}, []string{"service_kind", "source"})
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "requests_total",
		Help: "Queries in the plugin's zones, by outcome (answer, nodata, nxdomain, servfail, pass).",
	}, []string{"outcome"})
	topologyAnswers = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "topology_answers_total",
		Help: "Replies put in topology order, by the best match they hold for the client: node (same node first), zone (same zone first), none (client unknown or no endpoint near it).",
	}, []string{"match"})
	staleNegatives = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "negative_replaced_total",
		Help: "Negative replies (from cache or a race) replaced by the index's answer because the name now exists below a Service with a negative TTL.",
	})
	cappedReplies = promauto.NewCounter(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "capped_replies_total",
		Help: "UDP replies from which records were left out by max_answers or headless.dns/max-answers (never truncated).",
	})
	topoNode    = topologyAnswers.WithLabelValues(topology.MatchNode)
	topoZone    = topologyAnswers.WithLabelValues(topology.MatchZone)
	topoNone    = topologyAnswers.WithLabelValues(topology.MatchNone)
	reqAnswer   = requests.WithLabelValues("answer")
	reqNodata   = requests.WithLabelValues("nodata")
	reqNXDomain = requests.WithLabelValues("nxdomain")
	reqServfail = requests.WithLabelValues("servfail")
	reqPass     = requests.WithLabelValues("pass")
)

// indexHooks tell the metrics what the index does; importedIndexHooks what
// the clusterset index does.
var (
	indexHooks         = hooksOf("local")
	importedIndexHooks = hooksOf("clusterset")
)

func hooksOf(source string) index.Hooks {
	// the two programming-latency series, looked up once (a label lookup
	// hashes on every event)
	with := programmingSeconds.WithLabelValues("headless_with_selector", source)
	without := programmingSeconds.WithLabelValues("headless_without_selector", source)
	return index.Hooks{
		Published: func(d time.Duration) { indexBuildSeconds.Observe(d.Seconds()) },
		Programmed: func(d time.Duration, withSelector bool) {
			o := without
			if withSelector {
				o = with
			}
			o.Observe(d.Seconds())
		},
	}
}

// Gauges of the index are per plugin instance, labelled by server block and
// zone as stock metrics are: two server blocks never overwrite each other, and
// during a reload the newest instance of a server block is the one reported.
var (
	descServices = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_services",
		"Headless Services with published records.", []string{"server", "zone"}, nil)
	descAddresses = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_addresses",
		"Distinct endpoint addresses published with a PTR.", []string{"server", "zone"}, nil)
	descFallback = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_sync_fallback",
		"1 while Service names pass to the next plugin because the Service watch did not sync within startup_timeout.", []string{"server", "zone"}, nil)
	descSynced = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_synced",
		"1 once every watch has delivered its initial list and the index holds it.", []string{"server", "zone"}, nil)
	descWatchUp = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_watch_up",
		"1 while a watch is connected, 0 while its list or watch calls fail and answers come from the last known state.", []string{"server", "zone", "watch"}, nil)
	descWatchAge = prometheus.NewDesc(plugin.Namespace+"_"+pluginName+"_watch_last_event_age_seconds",
		"Seconds since a watch last delivered an event, a list or a bookmark (the API server bookmarks idle watches about once a minute).", []string{"server", "zone", "watch"}, nil)
)

// watchHooks count the watches' events and failed calls.
var watchHooks = watch.Hooks{
	Events:  func(resource string) func() { return watchEvents.WithLabelValues(resource).Inc },
	Failed:  watchFailures.Inc,
	Invalid: func(resource, reason string) { invalidObjects.WithLabelValues(resource, reason).Inc() },
}

type instances struct {
	mu  sync.Mutex
	gen uint64
	all map[*Headless]uint64 // instance -> generation (start order)
}

var running = &instances{all: map[*Headless]uint64{}}

func init() {
	prometheus.MustRegister(running)
	// Series that alerts and dashboards use exist from the start, at zero.
	for _, r := range []struct{ resource, reason string }{{"services", "name"}, {"endpointslices", "service-name"},
		{"endpointslices", "hostname"}, {"endpointslices", "address"}, {"endpointslices", "port"}, {"services", "annotation"},
		{"endpointslices", "source-cluster"}, {"serviceimports", "ip"}} {
		invalidObjects.WithLabelValues(r.resource, r.reason)
	}
	for _, m := range []string{topology.MatchNode, topology.MatchZone, topology.MatchNone} {
		topologyAnswers.WithLabelValues(m)
	}
}

func (in *instances) add(h *Headless) {
	in.mu.Lock()
	in.gen++
	in.all[h] = in.gen
	in.mu.Unlock()
}

func (in *instances) remove(h *Headless) {
	in.mu.Lock()
	delete(in.all, h)
	in.mu.Unlock()
}

func (in *instances) Describe(ch chan<- *prometheus.Desc) {
	ch <- descServices
	ch <- descAddresses
	ch <- descFallback
	ch <- descSynced
	ch <- descWatchUp
	ch <- descWatchAge
}

func (in *instances) Collect(ch chan<- prometheus.Metric) {
	in.mu.Lock()
	newest := map[string]*Headless{}
	for h, g := range in.all {
		k := h.server + " " + h.zoneLabel()
		if o := newest[k]; o == nil || in.all[o] < g {
			newest[k] = h
		}
	}
	in.mu.Unlock()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	for _, h := range newest {
		svcs, addrs := h.index.Counts()
		z := h.zoneLabel()
		ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(svcs), h.server, z)
		ch <- prometheus.MustNewConstMetric(descAddresses, prometheus.GaugeValue, float64(addrs), h.server, z)
		ch <- prometheus.MustNewConstMetric(descFallback, prometheus.GaugeValue, b(h.fellBack.Load()), h.server, z)
		ch <- prometheus.MustNewConstMetric(descSynced, prometheus.GaugeValue, b(h.index.Synced()), h.server, z)
		if h.health != nil {
			watchSeries(ch, h.server, z, h.health.Health())
		}
		if c := h.mc; c != nil { // the clusterset zones' own series
			z := strings.Join(c.zones, " ")
			svcs, addrs := c.index.Counts()
			ch <- prometheus.MustNewConstMetric(descServices, prometheus.GaugeValue, float64(svcs+int64(c.vips.Len())), h.server, z)
			ch <- prometheus.MustNewConstMetric(descAddresses, prometheus.GaugeValue, float64(addrs), h.server, z)
			ch <- prometheus.MustNewConstMetric(descSynced, prometheus.GaugeValue, b(c.index.Synced() && !c.absent.Load()), h.server, z)
			watchSeries(ch, h.server, z, c.health())
		}
	}
}

// watchSeries are the watch_up and watch_last_event_age_seconds series of
// the watches hs.
func watchSeries(ch chan<- prometheus.Metric, server, z string, hs []watch.Health) {
	now := time.Now()
	for _, w := range hs {
		age := 0.0
		if !w.LastHeard.IsZero() {
			age = now.Sub(w.LastHeard).Seconds()
		}
		up := 0.0
		if w.Up {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descWatchUp, prometheus.GaugeValue, up, server, z, w.Name)
		ch <- prometheus.MustNewConstMetric(descWatchAge, prometheus.GaugeValue, age, server, z, w.Name)
	}
}

// zoneLabel is the instance's zones but the clusterset ones, space-separated.
func (h *Headless) zoneLabel() string {
	names := make([]string, 0, len(h.zones))
	for _, z := range h.zones {
		if !z.set {
			names = append(names, z.name)
		}
	}
	return strings.Join(names, " ")
}
