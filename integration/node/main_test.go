// Package node runs the product as users run it: our image started by
// containerd on a real kubelet, as the cluster's DNS Deployment behind the
// kube-dns ClusterIP, asked by pods through their own resolv.conf with
// glibc, musl and Go. Everything runs inside network, mount and PID
// namespaces the test binary makes for itself (testbed.NodeMain); one node
// serves every test of the package.
package node

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
)

func TestMain(m *testing.M) { os.Exit(testbed.NodeMain(m)) }

// TestNamespaceIsolated: the node's namespace has no default route, its
// resolv.conf names only an address it cannot reach, and an address outside
// is unreachable: nothing the node runs can ask the machine's resolvers or
// reach past the namespace.
func TestNamespaceIsolated(t *testing.T) {
	testbed.NeedNode(t)
	routes, err := exec.Command("ip", "route", "show", "default").Output()
	if err != nil || strings.TrimSpace(string(routes)) != "" {
		t.Errorf("default route in the node's namespace: %q %v", routes, err)
	}
	if b, err := os.ReadFile("/etc/resolv.conf"); err != nil || !strings.HasPrefix(string(b), "nameserver "+testbed.NoResolver+"\n") {
		t.Errorf("/etc/resolv.conf: %q %v", b, err)
	}
	for _, addr := range []string{testbed.NoResolver + ":53", "1.1.1.1:53"} {
		c, err := net.DialTimeout("udp", addr, time.Second)
		if err == nil {
			_, err = c.Write([]byte{0})
			c.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "network is unreachable") {
			t.Errorf("%s from the node's namespace: %v, want network is unreachable", addr, err)
		}
	}
}
