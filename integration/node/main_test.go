// Package node runs the product as users run it: our image started by
// containerd on a real kubelet, as the cluster's DNS Deployment behind the
// kube-dns ClusterIP, asked by pods through their own resolv.conf with
// glibc, musl and Go. Everything runs inside network, mount and PID
// namespaces the test binary makes for itself (testbed.NodeMain); one node
// serves every test of the package.
package node

import (
	"os"
	"testing"

	"github.com/headlessdns/headless/internal/testbed"
)

func TestMain(m *testing.M) { os.Exit(testbed.NodeMain(m)) }
