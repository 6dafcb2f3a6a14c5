package headless

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/watch"
)

func TestSetup(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := writeFixtureManifest(t)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("apiVersion: v1\nkind: Service\nmetadata: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		input string
		keys  []string // the server block's keys; default cluster.local.
		err   string   // substring of the error; "" means success
		check func(t *testing.T, h *Headless)
	}{
		{input: `headless`, check: func(t *testing.T, h *Headless) {
			// zones from the server block; defaults
			if h.zoneLabel() != "cluster.local." {
				t.Errorf("zones %v", h.zones)
			}
			if h.cfg.ttl != 5 || h.cfg.startupTimeout != 5*time.Second || h.cfg.zonal || h.cfg.podNames || h.cfg.api.Compression {
				t.Errorf("defaults %+v", h.cfg)
			}
		}},
		{input: `headless Cluster.Local 10.0.0.0/24 ip6.arpa`, keys: []string{"cluster.local.", "in-addr.arpa.", "ip6.arpa."}, check: func(t *testing.T, h *Headless) {
			want := []string{"cluster.local.", "0.0.10.in-addr.arpa.", "ip6.arpa."}
			if h.zoneLabel() != strings.Join(want, " ") {
				t.Errorf("zones %v, want %v", h.zones, want)
			}
			if h.zones[0].reverse || !h.zones[1].reverse || !h.zones[2].reverse || h.zones[0].fwd != 0 || h.zones[1].fwd != -1 || h.index.Options().Zones[0] != "cluster.local." {
				t.Errorf("zones %+v, index zones %q", h.zones, h.index.Options().Zones)
			}
		}},
		{input: "headless {\n kubeconfig " + kubeconfig + " ctx\n ttl 60\n namespaces a b\n labels app=web, tier in (db)\n endpoint_pod_names\n zonal\n startup_timeout 2s\n compression\n}",
			check: func(t *testing.T, h *Headless) {
				c := h.cfg
				if c.api.Kubeconfig != kubeconfig || c.api.Context != "ctx" || c.ttl != 60 || strings.Join(c.namespaces, ",") != "a,b" ||
					c.labels != "app=web, tier in (db)" || !c.podNames || !c.zonal || c.startupTimeout != 2*time.Second || !c.api.Compression {
					t.Errorf("config %+v", c)
				}
				if o := h.index.Options(); !o.Zonal || !o.PodNames || o.TTL != 60 || o.Selector == nil || !slices.Contains(o.Namespaces, "b") {
					t.Errorf("index not configured: %+v", o)
				}
			}},
		{input: "headless {\n endpoint https://127.0.0.1:6443\n ttl 0\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.api.Endpoint != "https://127.0.0.1:6443" || h.cfg.ttl != 0 {
				t.Errorf("config %+v", h.cfg)
			}
		}},
		{input: "headless {\n kubeconfig " + kubeconfig + "\n endpoint http://127.0.0.1:8080\n}"},
		{input: "headless {\n ttl 3600\n startup_timeout 0s\n}"},
		{input: "headless {\n manifests " + manifest + " " + manifest + "\n}", check: func(t *testing.T, h *Headless) {
			if len(h.cfg.manifests) != 2 {
				t.Errorf("manifests %v", h.cfg.manifests)
			}
		}},
		{input: "headless {\n topology\n max_answers 8\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.topology || h.cfg.defaultMode != object.TrafficUnset || h.cfg.maxAnswers != 8 {
				t.Errorf("config %+v", h.cfg)
			}
		}},
		{input: "headless {\n topology PreferClose\n client_zones Zone-A 10.0.0.0/16 192.0.2.7\n client_zones zone-b fd00::/64\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.defaultMode != object.TrafficSameZone {
				t.Errorf("default mode %v", h.cfg.defaultMode)
			}
			for addr, zone := range map[string]string{"10.0.3.4": "zone-a", "192.0.2.7": "zone-a", "fd00::9": "zone-b", "192.0.2.8": ""} {
				loc, _ := h.cfg.clientZones.Lookup(netip.MustParseAddr(addr))
				if loc.Zone != zone {
					t.Errorf("client_zones: %s in %q, want %q", addr, loc.Zone, zone)
				}
			}
		}},
		{input: "headless {\n topology PreferSameNode\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.defaultMode != object.TrafficSameNode {
				t.Errorf("default mode %v", h.cfg.defaultMode)
			}
		}},
		{input: "headless {\n publish_not_ready hostnames\n negative_ttl 0\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.hostnames || h.negativeTTL(nil) != 0 || !h.index.Options().Hostnames {
				t.Errorf("config %+v, index %+v", h.cfg, h.index.Options())
			}
		}},
		{input: "headless {\n publish_not_ready none\n negative_ttl 3600\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.hostnames || h.negativeTTL(nil) != 3600 {
				t.Errorf("config %+v", h.cfg)
			}
		}},
		{input: "headless", check: func(t *testing.T, h *Headless) {
			if h.cfg.hostnames || h.negativeTTL(nil) != -1 {
				t.Errorf("defaults: hostnames %v, negative TTL %d", h.cfg.hostnames, h.negativeTTL(nil))
			}
		}},
		{input: "headless {\n publish_not_ready all\n}", err: "Testfile:2 - Error during parsing: publish_not_ready: 'all' is neither none nor hostnames"},
		{input: "headless {\n publish_not_ready\n}", err: "Wrong argument count"},
		{input: "headless {\n negative_ttl 3601\n}", err: "Testfile:2 - Error during parsing: negative_ttl: '3601' is not a number of seconds from 0 to 3600"},
		{input: "headless {\n negative_ttl -1\n}", err: "negative_ttl: '-1' is not a number of seconds"},
		{input: "headless {\n negative_ttl 1 2\n}", err: "Wrong argument count"},
		{input: "headless :", err: "Testfile:1 - Error during parsing: no zone"},
		// errors: each names the line
		{input: "headless {\n topology Nearby\n}", err: "Testfile:2 - Error during parsing: topology: 'Nearby' is not PreferSameZone, PreferSameNode or PreferClose"},
		{input: "headless {\n topology a b\n}", err: "Wrong argument count"},
		{input: "headless {\n explain\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.explain || h.cfg.explainAddr != "" {
				t.Errorf("explain %v %q", h.cfg.explain, h.cfg.explainAddr)
			}
		}},
		{input: "headless {\n explain 9155\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.explainAddr != "127.0.0.1:9155" {
				t.Errorf("explain address %q, want loopback", h.cfg.explainAddr)
			}
		}},
		{input: "headless {\n explain :9155\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.explainAddr != "127.0.0.1:9155" {
				t.Errorf("explain address %q, want loopback", h.cfg.explainAddr)
			}
		}},
		{input: "headless {\n explain [::1]:9155\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.explainAddr != "[::1]:9155" {
				t.Errorf("explain address %q", h.cfg.explainAddr)
			}
		}},
		{input: "headless {\n explain localhost:http\n}", err: "Testfile:2 - Error during parsing: explain: 'localhost:http' is not an address"},
		{input: "headless {\n explain a b\n}", err: "Wrong argument count"},
		{input: "headless {\n client_zones zone-a 10.0.0.0/8\n}", err: "Testfile:2 - Error during parsing: client_zones locates clients for topology order: add 'topology'"},
		{input: "headless {\n topology\n client_zones zone-a\n}", err: "Testfile:3 - Error during parsing: client_zones: want a zone and at least one CIDR"},
		{input: "headless {\n topology\n client_zones 10.0.0.0/8 zone-a\n}", err: "client_zones: '10.0.0.0/8' is a CIDR where the zone name goes"},
		{input: "headless {\n topology\n client_zones zone-a 10.0.0.0/33\n}", err: "client_zones: '10.0.0.0/33' is not a CIDR or an address"},
		{input: "headless {\n topology\n client_zones a 10.0.0.0/8\n client_zones b 10.1.0.0/8\n}", err: "Testfile:4 - Error during parsing: client_zones: 10.0.0.0/8 given twice"},
		{input: "headless {\n max_answers 0\n}", err: "Testfile:2 - Error during parsing: max_answers: '0' is not a number from 1 to 4096"},
		{input: "headless {\n max_answers many\n}", err: "max_answers: 'many' is not a number"},
		{input: "headless {\n max_answers\n}", err: "Wrong argument count"},
		// stock's options
		{input: "headless {\n endpoint https://127.0.0.1:6443\n tls " + kubeconfig + " " + kubeconfig + " " + kubeconfig + "\n apiserver_qps 12.5\n apiserver_burst 30\n apiserver_max_inflight 4\n fallthrough in-addr.arpa\n namespace_labels team=dns\n single_ptr\n}",
			check: func(t *testing.T, h *Headless) {
				c := h.cfg
				if c.api != (watch.Client{Endpoint: "https://127.0.0.1:6443", QPS: 12.5, Burst: 30, MaxInflight: 4, CertFile: kubeconfig, KeyFile: kubeconfig, CAFile: kubeconfig}) ||
					c.nsLabels != "team=dns" || c.nsSelector == nil || !c.singlePTR || !h.index.Options().Scoped {
					t.Errorf("config %+v", c)
				}
				if !c.fall.Through("1.0.10.in-addr.arpa.") || c.fall.Through("web.a.svc.cluster.local.") {
					t.Errorf("fallthrough zones %+v", c.fall)
				}
			}},
		{input: "headless {\n fallthrough\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.fall.Through("web.a.svc.cluster.local.") {
				t.Error("fallthrough without zones: every zone")
			}
		}},
		{input: "headless {\n endpoint https://127.0.0.1:6443\n tls /nonexistent/cert " + kubeconfig + " " + kubeconfig + "\n}", err: "Testfile:3 - Error during parsing: tls: CERT: open /nonexistent/cert: no such file or directory"},
		{input: "headless {\n endpoint https://127.0.0.1:6443\n tls " + kubeconfig + " " + kubeconfig + "\n}", err: "Testfile:3 - Error during parsing: tls: want CERT KEY CACERT, got 2 argument(s)"},
		{input: "headless {\n tls " + kubeconfig + " " + kubeconfig + " " + kubeconfig + "\n}", err: "Testfile:2 - Error during parsing: tls is the client certificate for the endpoint option's API server"},
		{input: "headless {\n apiserver_qps -1\n}", err: "Testfile:2 - Error during parsing: apiserver_qps: '-1' is not a number of 0 or more"},
		{input: "headless {\n apiserver_qps many\n}", err: "apiserver_qps: 'many' is not a number"},
		{input: "headless {\n apiserver_burst -3\n}", err: "Testfile:2 - Error during parsing: apiserver_burst: '-3' is not a whole number of 0 or more"},
		{input: "headless {\n apiserver_max_inflight 1.5\n}", err: "apiserver_max_inflight: '1.5' is not a whole number"},
		{input: "headless {\n apiserver_max_inflight\n}", err: "Wrong argument count"},
		{input: "headless {\n manifests " + manifest + "\n apiserver_burst 5\n}", err: "Testfile:3 - Error during parsing: tls and the apiserver_ options are about an API server"},
		{input: "headless {\n namespace_labels team in (a\n}", err: "Testfile:2 - Error during parsing: namespace_labels: bad selector 'team in (a'"},
		{input: "headless {\n namespace_labels\n}", err: "Wrong argument count"},
		{input: "headless {\n namespaces a\n namespace_labels team=dns\n}", err: "Testfile:3 - Error during parsing: namespaces and namespace_labels cannot both be set"},
		{input: "headless {\n single_ptr yes\n}", err: "Testfile:2 - Error during parsing: Wrong argument count"},
		{input: "headless {\n bogus\n}", err: "Testfile:2 - Error during parsing: unknown property 'bogus'"},
		{input: "headless {\n ttl\n}", err: "Testfile:2 - Error during parsing: Wrong argument count"},
		{input: "headless {\n ttl 1 2\n}", err: "Testfile:2 - Error during parsing: Wrong argument count"},
		{input: "headless {\n ttl -1\n}", err: "Testfile:2 - Error during parsing: ttl: '-1' is not a number of seconds from 0 to 3600"},
		{input: "headless {\n ttl 3601\n}", err: "ttl: '3601' is not a number"},
		{input: "headless {\n ttl five\n}", err: "ttl: 'five' is not a number"},
		{input: "headless {\n kubeconfig\n}", err: "Testfile:2 - Error during parsing: Wrong argument count"},
		{input: "headless {\n kubeconfig a b c\n}", err: "Wrong argument count"},
		{input: "headless {\n kubeconfig /nonexistent/kubeconfig\n}", err: "Testfile:2 - Error during parsing: kubeconfig: open /nonexistent/kubeconfig: no such file or directory"},
		{input: "headless {\n endpoint\n}", err: "Wrong argument count"},
		{input: "headless {\n endpoint a b\n}", err: "Wrong argument count"},
		{input: "headless {\n endpoint 127.0.0.1:6443\n}", err: "endpoint: '127.0.0.1:6443' is not an http(s) URL"},
		{input: "headless {\n manifests\n}", err: "Wrong argument count"},
		{input: "headless {\n manifests /nonexistent.yaml\n}", err: "Testfile:2 - Error during parsing: manifests: stat /nonexistent.yaml: no such file or directory"},
		{input: "headless {\n manifests " + bad + "\n}", err: "Testfile:2 - Error during parsing: manifests: " + bad + ": line 3 (document 1): error converting YAML to JSON: yaml: did not find expected node content"},
		{input: "headless {\n manifests " + manifest + "\n endpoint http://127.0.0.1:8080\n}", err: "Testfile:2 - Error during parsing: manifests serves objects from files: it cannot be combined with kubeconfig or endpoint"},
		{input: "headless {\n endpoint http://127.0.0.1:8080\n ttl 5\n manifests " + manifest + "\n}", err: "Testfile:4 - Error during parsing: manifests serves objects"},
		{input: "headless {\n namespaces\n}", err: "Wrong argument count"},
		{input: "headless {\n labels\n}", err: "Wrong argument count"},
		{input: "headless {\n labels app in (a\n}", err: "Testfile:2 - Error during parsing: labels: bad selector 'app in (a'"},
		{input: "headless {\n endpoint_pod_names x\n}", err: "Wrong argument count"},
		{input: "headless {\n zonal x\n}", err: "Wrong argument count"},
		{input: "headless {\n compression on\n}", err: "Wrong argument count"},
		{input: "headless {\n manifests " + manifest + "\n compression\n}", err: "Testfile:3 - Error during parsing: compression is about the API server's responses: it cannot be combined with manifests"},
		{input: "headless {\n startup_timeout\n}", err: "Wrong argument count"},
		{input: "headless {\n startup_timeout soon\n}", err: "startup_timeout: 'soon' is not a duration"},
		{input: "headless {\n startup_timeout -1s\n}", err: "startup_timeout: '-1s' is not a duration"},
		{input: "headless {\n ttl 5\n ttl 6\n}", err: "Testfile:3 - Error during parsing: option 'ttl' given twice"},
		{input: "headless\nheadless", err: "Testfile:2 - Error during parsing: this plugin can only be used once per Server Block"},
		{input: "headless cluster.local svc.cluster.local", err: "Testfile:1 - Error during parsing: zones 'cluster.local.' and 'svc.cluster.local.' nest"},
		{input: "headless 10.in-addr.arpa 0.10.in-addr.arpa cluster.local", keys: []string{"."}, err: "nest"},
		{input: "headless cluster..local", keys: []string{"."}, err: "Testfile:1 - Error during parsing: zone 'cluster..local' has an empty label"},
		{input: "headless cluster.local 10.0.0.0/33", keys: []string{"."}, err: "Testfile:1 - Error during parsing: zone '10.0.0.0/33' is not a CIDR"},
		{input: "headless cluster.local 10.0.0.5/24", keys: []string{"."}, err: "zone '10.0.0.5/24' has host bits set: write 10.0.0.0/24"},
		{input: "headless cluster.local", keys: []string{"example.org:53"}, err: "zone 'cluster.local.' is outside the server block's zones [example.org.]"},
		{input: "headless cluster.local cluster.local", err: "zone 'cluster.local.' given twice"},
	}
	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{"cluster.local."}
		if tc.keys != nil {
			c.ServerBlockKeys = tc.keys
		}
		h, err := parse(c)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("test %d %q: want error containing %q, got %v", i, tc.input, tc.err, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("test %d %q: unexpected error %v", i, tc.input, err)
			continue
		}
		if tc.check != nil {
			tc.check(t, h)
		}
	}
}

// setup registers the plugin and its start-up and shutdown hooks.
func TestSetupRegisters(t *testing.T) {
	c := caddy.NewTestController("dns", "headless {\n manifests "+writeFixtureManifest(t)+"\n}")
	c.ServerBlockKeys = []string{"cluster.local."}
	if err := setup(c); err != nil {
		t.Fatal(err)
	}
	// the per-client step is placed at the front of the chain, headless itself last
	p := dnsserver.GetConfig(c).Plugin
	if len(p) != 2 {
		t.Fatalf("%d plugins added, want 2", len(p))
	}
	if f, ok := p[0](nil).(*front); !ok || f.Name() != frontName {
		t.Errorf("first in chain: %T, want *front", p[0](nil))
	}
	if _, ok := p[1](nil).(*Headless); !ok {
		t.Errorf("last: %T, want *Headless", p[1](nil))
	}
	c = caddy.NewTestController("dns", "headless {\n ttl x\n}")
	c.ServerBlockKeys = []string{"cluster.local."}
	if err := setup(c); err == nil || !strings.Contains(err.Error(), "plugin/headless: Testfile:2") {
		t.Fatalf("want plugin-named error, got %v", err)
	}
}
