// Package corefile is the headless stanza's grammar: its zones, its
// options (a table of parsers, one per option, with the stock kubernetes
// plugin's options a block can copy) and the combinations refused, each
// error naming the Corefile line.
package corefile

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/headlessdns/headless/internal/manifests"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
)

// Defaults of the options that have one.
const (
	DefaultTTL            = 5
	DefaultStartupTimeout = 5 * time.Second
)

// Config is the parsed Corefile stanza.
type Config struct {
	API            watch.Client // kubeconfig, endpoint, compression, tls, apiserver_ limits
	Manifests      []string
	Loaded         *manifests.Loaded // what Parse read of them (handed to the source once)
	Namespaces     []string
	Labels         string          // the selector as written: sent to the API server
	Selector       labels.Selector // the same, parsed once; nil selects all
	TTL            uint32
	NegativeTTL    int32 // negative_ttl N: the most seconds a negative answer's SOA lets it be held, when HasNegTTL
	HasNegTTL      bool  // negative_ttl given (unset: the SOA as stock writes it)
	Hostnames      bool  // publish_not_ready hostnames
	PodNames       bool
	Zonal          bool
	StartupTimeout time.Duration

	// per-client answers (the root's front.go)
	Topology    bool                 // topology order on
	DefaultMode object.TrafficMode   // for Services that set no trafficDistribution (topology with an argument)
	ClientZones topology.PrefixTable // client_zones: static client locations, before the Nodes
	MaxAnswers  int                  // max_answers: cap of UDP replies; 0 none

	Explain     bool   // explain: reasons of missing names in replies
	ExplainAddr string // explain ADDRESS: the HTTP endpoint; "" none

	// stock's options (options.go)
	Fall       fall.F          // fallthrough [ZONES...]: NXDOMAIN below a Service passes on
	NSLabels   string          // namespace_labels as written: sent to the API server
	NSSelector labels.Selector // the same, parsed; nil: every namespace
	SinglePTR  bool            // single_ptr: one PTR per address

	// multicluster (multicluster.go)
	Multicluster []string // clusterset zones (lowercase FQDN), a subset of the stanza's
	ClusterID    string   // this cluster's ID: cluster ID in multicluster's block; "" unknown
}

// Parse reads the headless stanza: its zones and options. Every error names the Corefile line.
func Parse(c *caddy.Controller) ([]string, Config, error) {
	cfg := Config{TTL: DefaultTTL, StartupTimeout: DefaultStartupTimeout}
	var zones []string
	lines := map[string]int{} // option -> the line it was given on
	stanzas := 0
	for ; c.Next(); stanzas++ {
		if stanzas > 0 {
			return nil, Config{}, c.Err("this plugin can only be used once per Server Block")
		}
		args := c.RemainingArgs()
		if err := checkCIDRs(c, args); err != nil {
			return nil, Config{}, err
		}
		zones = plugin.OriginsFromArgsOrServerBlock(args, c.ServerBlockKeys)
		if len(zones) == 0 {
			return nil, Config{}, c.Errf("no zone: %q names none", args) // e.g. 'headless :'
		}
		if err := checkZones(c, zones); err != nil {
			return nil, Config{}, err
		}
		if len(zones) > 0 && !slices.ContainsFunc(zones, func(z string) bool { return !names.IsReverse(strings.ToLower(z)) || z == "." }) {
			return nil, Config{}, c.Errf("zones %v are all reverse zones: PTR targets need a forward zone (e.g. cluster.local)", zones)
		}
		for c.NextBlock() {
			opt := c.Val()
			if _, seen := lines[opt]; !seen {
				lines[opt] = c.Line()
			} else if opt != "client_zones" {
				return nil, Config{}, c.Errf("option '%s' given twice", opt)
			}
			parseOpt, ok := options[opt]
			if !ok {
				return nil, Config{}, c.Errf("unknown property '%s'", opt)
			}
			if err := parseOpt(c, c.RemainingArgs(), &cfg); err != nil {
				return nil, Config{}, err
			}
		}
	}
	if stanzas == 0 { // (setup is only called for a headless directive)
		return nil, Config{}, c.Err("no headless stanza")
	}
	// combinations: the error names the line of the option that cannot be
	atLine := func(opt, msg string) error {
		return fmt.Errorf("%s:%d - Error during parsing: %s", c.File(), lines[opt], msg)
	}
	if len(cfg.Manifests) > 0 && (cfg.API.Kubeconfig != "" || cfg.API.Endpoint != "") {
		return nil, Config{}, atLine("manifests", "manifests serves objects from files: it cannot be combined with kubeconfig or endpoint")
	}
	if cfg.API.Compression && len(cfg.Manifests) > 0 {
		return nil, Config{}, atLine("compression", "compression is about the API server's responses: it cannot be combined with manifests")
	}
	if cfg.ClientZones.Len() > 0 && !cfg.Topology {
		return nil, Config{}, atLine("client_zones", "client_zones locates clients for topology order: add 'topology' to the stanza")
	}
	if err := checkStockOptions(&cfg, atLine); err != nil {
		return nil, Config{}, err
	}
	if err := checkMulticluster(&cfg, zones, atLine); err != nil {
		return nil, Config{}, err
	}
	return zones, cfg, nil
}

// checkCIDRs refuses a zone with an empty label (every query would be
// SERVFAIL), and a zone written as a CIDR that is none (10.0.0.0/33
// would become a literal zone) or that has host bits (masked, it would not
// be the zone written).
func checkCIDRs(c *caddy.Controller, args []string) error {
	for _, a := range args {
		if b := strings.TrimSuffix(a, "."); strings.Contains(b, "..") || (strings.HasPrefix(a, ".") && a != ".") {
			return c.Errf("zone '%s' has an empty label", a)
		}
		if !strings.Contains(a, "/") {
			continue
		}
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return c.Errf("zone '%s' is not a CIDR", a)
		}
		if p != p.Masked() {
			return c.Errf("zone '%s' has host bits set: write %s", a, p.Masked())
		}
	}
	return nil
}

// checkZones refuses zones that cannot work: one zone inside another (the inner zone's SOA makes the outer
// zone's Services NXDOMAIN), a zone outside the server block's zones (no
// query reaches it: REFUSED forever).
func checkZones(c *caddy.Controller, zones []string) error {
	block := plugin.OriginsFromArgsOrServerBlock(nil, c.ServerBlockKeys)
	for i, z := range zones {
		lz := strings.ToLower(z)
		if _, ok := dns.IsDomainName(lz); !ok {
			return c.Errf("zone '%s' is not a domain name", z)
		}
		for _, o := range zones[:i] {
			lo := strings.ToLower(o)
			switch {
			case lo == lz:
				return c.Errf("zone '%s' given twice", z)
			case names.InZone(lz, lo) || names.InZone(lo, lz):
				return c.Errf("zones '%s' and '%s' nest: the inner zone's SOA would answer the outer zone's names NXDOMAIN; give one", o, z)
			}
		}
		if len(block) > 0 && !slices.ContainsFunc(block, func(b string) bool { return names.InZone(lz, strings.ToLower(b)) }) {
			return c.Errf("zone '%s' is outside the server block's zones %v: no query for it would reach this plugin", z, block)
		}
	}
	return nil
}
