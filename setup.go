package headless

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/headlessdns/headless/internal/xfr"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/manifests"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"k8s.io/apimachinery/pkg/labels"
)

func init() { plugin.Register(pluginName, setup) }

const (
	defaultTTL            = 5
	defaultStartupTimeout = 5 * time.Second
)

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

// parse reads the headless stanza. Every error names the Corefile line.
func parse(c *caddy.Controller) (*Headless, error) {
	cfg := config{ttl: defaultTTL, startupTimeout: defaultStartupTimeout}
	var zones []string
	lines := map[string]int{} // option -> the line it was given on
	stanzas := 0
	for ; c.Next(); stanzas++ {
		if stanzas > 0 {
			return nil, c.Err("this plugin can only be used once per Server Block")
		}
		args := c.RemainingArgs()
		if err := checkCIDRs(c, args); err != nil {
			return nil, err
		}
		zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		if len(zones) == 0 {
			return nil, c.Errf("no zone: %q names none", args) // e.g. 'headless :'
		}
		if err := checkZones(c, zones); err != nil {
			return nil, err
		}
		if len(zones) > 0 && !slices.ContainsFunc(zones, func(z string) bool { return !names.IsReverse(strings.ToLower(z)) || z == "." }) {
			return nil, c.Errf("zones %v are all reverse zones: PTR targets need a forward zone (e.g. cluster.local)", zones)
		}
		for c.NextBlock() {
			opt := c.Val()
			if _, seen := lines[opt]; !seen {
				lines[opt] = c.Line()
			} else if opt != "client_zones" {
				return nil, c.Errf("option '%s' given twice", opt)
			}
			parseOpt, ok := options[opt]
			if !ok {
				return nil, c.Errf("unknown property '%s'", opt)
			}
			if err := parseOpt(c, c.RemainingArgs(), &cfg); err != nil {
				return nil, err
			}
		}
	}
	if stanzas == 0 { // (setup is only called for a headless directive)
		return nil, c.Err("no headless stanza")
	}
	// combinations: the error names the line of the option that cannot be
	atLine := func(opt, msg string) error {
		return fmt.Errorf("%s:%d - Error during parsing: %s", c.File(), lines[opt], msg)
	}
	if len(cfg.manifests) > 0 && (cfg.api.Kubeconfig != "" || cfg.api.Endpoint != "") {
		return nil, atLine("manifests", "manifests serves objects from files: it cannot be combined with kubeconfig or endpoint")
	}
	if cfg.api.Compression && len(cfg.manifests) > 0 {
		return nil, atLine("compression", "compression is about the API server's responses: it cannot be combined with manifests")
	}
	if cfg.clientZones.Len() > 0 && !cfg.topology {
		return nil, atLine("client_zones", "client_zones locates clients for topology order: add 'topology' to the stanza")
	}
	if err := checkStockOptions(&cfg, atLine); err != nil {
		return nil, err
	}
	return newHeadless(zones, cfg), nil
}

