// Package headless is a CoreDNS plugin that answers Kubernetes headless-Service
// and StatefulSet names (A, AAAA, SRV, PTR) from EndpointSlice watches that
// receive only the slices of headless Services.
//
// This package is the plugin's own concerns: the Corefile (setup.go,
// stockopts.go), the handler and its zones (handler.go), the name grammar
// (names.go), resolving a name (resolve.go), the records of a reply
// (records.go) and writing it (reply.go), the per-client front step
// (front.go), negative answers that do not stick (negative.go), zone
// transfers (transfer.go), the plugin's side of its watches (watcher.go),
// explain's wiring (explain.go) and every metric (metrics.go). Below it,
// imports run one way: internal/watch (which imports manifests),
// internal/explain and internal/index, internal/topology and
// internal/manifests; all but manifests import internal/object, which
// imports nothing of ours (see README.md, "Code map").
package headless

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/manifests"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/headlessdns/headless/internal/watch"
	"k8s.io/apimachinery/pkg/labels"
)

const pluginName = "headless"

var log = clog.NewWithPlugin(pluginName)

// Headless is the plugin: the zones it answers for, its index of precomputed
// answers and the watches that fill it.
type Headless struct {
	Next plugin.Handler

	zones []zone // lowercase; forward zones first in the order given
	index *index.Index
	nodes *topology.Nodes // with topology: locates clients by the Nodes
	cfg   config

	// newSource returns what to watch; set by setup from the Corefile.
	newSource func() (watch.Source, error)
	src       watch.Source
	watch     *watch.Watcher
	watchOpts watch.Options // StaleAfter, and the metrics' hooks
	health    watchHealth   // the watches' health: watch, once started

	explain *explaining // the explain option's running state; nil when off

	// zone transfers (transfer.go), found at start-up
	nextXfr     []transfer.Transferer // the handlers behind us that transfer zones
	serialMerge bool                  // transfer is on and a transferer is behind us: the apex SOA serial is merged
	boundIPs    []net.IP              // the NS host's addresses in our own zone's transfer

	server    string // the server block, for metric labels
	startedAt time.Time
	started   atomic.Bool
	fellBack  atomic.Bool // passing names on: the Service watch did not sync in time
	clock     func() time.Time
}

// config is the parsed Corefile stanza.
type config struct {
	api            watch.Client // kubeconfig, endpoint, compression, tls, apiserver_ limits
	manifests      []string
	loaded         *manifests.Loaded // what parse read of them (handed to the source once)
	namespaces     []string
	labels         string          // the selector as written: sent to the API server
	selector       labels.Selector // the same, parsed once; nil selects all
	ttl            uint32
	negativeTTL    int32 // negative_ttl N: the most seconds a negative answer's SOA lets it be held, when hasNegTTL
	hasNegTTL      bool  // negative_ttl given (unset: the SOA as stock writes it)
	hostnames      bool  // publish_not_ready hostnames
	podNames       bool
	zonal          bool
	startupTimeout time.Duration

	// per-client answers (front.go)
	topology    bool                 // topology order on
	defaultMode object.TrafficMode   // for Services that set no trafficDistribution (topology with an argument)
	clientZones topology.PrefixTable // client_zones: static client locations, before the Nodes
	maxAnswers  int                  // max_answers: cap of UDP replies; 0 none

	explain     bool   // explain: reasons of missing names in replies
	explainAddr string // explain ADDRESS: the HTTP endpoint; "" none

	// stock's options (stockopts.go)
	fall       fall.F          // fallthrough [ZONES...]: NXDOMAIN below a Service passes on
	nsLabels   string          // namespace_labels as written: sent to the API server
	nsSelector labels.Selector // the same, parsed; nil: every namespace
	singlePTR  bool            // single_ptr: one PTR per address
}

// Name implements plugin.Handler.
func (h *Headless) Name() string { return pluginName }

// Ready implements the ready plugin's Readiness: true once the watches have
// delivered a full sync and the index holds it.
func (h *Headless) Ready() bool { return h.index.Synced() }
