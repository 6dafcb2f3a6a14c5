package node

import (
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestConformance reproduces Kubernetes' own DNS conformance cases
// (kubernetes/kubernetes test/e2e/network/dns.go and dns_common.go) with the
// names and checks they use: dig +search over UDP and TCP, and getent hosts,
// from a pod with hostname and subdomain. Their images cannot be pulled
// here: dig and getent run in our glibc client image.
//
//   - should provide DNS for services: the headless Service's A, the SRV of
//     the headless and of a ClusterIP Service, the pod's own A record
//     (a-b-c-d.NS.pod), the PTR of the ClusterIP;
//   - should resolve DNS of partial qualified names for services: the same
//     names shortened (svc, svc.ns, svc.ns.svc, _http._tcp.svc.ns.svc);
//   - should provide DNS for pods for Hostname: getent hosts of the pod's
//     FQDN and of its hostname (kubelet's /etc/hosts);
//   - should provide DNS for pods for Subdomain: A of the pod's FQDN and of
//     the subdomain Service.
func TestConformance(t *testing.T) {
	n := clusterDNS(t)
	const ns = "dns-conformance"
	namespace(t, n, ns)
	headlessService(t, n, ns, "dns-test-service", map[string]string{"dns-test": "true"}, nil)
	regular, err := n.Client.CoreV1().Services(ns).Create(bg, &core.Service{ObjectMeta: meta.ObjectMeta{Name: "test-service-2"},
		Spec: core.ServiceSpec{Selector: map[string]string{"dns-test": "true"}, Ports: []core.ServicePort{{Name: "http", Port: 80}}}}, meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	headlessService(t, n, ns, "dns-test-service-2", map[string]string{"dns-test-hostname-attribute": "true"}, nil)
	for _, p := range []struct{ name, host, sub, label string }{
		{"dns-test", "dns-querier-1", "dns-test-service", "dns-test"},
		{"dns-querier-2", "dns-querier-2", "dns-test-service-2", "dns-test-hostname-attribute"},
	} {
		if _, err := n.Client.CoreV1().Pods(ns).Create(bg, &core.Pod{ObjectMeta: meta.ObjectMeta{Name: p.name, Labels: map[string]string{p.label: "true"}},
			Spec: core.PodSpec{NodeName: testbed.NodeName, Hostname: p.host, Subdomain: p.sub, Containers: clientContainers("glibc")}}, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ips := waitPods(t, n, ns, []string{"dns-test", "dns-querier-2"}, true, 90*time.Second)
	rev, _ := dns.ReverseAddr(regular.Spec.ClusterIP)
	podA := strings.ReplaceAll(ips["dns-test"], ".", "-") + "." + ns + ".pod.cluster.local"

	type check struct{ name, qtype, want string }
	fq := func(s string) string { return s + "." + ns + ".svc.cluster.local" }
	cases := map[string][]check{
		"should provide DNS for services": {
			{fq("dns-test-service"), "A", ips["dns-test"]},
			{"_http._tcp." + fq("dns-test-service"), "SRV", "0 100 80 dns-querier-1." + fq("dns-test-service") + "."},
			{"_http._tcp." + fq("test-service-2"), "SRV", "0 100 80 " + fq("test-service-2") + "."},
			{podA, "A", ips["dns-test"]},
			{rev, "PTR", fq("test-service-2") + "."},
		},
		"should resolve DNS of partial qualified names for services": {
			{"dns-test-service", "A", ips["dns-test"]},
			{"dns-test-service." + ns, "A", ips["dns-test"]},
			{"dns-test-service." + ns + ".svc", "A", ips["dns-test"]},
			{"_http._tcp.dns-test-service." + ns + ".svc", "SRV", "0 100 80 dns-querier-1." + fq("dns-test-service") + "."},
			{"_http._tcp.test-service-2." + ns + ".svc", "SRV", "0 100 80 " + fq("test-service-2") + "."},
		},
		"should provide DNS for pods for Subdomain": {
			{"dns-querier-2." + fq("dns-test-service-2"), "A", ips["dns-querier-2"]},
			{fq("dns-test-service-2"), "A", ips["dns-querier-2"]},
		},
	}
	for name, checks := range cases {
		pod := "dns-test"
		if strings.Contains(name, "Subdomain") {
			pod = "dns-querier-2"
		}
		t.Run(name, func(t *testing.T) {
			for _, c := range checks {
				for _, transport := range []string{"+notcp", "+tcp"} {
					out, rc := n.Exec(t, ns, pod, "glibc", "/usr/bin/dig", transport, "+noall", "+answer", "+search", c.name, c.qtype)
					if rc != 0 || !answerHas(out, c.qtype, c.want) {
						t.Errorf("dig %s +search %s %s: rc %d, want an answer %s %s:\n%s", transport, c.name, c.qtype, rc, c.qtype, c.want, out)
					}
				}
			}
		})
	}
	t.Run("should provide DNS for pods for Hostname", func(t *testing.T) {
		for _, name := range []string{"dns-querier-2." + fq("dns-test-service-2"), "dns-querier-2"} {
			out, rc := n.Exec(t, ns, "dns-querier-2", "glibc", "/usr/bin/getent", "hosts", name)
			if rc != 0 || !strings.HasPrefix(out, ips["dns-querier-2"]+" ") {
				t.Errorf("getent hosts %s: rc %d %q, want %s", name, rc, out, ips["dns-querier-2"])
			}
		}
	})
}

// answerHas reports whether dig's +answer output has a record of qtype
// whose data is want.
func answerHas(out, qtype, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[3] == qtype && strings.Join(f[4:], " ") == want {
			return true
		}
	}
	return false
}
