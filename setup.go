package headless

import (
	"net"
	"slices"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/corefile"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/headlessdns/headless/internal/xfr"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/topology"
)

func init() { plugin.Register(pluginName, setup) }

func setup(c *caddy.Controller) error {
	h, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	conf := dnsserver.GetConfig(c)
	host := ""
	if len(conf.ListenHosts) > 0 {
		host = conf.ListenHosts[0]
	}
	h.server = conf.Transport + "://" + net.JoinHostPort(host, conf.Port)
	h.boundIPs = xfr.BoundIPs(conf.ListenHosts)
	c.OnStartup(h.OnStartup)
	c.OnStartup(func() error { h.findTransferers(conf); return nil })
	c.OnShutdown(h.OnShutdown)
	c.OnRestart(h.closeExplainServer)  // its address is the new instance's
	c.OnRestartFailed(h.listenExplain) // the old instance serves on
	conf.AddPlugin(func(next plugin.Handler) plugin.Handler {
		h.Next = next
		return h
	})
	// The per-client step goes to the front of the chain, ahead of cache and
	// loadbalance (whose setups ran before ours): see front.go. Its function
	// runs last when the chain is built, so every other handler of the block
	// is registered by then.
	conf.Plugin = slices.Insert(conf.Plugin, 0, plugin.Plugin(func(next plugin.Handler) plugin.Handler {
		return &front{h: h, next: next, presort: conf.Handler("cache") == nil}
	}))
	return nil
}

// parse reads the headless stanza (internal/corefile) and builds the plugin.
func parse(c *caddy.Controller) (*Headless, error) {
	zones, cfg, err := corefile.Parse(c)
	if err != nil {
		return nil, err
	}
	return newHeadless(zones, cfg), nil
}

// newHeadless builds the plugin for zones (normalized) and a parsed config.
func newHeadless(zones []string, cfg config) *Headless {
	h := &Headless{cfg: cfg, clock: time.Now}
	var fwd, set []string
	for _, n := range zones {
		n = strings.ToLower(n)
		z := zone{name: n, fwd: -1, reverse: names.IsReverse(n) && n != "."}
		switch {
		case z.reverse:
		case slices.Contains(cfg.Multicluster, n):
			z.fwd, z.set = len(set), true
			set = append(set, n)
		default:
			z.fwd = len(fwd)
			fwd = append(fwd, n)
		}
		h.zones = append(h.zones, z)
	}
	h.index = index.New(indexOptions(&h.cfg, fwd))
	if len(set) > 0 {
		h.mc = newClusterset(&h.cfg, set)
	}
	for i := range h.zones {
		h.zones[i].ix = h.index
		if h.zones[i].set {
			h.zones[i].ix = h.mc.index
		}
	}
	if cfg.Topology {
		h.nodes = topology.NewNodes()
	}
	h.newSource = func() (watch.Source, error) { return sourceFor(cfg) }
	h.watchOpts.Hooks = watchHooks
	return h
}
