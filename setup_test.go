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
			if h.cfg.TTL != 5 || h.cfg.StartupTimeout != 5*time.Second || h.cfg.Zonal || h.cfg.PodNames || h.cfg.API.Compression {
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
				if c.API.Kubeconfig != kubeconfig || c.API.Context != "ctx" || c.TTL != 60 || strings.Join(c.Namespaces, ",") != "a,b" ||
					c.Labels != "app=web, tier in (db)" || !c.PodNames || !c.Zonal || c.StartupTimeout != 2*time.Second || !c.API.Compression {
					t.Errorf("config %+v", c)
				}
				if o := h.index.Options(); !o.Zonal || !o.PodNames || o.TTL != 60 || o.Selector == nil || !slices.Contains(o.Namespaces, "b") {
					t.Errorf("index not configured: %+v", o)
				}
			}},
		{input: "headless {\n endpoint https://127.0.0.1:6443\n ttl 0\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.API.Endpoint != "https://127.0.0.1:6443" || h.cfg.TTL != 0 {
				t.Errorf("config %+v", h.cfg)
			}
		}},
		{input: "headless {\n kubeconfig " + kubeconfig + "\n endpoint http://127.0.0.1:8080\n}"},
		{input: "headless {\n ttl 3600\n startup_timeout 0s\n}"},
		{input: "headless {\n manifests " + manifest + " " + manifest + "\n}", check: func(t *testing.T, h *Headless) {
			if len(h.cfg.Manifests) != 2 {
				t.Errorf("manifests %v", h.cfg.Manifests)
			}
		}},
		{input: "headless {\n topology\n max_answers 8\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.Topology || h.cfg.DefaultMode != object.TrafficUnset || h.cfg.MaxAnswers != 8 {
				t.Errorf("config %+v", h.cfg)
			}
		}},
		{input: "headless {\n topology PreferClose\n client_zones Zone-A 10.0.0.0/16 192.0.2.7\n client_zones zone-b fd00::/64\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.DefaultMode != object.TrafficSameZone {
				t.Errorf("default mode %v", h.cfg.DefaultMode)
			}
			for addr, zone := range map[string]string{"10.0.3.4": "zone-a", "192.0.2.7": "zone-a", "fd00::9": "zone-b", "192.0.2.8": ""} {
				loc, _ := h.cfg.ClientZones.Lookup(netip.MustParseAddr(addr))
				if loc.Zone != zone {
					t.Errorf("client_zones: %s in %q, want %q", addr, loc.Zone, zone)
				}
			}
		}},
		{input: "headless {\n topology PreferSameNode\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.DefaultMode != object.TrafficSameNode {
				t.Errorf("default mode %v", h.cfg.DefaultMode)
			}
		}},
		{input: "headless {\n publish_not_ready hostnames\n negative_ttl 0\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.Hostnames || h.negativeTTL(nil) != 0 || !h.index.Options().Hostnames {
				t.Errorf("config %+v, index %+v", h.cfg, h.index.Options())
			}
		}},
		{input: "headless {\n publish_not_ready none\n negative_ttl 3600\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.Hostnames || h.negativeTTL(nil) != 3600 {
				t.Errorf("config %+v", h.cfg)
			}
		}},
		{input: "headless", check: func(t *testing.T, h *Headless) {
			if h.cfg.Hostnames || h.negativeTTL(nil) != -1 {
				t.Errorf("defaults: hostnames %v, negative TTL %d", h.cfg.Hostnames, h.negativeTTL(nil))
			}
		}},
		// errors: each names the line
		{input: "headless {\n explain\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.Explain || h.cfg.ExplainAddr != "" {
				t.Errorf("explain %v %q", h.cfg.Explain, h.cfg.ExplainAddr)
			}
		}},
		{input: "headless {\n explain 9155\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.ExplainAddr != "127.0.0.1:9155" {
				t.Errorf("explain address %q, want loopback", h.cfg.ExplainAddr)
			}
		}},
		{input: "headless {\n explain :9155\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.ExplainAddr != "127.0.0.1:9155" {
				t.Errorf("explain address %q, want loopback", h.cfg.ExplainAddr)
			}
		}},
		{input: "headless {\n explain [::1]:9155\n}", check: func(t *testing.T, h *Headless) {
			if h.cfg.ExplainAddr != "[::1]:9155" {
				t.Errorf("explain address %q", h.cfg.ExplainAddr)
			}
		}},
		// stock's options
		{input: "headless {\n endpoint https://127.0.0.1:6443\n tls " + kubeconfig + " " + kubeconfig + " " + kubeconfig + "\n apiserver_qps 12.5\n apiserver_burst 30\n apiserver_max_inflight 4\n fallthrough in-addr.arpa\n namespace_labels team=dns\n single_ptr\n}",
			check: func(t *testing.T, h *Headless) {
				c := h.cfg
				if c.API != (watch.Client{Endpoint: "https://127.0.0.1:6443", QPS: 12.5, Burst: 30, MaxInflight: 4, CertFile: kubeconfig, KeyFile: kubeconfig, CAFile: kubeconfig}) ||
					c.NSLabels != "team=dns" || c.NSSelector == nil || !c.SinglePTR || !h.index.Options().Scoped {
					t.Errorf("config %+v", c)
				}
				if !c.Fall.Through("1.0.10.in-addr.arpa.") || c.Fall.Through("web.a.svc.cluster.local.") {
					t.Errorf("fallthrough zones %+v", c.Fall)
				}
			}},
		{input: "headless {\n fallthrough\n}", check: func(t *testing.T, h *Headless) {
			if !h.cfg.Fall.Through("web.a.svc.cluster.local.") {
				t.Error("fallthrough without zones: every zone")
			}
		}},
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
