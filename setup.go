package headless

import (
	"fmt"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"
	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnsutil"
	"github.com/miekg/dns"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func init() { plugin.Register(pluginName, setup) }

const (
	defaultTTL            = 5
	maxTTL                = 3600
	defaultStartupTimeout = 5 * time.Second
)

func setup(c *caddy.Controller) error {
	h, err := parse(c)
	if err != nil {
		return plugin.Error(pluginName, err)
	}
	c.OnStartup(h.OnStartup)
	c.OnShutdown(h.OnShutdown)
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		h.Next = next
		return h
	})
	return nil
}

// parse reads the headless stanza. Every error names the Corefile line.
func parse(c *caddy.Controller) (*Headless, error) {
	cfg := config{ttl: defaultTTL, startupTimeout: defaultStartupTimeout}
	var zones []string
	seen := map[string]bool{}
	for i := 0; c.Next(); i++ {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		for c.NextBlock() {
			opt := c.Val()
			if seen[opt] {
				return nil, c.Errf("option '%s' given twice", opt)
			}
			seen[opt] = true
			args := c.RemainingArgs()
			switch opt {
			case "kubeconfig":
				if len(args) < 1 || len(args) > 2 {
					return nil, c.ArgErr()
				}
				if err := readable(args[0]); err != nil {
					return nil, c.Errf("kubeconfig: %v", err)
				}
				cfg.kubeconfig = args[0]
				if len(args) == 2 {
					cfg.context = args[1]
				}
			case "endpoint":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				u, err := url.Parse(args[0])
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, c.Errf("endpoint: '%s' is not an http(s) URL", args[0])
				}
				cfg.endpoint = args[0]
			case "manifests":
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				if _, err := loadManifests(args); err != nil {
					return nil, c.Errf("manifests: %v", err)
				}
				cfg.manifests = args
			case "namespaces":
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				cfg.namespaces = args
			case "labels":
				if len(args) == 0 {
					return nil, c.ArgErr()
				}
				expr := strings.Join(args, " ")
				if _, err := labels.Parse(expr); err != nil {
					return nil, c.Errf("labels: bad selector '%s': %v", expr, err)
				}
				cfg.labels = expr
			case "ttl":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				t, err := strconv.Atoi(args[0])
				if err != nil || t < 0 || t > maxTTL {
					return nil, c.Errf("ttl: '%s' is not a number of seconds from 0 to %d", args[0], maxTTL)
				}
				cfg.ttl = uint32(t)
			case "endpoint_pod_names":
				if len(args) != 0 {
					return nil, c.ArgErr()
				}
				cfg.podNames = true
			case "zonal":
				if len(args) != 0 {
					return nil, c.ArgErr()
				}
				cfg.zonal = true
			case "startup_timeout":
				if len(args) != 1 {
					return nil, c.ArgErr()
				}
				d, err := time.ParseDuration(args[0])
				if err != nil || d < 0 {
					return nil, c.Errf("startup_timeout: '%s' is not a duration of 0s or more", args[0])
				}
				cfg.startupTimeout = d
			default:
				return nil, c.Errf("unknown property '%s'", opt)
			}
		}
	}
	if len(cfg.manifests) > 0 && (cfg.kubeconfig != "" || cfg.endpoint != "") {
		return nil, c.Err("manifests serves objects from files: it cannot be combined with kubeconfig or endpoint")
	}
	return newHeadless(zones, cfg), nil
}

// newHeadless builds the plugin for zones (normalized) and a parsed config.
func newHeadless(zones []string, cfg config) *Headless {
	h := &Headless{cfg: cfg}
	var fwd []string
	for _, z := range zones {
		z = strings.ToLower(z)
		h.Zones = append(h.Zones, z)
		rev := dns.IsSubDomain("in-addr.arpa.", z) || dns.IsSubDomain("ip6.arpa.", z)
		h.reverse = append(h.reverse, rev)
		if rev {
			h.fwd = append(h.fwd, -1)
		} else {
			h.fwd = append(h.fwd, len(fwd))
			fwd = append(fwd, z)
		}
		h.mbox = append(h.mbox, dnsutil.Join("hostmaster", z))
		h.ns = append(h.ns, dnsutil.Join("ns.dns", z))
	}
	var sel labels.Selector
	if cfg.labels != "" {
		sel, _ = labels.Parse(cfg.labels) // validated in parse
	}
	h.index = NewIndex(fwd, cfg.ttl, cfg.podNames, cfg.zonal, sel, cfg.namespaces)
	h.newSource = func() (*source, error) { return sourceFor(cfg) }
	return h
}

func readable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// sourceFor returns what the Corefile asks to watch: the manifests'
// in-memory cluster, or an API server from a kubeconfig (with endpoint
// overriding its server), an endpoint URL, or the in-cluster config.
func sourceFor(cfg config) (*source, error) {
	if len(cfg.manifests) > 0 {
		return newManifestSource(cfg.manifests)
	}
	var rc *rest.Config
	var err error
	switch {
	case cfg.kubeconfig != "":
		rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: cfg.kubeconfig}
		over := &clientcmd.ConfigOverrides{CurrentContext: cfg.context}
		if cfg.endpoint != "" {
			over.ClusterInfo.Server = cfg.endpoint
		}
		rc, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, over).ClientConfig()
	case cfg.endpoint != "":
		rc = &rest.Config{Host: cfg.endpoint}
	default:
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, err
	}
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.UserAgent = fmt.Sprintf("%s/%s headless (%s/%s/%s)", coremain.CoreName, coremain.CoreVersion, runtime.GOOS, runtime.GOARCH, runtime.Version())
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	return &source{client: client, filtered: true}, nil
}

// OnStartup starts the watches and waits up to startup_timeout for a full
// sync. Until then Ready is false and Service names get SERVFAIL, never a
// false NXDOMAIN.
func (h *Headless) OnStartup() error {
	src, err := h.newSource()
	if err != nil {
		return plugin.Error(pluginName, fmt.Errorf("kubernetes client: %w", err))
	}
	h.src = src
	h.watch = newWatcher(src, watchSpecs(h.cfg.namespaces, h.cfg.labels, src.filtered), h.index)
	h.watch.Start()
	if !h.watch.WaitSynced(h.cfg.startupTimeout) {
		log.Warningf("starting server with unsynced Kubernetes API after %s; Service names get SERVFAIL until synced", h.cfg.startupTimeout)
	}
	return nil
}

// OnShutdown stops every watch and goroutine this instance started.
func (h *Headless) OnShutdown() error {
	if h.watch != nil {
		h.watch.Stop()
	}
	if h.src != nil && h.src.close != nil {
		h.src.close()
	}
	return nil
}
