package corefile

import (
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/headlessdns/headless/internal/manifests"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/topology"
	"k8s.io/apimachinery/pkg/labels"
)

// options parse each Corefile option's arguments into the config.
var options = map[string]func(c *caddy.Controller, args []string, cfg *Config) error{
	"kubeconfig": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) < 1 || len(args) > 2 {
			return c.ArgErr()
		}
		if err := readable(args[0]); err != nil {
			return c.Errf("kubeconfig: %v", err)
		}
		cfg.API.Kubeconfig = args[0]
		if len(args) == 2 {
			cfg.API.Context = args[1]
		}
		return nil
	},
	"endpoint": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		u, err := url.Parse(args[0])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c.Errf("endpoint: '%s' is not an http(s) URL", args[0])
		}
		cfg.API.Endpoint = args[0]
		return nil
	},
	"manifests": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		loaded, err := manifests.Load(args)
		if err != nil {
			return c.Errf("manifests: %v", err)
		}
		cfg.Manifests, cfg.Loaded = args, loaded // decoded once: the source starts from it
		return nil
	},
	"namespaces": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) == 0 {
			return c.ArgErr()
		}
		for i, ns := range args {
			if slices.Contains(args[:i], ns) {
				return c.Errf("namespaces: '%s' given twice", ns)
			}
		}
		cfg.Namespaces = args
		return nil
	},
	"labels":       selectorOpt("labels", func(cfg *Config, expr string, sel labels.Selector) { cfg.Labels, cfg.Selector = expr, sel }),
	"ttl":          seconds("ttl", func(cfg *Config, n int) { cfg.TTL = uint32(n) }),
	"negative_ttl": seconds("negative_ttl", func(cfg *Config, n int) { cfg.NegativeTTL, cfg.HasNegTTL = int32(n), true }),
	"publish_not_ready": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		m, ok := object.ParseNotReady(args[0])
		if !ok {
			return c.Errf("publish_not_ready: '%s' is neither none nor hostnames", args[0])
		}
		cfg.Hostnames = m == object.NotReadyHostnames
		return nil
	},
	"topology": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) > 1 {
			return c.ArgErr()
		}
		cfg.Topology = true
		if len(args) == 1 {
			m, ok := object.ParseTraffic(args[0])
			if !ok {
				return c.Errf("topology: '%s' is not PreferSameZone, PreferSameNode or PreferClose", args[0])
			}
			cfg.DefaultMode = m
		}
		return nil
	},
	"client_zones": parseClientZones,
	"explain":      parseExplain,
	"max_answers": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 || n > object.MaxAnswers {
			return c.Errf("max_answers: '%s' is not a number from 1 to %d", args[0], object.MaxAnswers)
		}
		cfg.MaxAnswers = n
		return nil
	},
	"endpoint_pod_names": flag(func(cfg *Config) { cfg.PodNames = true }),
	"compression":        flag(func(cfg *Config) { cfg.API.Compression = true }),
	"zonal":              flag(func(cfg *Config) { cfg.Zonal = true }),
	"startup_timeout": func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		d, err := time.ParseDuration(args[0])
		if err != nil || d < 0 {
			return c.Errf("startup_timeout: '%s' is not a duration of 0s or more", args[0])
		}
		cfg.StartupTimeout = d
		return nil
	},
}

// parseClientZones reads one client_zones line: a zone, then the CIDRs (or
// single addresses) of clients in it. Repeatable; a CIDR given twice is an
// error.
func parseClientZones(c *caddy.Controller, args []string, cfg *Config) error {
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
		if !cfg.ClientZones.Add(p, topology.ClientLoc{Zone: zone}) {
			return c.Errf("client_zones: %s given twice", p.Masked())
		}
	}
	return nil
}