// options parse each Corefile option's arguments into the config.
var options = map[string]func(c *caddy.Controller, args []string, cfg *config) error{
	"kubeconfig": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) < 1 || len(args) > 2 {
			return c.ArgErr()
		}
		if err := readable(args[0]); err != nil {
			return c.Errf("kubeconfig: %v", err)
		}
		cfg.api.Kubeconfig = args[0]
		if len(args) == 2 {
			cfg.api.Context = args[1]
		}
		return nil
	},
	"endpoint": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		u, err := url.Parse(args[0])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.Errf("endpoint: '%s' is not an http(s) URL", args[0])
		}
		cfg.api.Endpoint = args[0]
		return nil
	},
	"manifests": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		loaded, err := manifests.Load(args)
		if err != nil {
			return c.Errf("manifests: %v", err)
		}
		cfg.manifests, cfg.loaded = args, loaded // decoded once: the source starts from it
		return nil
	},
	"namespaces": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		for i, ns := range args {
			if slices.Contains(args[:i], ns) {
				return c.Errf("namespaces: '%s' given twice", ns)
			}
		}
		cfg.namespaces = args
		return nil
	},
	"labels":       selectorOpt("labels", func(cfg *config, expr string, sel labels.Selector) { cfg.labels, cfg.selector = expr, sel }),
	"ttl":          seconds("ttl", func(cfg *config, n int) { cfg.ttl = uint32(n) }),
	"negative_ttl": seconds("negative_ttl", func(cfg *config, n int) { cfg.negativeTTL, cfg.hasNegTTL = int32(n), true }),
	"publish_not_ready": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		m, ok := object.ParseNotReady(args[0])
		if !ok {
			return c.Errf("publish_not_ready: '%s' is neither none nor hostnames", args[0])
		}
		cfg.hostnames = m == object.NotReadyHostnames
		return nil
	},
	"topology": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) > 1 {
			return c.ArgErr()
		}
		cfg.topology = true
		if len(args) == 1 {
			m, ok := object.ParseTraffic(args[0])
			if !ok {
				return c.Errf("topology: '%s' is not PreferSameZone, PreferSameNode or PreferClose", args[0])
			}
			cfg.defaultMode = m
		}
		return nil
	},
	"client_zones": parseClientZones,
	"explain":      parseExplain,
	"max_answers": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 || n > object.MaxAnswers {
			return c.Errf("max_answers: '%s' is not a number from 1 to %d", args[0], object.MaxAnswers)
		}
		cfg.maxAnswers = n
		return nil
	},
	"endpoint_pod_names": flag(func(cfg *config) { cfg.podNames = true }),
	"compression":        flag(func(cfg *config) { cfg.api.Compression = true }),
	"zonal":              flag(func(cfg *config) { cfg.zonal = true }),
	"startup_timeout": func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d < 0 {
			return c.Errf("startup_timeout: '%s' is not a duration of 0s or more", args[0])
		}
		cfg.startupTimeout = d
		return nil
	},
}

// parseClientZones reads one client_zones line: a zone, then the CIDRs (or
// single addresses) of clients in it. Repeatable; a CIDR given twice is an
// error.
func parseClientZones(c *caddy.Controller, args []string, cfg *config) error {
	if len(args) < 2 {
		return c.Errf("client_zones: want a zone and at least one CIDR, got %v", args)
	}
	zone := strings.ToLower(args[0])
	if strings.Contains(zone, "/") {
		return c.Errf("client_zones: '%s' is a CIDR where the zone name goes (client_zones ZONE CIDR...)", args[0])
	}
	for _, a := range args[1:] {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, err2 := netip.ParseAddr(a)
			if err2 != nil {
				return c.Errf("client_zones: '%s' is not a CIDR or an address", a)
			}
			p = netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen())
		}
		if !cfg.clientZones.Add(p, topology.ClientLoc{Zone: zone}) {
			return c.Errf("client_zones: %s given twice", p.Masked())
		}
	}
	return nil
}

// selectorOpt is an option of one label selector (its words joined).
func selectorOpt(opt string, set func(cfg *config, expr string, sel labels.Selector)) func(*caddy.Controller, []string, *config) error {
	return func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		expr := strings.Join(args, " ")
		sel, err := labels.Parse(expr)
		if err != nil {
			return c.Errf("%s: bad selector '%s': %v", opt, expr, err)
		}
		set(cfg, expr, sel)
		return nil
	}
}

// seconds is an option of one number of seconds from 0 to object.MaxTTL.
func seconds(opt string, set func(*config, int)) func(*caddy.Controller, []string, *config) error {
	return func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 || n > object.MaxTTL {
			return c.Errf("%s: '%s' is not a number of seconds from 0 to %d", opt, args[0], object.MaxTTL)
		}
		set(cfg, n)
		return nil
	}
}

// flag is an option without arguments.
func flag(set func(*config)) func(*caddy.Controller, []string, *config) error {
	return func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 0 {
			return c.ArgErr()
		}
		set(cfg)
		return nil
	}
}

// newHeadless builds the plugin for zones (normalized) and a parsed config.
func newHeadless(zones []string, cfg config) *Headless {
	h := &Headless{cfg: cfg, clock: time.Now}
	var fwd []string
	for _, n := range zones {
		n = strings.ToLower(n)
		z := zone{name: n, fwd: -1, reverse: names.IsReverse(n) && n != "."}
		if !z.reverse {
			z.fwd = len(fwd)
			fwd = append(fwd, n)
		}
		h.zones = append(h.zones, z)
	}
	h.index = index.New(h.cfg.indexOptions(fwd))
	if cfg.topology {
		h.nodes = topology.NewNodes()
	}
	h.newSource = func() (watch.Source, error) { return sourceFor(cfg) }
	h.watchOpts.Hooks = watchHooks
	return h
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
