package integration

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestDualStack: a dual-stack API server (both families in
// --service-cluster-ip-range), pods with an IPv4 and an IPv6 address and a
// RequireDualStack headless Service, whose endpointslice controller writes
// one slice per family. Ours and stock give the same whole replies (A,
// AAAA, SRV with glue of both families, both PTRs) before, during and after
// a readiness flip.
func TestDualStack(t *testing.T) {
	c := testbed.StartCluster(t, "--service-cluster-ip-range=10.96.0.0/16,fd00:96::/112")
	c.Node(t, "node-a", "zone-a")
	c.Namespace(t, "ds")
	policy := core.IPFamilyPolicyRequireDualStack
	s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "ds", Name: "web"}, Spec: core.ServiceSpec{
		ClusterIP: core.ClusterIPNone, Selector: map[string]string{"app": "web"}, IPFamilyPolicy: &policy,
		IPFamilies: []core.IPFamily{core.IPv4Protocol, core.IPv6Protocol}, Ports: []core.ServicePort{testbed.ServicePort("http", 80)}}}
	if _, err := c.Client.CoreV1().Services("ds").Create(bg, s, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ips := func(i int) []string {
		return []string{fmt.Sprintf("10.244.1.%d", 10+i), fmt.Sprintf("fd00:10::%d", 10+i)}
	}
	for i := 0; i < 3; i++ {
		c.Pod(t, testbed.PodSpec{Namespace: "ds", Name: fmt.Sprintf("web-%d", i), Node: "node-a", Labels: map[string]string{"app": "web"},
			Hostname: fmt.Sprintf("web-%d", i), Subdomain: "web", IPs: ips(i), Ready: true})
	}
	ours := startOurs(t, c.Admin, "")
	stock := startStock(t, c.Admin)
	const web = "web.ds" + zone
	eventually(t, 60*time.Second, "two slices, one per family", func() error {
		l, err := c.Client.DiscoveryV1().EndpointSlices("ds").List(bg, meta.ListOptions{})
		if err != nil {
			return err
		}
		fams := map[string]int{}
		for _, sl := range l.Items {
			fams[string(sl.AddressType)] += len(sl.Endpoints)
		}
		if fams["IPv4"] != 3 || fams["IPv6"] != 3 {
			return fmt.Errorf("endpoints per family %v", fams)
		}
		return nil
	})
	var qs []q
	add := func(name string, types ...uint16) {
		for _, qt := range types {
			qs = append(qs, q{name: name, qtype: qt})
		}
	}
	add(web, dns.TypeA, dns.TypeAAAA, dns.TypeSRV)
	add("_http._tcp."+web, dns.TypeSRV, dns.TypeA)
	for i := 0; i < 3; i++ {
		add(fmt.Sprintf("web-%d.", i)+web, dns.TypeA, dns.TypeAAAA, dns.TypeSRV)
		for _, ip := range ips(i) {
			r, err := dns.ReverseAddr(net.ParseIP(ip).String())
			if err != nil {
				t.Fatal(err)
			}
			add(r, dns.TypePTR)
		}
	}
	compare := func(when string) {
		t.Helper()
		sameAsStock(t, ours.Addr, stock.Addr, qs...)
		r, err := testbed.Exchange(ours.Addr, "_http._tcp."+web, dns.TypeSRV, true)
		if err != nil {
			t.Fatal(err)
		}
		a, aaaa := 0, 0
		for _, rr := range r.Extra {
			switch rr.(type) {
			case *dns.A:
				a++
			case *dns.AAAA:
				aaaa++
			}
		}
		t.Logf("%s: %d SRV records, glue %d A and %d AAAA; %d questions the same whole reply as stock over udp, udp+edns and tcp", when, len(r.Answer), a, aaaa, len(qs))
		if a == 0 || aaaa == 0 {
			t.Errorf("%s: SRV glue of one family only: %d A, %d AAAA", when, a, aaaa)
		}
	}
	expect(t, ours.Addr, web, dns.TypeAAAA, "NOERROR AAAA fd00:10::10 | AAAA fd00:10::11 | AAAA fd00:10::12")
	compare("all ready")
	c.SetPodStatus(t, "ds", "web-1", ips(1), false)
	expect(t, ours.Addr, web, dns.TypeAAAA, "NOERROR AAAA fd00:10::10 | AAAA fd00:10::12")
	expect(t, stock.Addr, web, dns.TypeAAAA, "NOERROR AAAA fd00:10::10 | AAAA fd00:10::12")
	compare("web-1 not ready")
	c.SetPodStatus(t, "ds", "web-1", ips(1), true)
	expect(t, ours.Addr, web, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.11 | A 10.244.1.12")
	expect(t, stock.Addr, web, dns.TypeA, "NOERROR A 10.244.1.10 | A 10.244.1.11 | A 10.244.1.12")
	compare("web-1 ready again")
}
