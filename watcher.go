package headless

import (
	"fmt"

	"github.com/coredns/coredns/coremain"
	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/watch"
)

// The plugin's side of its watches (internal/watch): what to watch, starting
// and stopping them, what replies and metrics read of their health, and the
// fallback when the Service watch does not sync in time.

// sourceFor returns what the Corefile asks to watch: the manifests'
// in-memory cluster, or an API server.
func sourceFor(cfg config) (watch.Source, error) {
	if len(cfg.Manifests) > 0 {
		return watch.FromManifests(cfg.Manifests, cfg.Loaded)
	}
	api := cfg.API
	api.Agent = coremain.CoreName + "/" + coremain.CoreVersion
	return watch.FromAPI(api)
}

// OnStartup starts the watches and waits up to startup_timeout for a full
// sync. Until then Ready is false and Service names get SERVFAIL, never a
// false NXDOMAIN (see fallBack for a Service watch that never syncs).
func (h *Headless) OnStartup() error {
	src, err := h.newSource()
	if err != nil {
		return plugin.Error(pluginName, fmt.Errorf("kubernetes client: %w", err))
	}
	h.src = src
	specs := watch.Specs(h.cfg.Namespaces, h.cfg.Labels, src.Filtered(), h.cfg.Topology)
	if h.cfg.NSSelector != nil {
		specs = append(specs, watch.Spec{Resource: "namespaces", Label: h.cfg.NSLabels})
	}
	to := watch.Targets{Index: h.index, NSSelector: h.cfg.NSSelector}
	if h.mc != nil && h.cfg.NSSelector != nil {
		to.Index = scopeBoth{h.index, h.mc.index} // namespace_labels scopes the imports too
	}
	if h.nodes != nil {
		to.Nodes = h.nodes
	}
	h.watch = watch.New(src, specs, to, h.watchOpts)
	if h.health == nil {
		h.health = h.watch
	}
	h.startedAt = h.clock()
	h.started.Store(true)
	running.add(h)
	if err := h.startExplain(src); err != nil {
		h.watch = nil
		src.Close()
		running.remove(h)
		return plugin.Error(pluginName, fmt.Errorf("explain: %w", err))
	}
	h.watch.Start()
	if !h.watch.WaitSynced(h.cfg.StartupTimeout) {
		log.Warningf("starting server with unsynced Kubernetes API after %s; Service names get SERVFAIL until synced", h.cfg.StartupTimeout)
	}
	if h.mc != nil {
		h.mc.start(src, &h.cfg, h.watchOpts) // in the background: never holds start-up or readiness back
	}
	return nil
}

// OnShutdown stops every watch and goroutine this instance started.
func (h *Headless) OnShutdown() error {
	h.stopExplain()
	if h.mc != nil {
		h.mc.shutdown()
	}
	if h.watch != nil {
		h.watch.Stop()
	}
	if h.src != nil {
		h.src.Close()
	}
	running.remove(h)
	return nil
}

// watchHealth is what replies and metrics read of the watches.
type watchHealth interface {
	Health() []watch.Health
	Stale() (watch.Health, bool)
}

// fallBack decides whether names are passed on although the Service watch
// has not synced: once startup_timeout has passed since start-up, the next
// plugin answers (stock kubernetes answers SERVFAIL itself until it is
// synced). The first time it does, it sets fellBack (shown by
// coredns_headless_sync_fallback) and logs one ERROR line.
func (h *Headless) fallBack() bool {
	if h.Next == nil {
		return false // nobody to pass to: SERVFAIL until synced, never a false NXDOMAIN
	}
	if !h.started.Load() || h.clock().Sub(h.startedAt) < h.cfg.StartupTimeout {
		return false
	}
	if h.fellBack.CompareAndSwap(false, true) {
		log.Errorf("the Service watch has not synced %s after start-up: passing Service names to the next plugin until it does", h.cfg.StartupTimeout)
	}
	return true
}

// recovered ends a fallback once the Service watch has synced.
func (h *Headless) recovered() {
	if h.fellBack.CompareAndSwap(true, false) {
		log.Infof("the Service watch has synced: answering Service names again")
	}
}

// scopeBoth is the local index that also tells the clusterset index which
// namespaces namespace_labels puts in scope.
type scopeBoth struct {
	*index.Index
	imports *index.Index
}

func (s scopeBoth) SetNamespace(ns string, in bool) {
	s.Index.SetNamespace(ns, in)
	s.imports.SetNamespace(ns, in)
}
