// Package headless is a CoreDNS plugin that answers Kubernetes headless-Service
// and StatefulSet names (A, AAAA, SRV, PTR) from EndpointSlice watches that
// receive only the slices of headless Services.
//
// This package is the plugin's own concerns: setting it up from the parsed
// Corefile (setup.go), the handler and its zones (handler.go), resolving a
// name (resolve.go), the records of a reply (records.go) and writing it
// (reply.go), the per-client front step (front.go), negative answers that do
// not stick (negative.go), zone transfers (transfer.go), the plugin's side
// of its watches (watcher.go), explain's wiring (explain.go) and every
// metric (metrics.go). Below it, imports run one way: internal/corefile
// (the stanza's grammar), internal/names, internal/xfr, internal/watch
// (which imports manifests), internal/explain and internal/index,
// internal/topology and internal/manifests; all but manifests import
// internal/object, which imports nothing of ours (see README.md, "Code map").
package headless

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/headlessdns/headless/internal/corefile"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/headlessdns/headless/internal/watch"
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
	mc      *clusterset // the multicluster option's clusterset zones; nil when off

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

// config is the stanza as parsed (internal/corefile).
type config = corefile.Config

// Name implements plugin.Handler.
func (h *Headless) Name() string { return pluginName }

// Ready implements the ready plugin's Readiness: true once the watches have
// delivered a full sync and the index holds it.
func (h *Headless) Ready() bool { return h.index.Synced() }
