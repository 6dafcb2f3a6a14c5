package testbed

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Versions of the control plane; testbed/build.sh builds and caches them.
const (
	K8sVersion  = "v1.37.2"
	EtcdVersion = "v3.6.6"
)

// BinDir returns the directory holding etcd, kube-apiserver,
// kube-controller-manager, kubelet and kube-proxy, building them with testbed/build.sh if needed.
// Outside CI a missing build skips the test with how to enable it; with
// CI=true, or HEADLESS_TESTBED_BUILD=1, the binaries are built.
func BinDir(t TB) string {
	t.Helper()
	if d := os.Getenv("HEADLESS_TESTBED_BIN"); d != "" {
		return d
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cache, "headless-testbed", "k8s-"+K8sVersion+"-etcd-"+EtcdVersion)
	have := true
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			have = false
		}
	}
	if have {
		return dir
	}
	if os.Getenv("CI") != "true" && os.Getenv("HEADLESS_TESTBED_BUILD") != "1" {
		t.Skipf("control plane binaries not in %s: run testbed/build.sh (about 15 minutes cold) or set HEADLESS_TESTBED_BUILD=1", dir)
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	cmd := exec.Command("bash", filepath.Join(ModuleRoot(), "testbed", "build.sh"))
	cmd.Env = append(os.Environ(), "K8S_VERSION="+K8sVersion, "ETCD_VERSION="+EtcdVersion)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("testbed/build.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Cluster is a control plane on loopback. Admin holds a kubeconfig for a
// system:masters user; tokens for other users are in Tokens.
type Cluster struct {
	Dir       string
	URL       string
	Admin     string // kubeconfig path
	Client    *kubernetes.Clientset
	Etcd      *Proc
	APIServer *Proc
	KCM       *Proc
	Tokens    map[string]string // user -> bearer token
	CAFile    string            // the serving CA, with ClusterOptions.ServiceAccounts

	t        TB
	bin      string
	etcdURL  string
	apiPort  int
	etcdArgs []string
	apiArgs  []string
}

// Users the test bed knows: admin (system:masters) and dns (no groups: it
// gets exactly what RBAC bindings give it).
const (
	UserAdmin = "admin"
	UserDNS   = "headless-dns"
)

// StartCluster starts etcd, kube-apiserver (RBAC, token users) and
// kube-controller-manager with the endpointslice and mirroring controllers,
// and stops them all when the test ends.
func StartCluster(t TB, apiserverArgs ...string) *Cluster {
	t.Helper()
	return StartClusterWith(t, ClusterOptions{APIServerArgs: apiserverArgs})
}

// ClusterOptions change the control plane for a real node.
type ClusterOptions struct {
	APIServerArgs []string // appended: a later single-valued flag wins
	Controllers   []string // kube-controller-manager controllers beyond the default set
	// ServiceAccounts turns on the ServiceAccount admission plugin (the
	// projected token volume) and serves TLS from a CA the cluster writes to
	// CAFile, which the root-CA publisher hands to every namespace.
	ServiceAccounts bool
}

// StartClusterWith is StartCluster with options.
func StartClusterWith(t TB, o ClusterOptions) *Cluster {
	t.Helper()
	apiserverArgs := o.APIServerArgs
	c := &Cluster{t: t, bin: BinDir(t), Dir: t.TempDir(), Tokens: map[string]string{}}
	for _, u := range []string{UserAdmin, UserDNS, "kcm"} {
		c.Tokens[u] = token()
	}
	var csv strings.Builder
	fmt.Fprintf(&csv, "%s,%s,uid-admin,\"system:masters\"\n", c.Tokens[UserAdmin], UserAdmin)
	fmt.Fprintf(&csv, "%s,%s,uid-dns\n", c.Tokens[UserDNS], UserDNS)
	fmt.Fprintf(&csv, "%s,system:kube-controller-manager,uid-kcm,\"system:masters\"\n", c.Tokens["kcm"])
	write(t, filepath.Join(c.Dir, "tokens.csv"), csv.String())
	writeKey(t, filepath.Join(c.Dir, "sa.key"), filepath.Join(c.Dir, "sa.pub"))

	ep, pp := FreePort(t), FreePort(t)
	c.etcdURL = fmt.Sprintf("http://127.0.0.1:%d", ep)
	peer := fmt.Sprintf("http://127.0.0.1:%d", pp)
	c.etcdArgs = []string{"--name=default", "--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + c.etcdURL, "--advertise-client-urls=" + c.etcdURL,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer, "--log-level=warn", "--unsafe-no-fsync"}
	c.StartEtcd()

	c.apiPort = FreePort(t)
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", c.apiPort)
	c.apiArgs = []string{"--etcd-servers=" + c.etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", fmt.Sprintf("--secure-port=%d", c.apiPort),
		"--cert-dir=" + filepath.Join(c.Dir, "certs"),
		"--token-auth-file=" + filepath.Join(c.Dir, "tokens.csv"),
		"--authorization-mode=RBAC",
		"--service-account-key-file=" + filepath.Join(c.Dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(c.Dir, "sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--watch-cache=true",
		"--v=0"}
	kcmArgs := []string{"--controllers=" + strings.Join(append([]string{"endpointslice", "endpointslicemirroring", "namespace", "garbagecollector"}, o.Controllers...), ","),
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
		"--concurrent-service-endpoint-syncs=5", "--v=0"}
	if o.ServiceAccounts {
		c.CAFile = writeServingCerts(t, c.Dir)
		c.apiArgs = append(c.apiArgs, "--tls-cert-file="+filepath.Join(c.Dir, "serving.crt"), "--tls-private-key-file="+filepath.Join(c.Dir, "serving.key"))
		kcmArgs = append(kcmArgs, "--root-ca-file="+c.CAFile, "--service-account-private-key-file="+filepath.Join(c.Dir, "sa.key"))
	} else {
		c.apiArgs = append(c.apiArgs, "--disable-admission-plugins=ServiceAccount")
	}
	c.apiArgs = append(c.apiArgs, apiserverArgs...)
	c.StartAPIServer()

	c.Admin = c.Kubeconfig(UserAdmin)
	c.KCM = Start(t, filepath.Join(c.bin, "kube-controller-manager"), c.Dir, append([]string{"--kubeconfig=" + c.Kubeconfig("kcm")}, kcmArgs...)...)
	rc := c.RestConfig(UserAdmin)
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	c.Client = cs
	return c
}

// StartEtcd (re)starts etcd on its port and data dir.
func (c *Cluster) StartEtcd() {
	c.Etcd = Start(c.t, filepath.Join(c.bin, "etcd"), c.Dir, c.etcdArgs...)
	c.waitHTTP(c.etcdURL+"/health", "", 30*time.Second)
}

// StartAPIServer (re)starts kube-apiserver on its port.
func (c *Cluster) StartAPIServer() {
	c.APIServer = Start(c.t, filepath.Join(c.bin, "kube-apiserver"), c.Dir, c.apiArgs...)
	c.waitHTTP(c.URL+"/readyz", c.Tokens[UserAdmin], 120*time.Second)
}

func (c *Cluster) waitHTTP(url, token string, within time.Duration) {
	c.t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(within)
	for {
		req, _ := http.NewRequest("GET", url, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not ready after %s: %v", url, within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Kubeconfig writes a kubeconfig for a token user and returns its path.
func (c *Cluster) Kubeconfig(user string) string { return c.KubeconfigAt(user, c.URL) }

// KubeconfigAt writes a kubeconfig for a token user and server URL (a proxy).
func (c *Cluster) KubeconfigAt(user, server string) string {
	path := filepath.Join(c.Dir, fmt.Sprintf("%s-%d.kubeconfig", user, time.Now().UnixNano()))
	write(c.t, path, fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %s
    insecure-skip-tls-verify: true
users:
- name: %s
  user:
    token: %s
contexts:
- name: test
  context: {cluster: test, user: %s}
current-context: test
`, server, user, c.Tokens[user], user))
	return path
}

// RestConfig is a client config for a token user.
func (c *Cluster) RestConfig(user string) *rest.Config {
	return &rest.Config{Host: c.URL, BearerToken: c.Tokens[user], TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 500, Burst: 1000}
}

func token() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func write(t TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeKey(t TB, keyPath, pubPath string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	write(t, keyPath, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})))
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	write(t, pubPath, string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})))
}

// writeServingCerts writes a CA (ca.crt) and kube-apiserver's serving
// certificate signed by it (serving.crt, serving.key), valid for every name
// and address a pod or the node uses: the kubernetes Service's first IP,
// the node's address and loopback. It returns the CA's path.
func writeServingCerts(t TB, dir string) string {
	t.Helper()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "headless-testbed-ca"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost"},
		IPAddresses: []net.IP{net.ParseIP(ServiceIPKubernetes), net.ParseIP(NodeIP), net.ParseIP("127.0.0.1")}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	write(t, filepath.Join(dir, "ca.crt"), pemOf("CERTIFICATE", caDER))
	write(t, filepath.Join(dir, "serving.crt"), pemOf("CERTIFICATE", leafDER))
	write(t, filepath.Join(dir, "serving.key"), pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key)))
	return filepath.Join(dir, "ca.crt")
}
