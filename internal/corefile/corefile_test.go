package corefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coredns/caddy"
)

// TestParseErrors: every refused stanza names its Corefile line and why.
func TestParseErrors(t *testing.T) {
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	manifest := filepath.Join(dir, "svc.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	for f, body := range map[string]string{
		kubeconfig: "apiVersion: v1\nkind: Config\n",
		manifest:   "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec: {clusterIP: None}\n",
		bad:        "apiVersion: v1\nkind: Service\nmetadata: [\n",
	} {
		if err := os.WriteFile(f, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		input string
		keys  []string // the server block's keys; default cluster.local.
		err   string   // substring of the error
	}{
		{input: "headless {\n publish_not_ready all\n}", err: "Testfile:2 - Error during parsing: publish_not_ready: 'all' is neither none nor hostnames"},
		{input: "headless {\n publish_not_ready\n}", err: "Wrong argument count"},
		{input: "headless {\n negative_ttl 3601\n}", err: "Testfile:2 - Error during parsing: negative_ttl: '3601' is not a number of seconds from 0 to 3600"},
		{input: "headless {\n negative_ttl -1\n}", err: "negative_ttl: '-1' is not a number of seconds"},
		{input: "headless {\n negative_ttl 1 2\n}", err: "Wrong argument count"},
		{input: "headless :", err: "Testfile:1 - Error during parsing: no zone"},
		{input: "headless {\n topology Nearby\n}", err: "Testfile:2 - Error during parsing: topology: 'Nearby' is not PreferSameZone, PreferSameNode or PreferClose"},
		{input: "headless {\n topology a b\n}", err: "Wrong argument count"},
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
		{input: "headless cluster.local {\n multicluster\n}", keys: []string{"."}, err: "Testfile:2 - Error during parsing: multicluster: name the clusterset zone"},
		{input: "headless cluster.local {\n multicluster clusterset.local\n}", keys: []string{"."}, err: "Testfile:2 - Error during parsing: multicluster zone clusterset.local. is not a zone of the stanza cluster.local."},
		{input: "headless cluster.local clusterset.local in-addr.arpa {\n multicluster in-addr.arpa\n}", keys: []string{"."}, err: "multicluster: 'in-addr.arpa.' is not a forward zone"},
		{input: "headless cluster.local clusterset.local {\n multicluster clusterset.local clusterset.local\n}", keys: []string{"."}, err: "multicluster: 'clusterset.local.' given twice"},
		{input: "headless cluster.local clusterset.local {\n multicluster clusterset.local { cluster East_1 }\n}", keys: []string{"."}, err: "Testfile:2 - Error during parsing: multicluster: cluster 'East_1': a lowercase RFC 1123 label"},
		{input: "headless cluster.local clusterset.local {\n multicluster clusterset.local { cluster }\n}", keys: []string{"."}, err: "multicluster: cluster takes one cluster ID"},
		{input: "headless cluster.local clusterset.local {\n multicluster clusterset.local { region east }\n}", keys: []string{"."}, err: "multicluster: unknown property 'region'"},
		{input: "headless cluster.local clusterset.local {\n multicluster clusterset.local x\n}", keys: []string{"."}, err: "multicluster zone x. is not a zone of the stanza cluster.local. clusterset.local."},
	}
	for i, tc := range tests {
		c := caddy.NewTestController("dns", tc.input)
		c.ServerBlockKeys = []string{"cluster.local."}
		if tc.keys != nil {
			c.ServerBlockKeys = tc.keys
		}
		if _, _, err := Parse(c); err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("test %d %q: want error containing %q, got %v", i, tc.input, tc.err, err)
		}
	}
}

// TestParseMulticluster: the clusterset zones and this cluster's ID, in
// either spelling of the block.
func TestParseMulticluster(t *testing.T) {
	for _, in := range []string{
		"headless cluster.local ClusterSet.local {\n multicluster clusterset.local { cluster east-1 }\n ttl 7\n}",
		"headless cluster.local ClusterSet.local {\n multicluster clusterset.local {\n  cluster east-1\n }\n ttl 7\n}",
	} {
		c := caddy.NewTestController("dns", in)
		c.ServerBlockKeys = []string{"."}
		_, cfg, err := Parse(c)
		if err != nil || strings.Join(cfg.Multicluster, " ") != "clusterset.local." || cfg.ClusterID != "east-1" || cfg.TTL != 7 {
			t.Errorf("%q: multicluster %v, cluster %q, ttl %d, err %v", in, cfg.Multicluster, cfg.ClusterID, cfg.TTL, err)
		}
	}
}

// TestParseDefaults: a bare stanza takes the server block's zones and the
// defaults.
func TestParseDefaults(t *testing.T) {
	c := caddy.NewTestController("dns", "headless")
	c.ServerBlockKeys = []string{"cluster.local."}
	zones, cfg, err := Parse(c)
	if err != nil || strings.Join(zones, " ") != "cluster.local." || cfg.TTL != DefaultTTL || cfg.StartupTimeout != DefaultStartupTimeout ||
		cfg.Explain || cfg.Topology || cfg.MaxAnswers != 0 || cfg.HasNegTTL {
		t.Errorf("zones %v, config %+v, err %v", zones, cfg, err)
	}
}