// selectorOpt is an option of one label selector (its words joined).
func selectorOpt(opt string, set func(cfg *Config, expr string, sel labels.Selector)) func(*caddy.Controller, []string, *Config) error {
	return func(c *caddy.Controller, args []string, cfg *Config) error {
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
func seconds(opt string, set func(*Config, int)) func(*caddy.Controller, []string, *Config) error {
	return func(c *caddy.Controller, args []string, cfg *Config) error {
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
func flag(set func(*Config)) func(*caddy.Controller, []string, *Config) error {
	return func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 0 {
			return c.ArgErr()
		}
		set(cfg)
		return nil
	}
}

// parseExplain reads "explain [ADDRESS]": an address without host listens
// on loopback.
func parseExplain(c *caddy.Controller, args []string, cfg *Config) error {
	if len(args) > 1 {
		return c.ArgErr()
	}
	cfg.Explain = true
	if len(args) == 0 {
		return nil
	}
	host, port, err := net.SplitHostPort(args[0])
	if err != nil {
		host, port, err = "", args[0], nil // a bare port
	}
	if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
		return c.Errf("explain: '%s' is not an address (host:port, or a port for loopback)", args[0])
	}
	if host == "" {
		host = "127.0.0.1"
	}
	cfg.ExplainAddr = net.JoinHostPort(host, port)
	return nil
}

// The options a stock kubernetes block has and a headless block takes with
// the same meaning, so that an operator can copy one into the other:
// fallthrough, namespace_labels, tls and the API client's limits. And
// single_ptr, the one PTR per address that stock does not offer.

func init() {
	options["fallthrough"] = func(c *caddy.Controller, args []string, cfg *Config) error {
		cfg.Fall.SetZonesFromArgs(args)
		return nil
	}
	options["namespace_labels"] = selectorOpt("namespace_labels", func(cfg *Config, expr string, sel labels.Selector) { cfg.NSLabels, cfg.NSSelector = expr, sel })
	options["tls"] = func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 3 {
			return c.Errf("tls: want CERT KEY CACERT, got %d argument(s)", len(args))
		}
		for i, what := range []string{"CERT", "KEY", "CACERT"} {
			if err := readable(args[i]); err != nil {
				return c.Errf("tls: %s: %v", what, err)
			}
		}
		cfg.API.CertFile, cfg.API.KeyFile, cfg.API.CAFile = args[0], args[1], args[2]
		return nil
	}
	options["apiserver_qps"] = func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		q, err := strconv.ParseFloat(args[0], 32)
		if err != nil || q < 0 {
			return c.Errf("apiserver_qps: '%s' is not a number of 0 or more", args[0])
		}
		cfg.API.QPS = float32(q)
		return nil
	}
	options["apiserver_burst"] = wholeNumber("apiserver_burst", func(cfg *Config, n int) { cfg.API.Burst = n })
	options["apiserver_max_inflight"] = wholeNumber("apiserver_max_inflight", func(cfg *Config, n int) { cfg.API.MaxInflight = n })
	options["single_ptr"] = flag(func(cfg *Config) { cfg.SinglePTR = true })
	options["multicluster"] = parseMulticluster
}

// wholeNumber is an option of one whole number of 0 or more.
func wholeNumber(opt string, set func(*Config, int)) func(*caddy.Controller, []string, *Config) error {
	return func(c *caddy.Controller, args []string, cfg *Config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 0 {
			return c.Errf("%s: '%s' is not a whole number of 0 or more", opt, args[0])
		}
		set(cfg, n)
		return nil
	}
}

// checkStockOptions refuses the combinations stock refuses, or that would
// silently do nothing; atLine names the line of the option at fault.
func checkStockOptions(cfg *Config, atLine func(opt, msg string) error) error {
	switch {
	case cfg.NSSelector != nil && len(cfg.Namespaces) > 0:
		return atLine("namespace_labels", "namespaces and namespace_labels cannot both be set")
	case cfg.API.CertFile != "" && cfg.API.Endpoint == "":
		return atLine("tls", "tls is the client certificate for the endpoint option's API server: add 'endpoint URL'")
	case len(cfg.Manifests) > 0 && firstSet(cfg) != "":
		return atLine(firstSet(cfg), "tls and the apiserver_ options are about an API server: they cannot be combined with manifests")
	}
	return nil
}

// firstSet names a client option that is set, for an error's line; "":
// none is.
func firstSet(cfg *Config) string {
	switch {
	case cfg.API.CertFile != "":
		return "tls"
	case cfg.API.QPS != 0:
		return "apiserver_qps"
	case cfg.API.Burst != 0:
		return "apiserver_burst"
	case cfg.API.MaxInflight != 0:
		return "apiserver_max_inflight"
	}
	return ""
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}
