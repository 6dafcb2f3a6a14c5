package headless

import (
	"net/http"
	"strconv"

	"github.com/coredns/caddy"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
)

// The options a stock kubernetes block has and a headless block takes with
// the same meaning, so that an operator can copy one into the other:
// fallthrough, namespace_labels, tls and the API client's limits. And
// single_ptr, the one PTR per address that stock does not offer.

// clientLimits are the API client's limits (apiserver_qps, apiserver_burst,
// apiserver_max_inflight) and its TLS files (tls): 0 or "" is client-go's
// default, as in stock.
type clientLimits struct {
	qps         float32
	burst       int
	maxInflight int
	certFile    string
	keyFile     string
	caFile      string
}

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
		cfg.client.certFile, cfg.client.keyFile, cfg.client.caFile = args[0], args[1], args[2]
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
		cfg.client.qps = float32(q)
		return nil
	}
	options["apiserver_burst"] = wholeNumber("apiserver_burst", func(cfg *config, n int) { cfg.client.burst = n })
	options["apiserver_max_inflight"] = wholeNumber("apiserver_max_inflight", func(cfg *config, n int) { cfg.client.maxInflight = n })
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
	case cfg.client.certFile != "" && cfg.endpoint == "":
		return atLine("tls", "tls is the client certificate for the endpoint option's API server: add 'endpoint URL'")
	case len(cfg.manifests) > 0 && (cfg.client != clientLimits{}):
		return atLine(firstSet(cfg), "tls and the apiserver_ options are about an API server: they cannot be combined with manifests")
	}
	return nil
}

// firstSet names a client option that is set, for an error's line.
func firstSet(cfg *config) string {
	switch {
	case cfg.client.certFile != "":
		return "tls"
	case cfg.client.qps != 0:
		return "apiserver_qps"
	case cfg.client.burst != 0:
		return "apiserver_burst"
	}
	return "apiserver_max_inflight"
}

// apply sets the limits and TLS files on a client config, as stock does:
// tls replaces the config's certificate, key and CA; 0 leaves client-go's
// default.
func (l clientLimits) apply(rc *rest.Config) {
	if l.certFile != "" {
		rc.TLSClientConfig.CertFile, rc.TLSClientConfig.KeyFile, rc.TLSClientConfig.CAFile = l.certFile, l.keyFile, l.caFile
		rc.TLSClientConfig.CertData, rc.TLSClientConfig.KeyData, rc.TLSClientConfig.CAData = nil, nil, nil
	}
	if l.qps > 0 {
		rc.QPS = l.qps
	}
	if l.burst > 0 {
		rc.Burst = l.burst
	}
	if l.maxInflight > 0 {
		wrap := rc.WrapTransport
		rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if wrap != nil {
				rt = wrap(rt)
			}
			return &inflightLimit{next: rt, slots: make(chan struct{}, l.maxInflight)}
		}
	}
}

// inflightLimit lets at most cap(slots) requests wait for their response
// headers at once. A watch holds its slot only until the API server
// answers, not while it streams: as in stock.
type inflightLimit struct {
	next  http.RoundTripper
	slots chan struct{}
}

func (l *inflightLimit) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
		return l.next.RoundTrip(r)
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}

// fallsThrough reports whether a negative answer for name is passed to the
// next plugin (fallthrough [ZONES...]).
func (h *Headless) fallsThrough(name string) bool {
	return h.Next != nil && h.cfg.fall.Through(name)
}
