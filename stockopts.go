package headless

import (
	"strconv"

	"github.com/coredns/caddy"
	"k8s.io/apimachinery/pkg/labels"
)

// The options a stock kubernetes block has and a headless block takes with
// the same meaning, so that an operator can copy one into the other:
// fallthrough, namespace_labels, tls and the API client's limits. And
// single_ptr, the one PTR per address that stock does not offer.

func init() {
	options["fallthrough"] = func(c *caddy.Controller, args []string, cfg *config) error {
		cfg.fall.SetZonesFromArgs(args)
		return nil
	}
	options["namespace_labels"] = selectorOpt("namespace_labels", func(cfg *config, expr string, sel labels.Selector) { cfg.nsLabels, cfg.nsSelector = expr, sel })
	options["tls"] = func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 3 {
			return c.Errf("tls: want CERT KEY CACERT, got %d argument(s)", len(args))
		}
		for i, what := range []string{"CERT", "KEY", "CACERT"} {
			if err := readable(args[i]); err != nil {
				return c.Errf("tls: %s: %v", what, err)
			}
		}
		cfg.api.CertFile, cfg.api.KeyFile, cfg.api.CAFile = args[0], args[1], args[2]
		return nil
	}
	options["apiserver_qps"] = func(c *caddy.Controller, args []string, cfg *config) error {
		if len(args) != 1 {
			return c.ArgErr()
		}
		q, err := strconv.ParseFloat(args[0], 32)
		if err != nil || q < 0 {
			return c.Errf("apiserver_qps: '%s' is not a number of 0 or more", args[0])
		}
		cfg.api.QPS = float32(q)
		return nil
	}
	options["apiserver_burst"] = wholeNumber("apiserver_burst", func(cfg *config, n int) { cfg.api.Burst = n })
	options["apiserver_max_inflight"] = wholeNumber("apiserver_max_inflight", func(cfg *config, n int) { cfg.api.MaxInflight = n })
	options["single_ptr"] = flag(func(cfg *config) { cfg.singlePTR = true })
}

// wholeNumber is an option of one whole number of 0 or more.
func wholeNumber(opt string, set func(*config, int)) func(*caddy.Controller, []string, *config) error {
	return func(c *caddy.Controller, args []string, cfg *config) error {
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
func checkStockOptions(cfg *config, atLine func(opt, msg string) error) error {
	switch {
	case cfg.nsSelector != nil && len(cfg.namespaces) > 0:
		return atLine("namespace_labels", "namespaces and namespace_labels cannot both be set")
	case cfg.api.CertFile != "" && cfg.api.Endpoint == "":
		return atLine("tls", "tls is the client certificate for the endpoint option's API server: add 'endpoint URL'")
	case len(cfg.manifests) > 0 && firstSet(cfg) != "":
		return atLine(firstSet(cfg), "tls and the apiserver_ options are about an API server: they cannot be combined with manifests")
	}
	return nil
}

// firstSet names a client option that is set, for an error's line; "":
// none is.
func firstSet(cfg *config) string {
	switch {
	case cfg.api.CertFile != "":
		return "tls"
	case cfg.api.QPS != 0:
		return "apiserver_qps"
	case cfg.api.Burst != 0:
		return "apiserver_burst"
	case cfg.api.MaxInflight != 0:
		return "apiserver_max_inflight"
	}
	return ""
}

// fallsThrough reports whether a negative answer for name is passed to the
// next plugin (fallthrough [ZONES...]).
func (h *Headless) fallsThrough(name string) bool {
	return h.Next != nil && h.cfg.fall.Through(name)
}
