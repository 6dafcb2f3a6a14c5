package integration

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// transport of one query: plain UDP (512 bytes, no EDNS), UDP with EDNS
// 4096, or TCP.
type transport int

const (
	udp512 transport = iota
	udpEDNS
	tcp
)

func (tr transport) String() string { return [...]string{"udp", "udp+edns", "tcp"}[tr] }

// fullReply is a whole reply reduced to text: rcode, the AA and TC flags, and
// every section (sorted; SOA serials zeroed, OPT left out). A truncated reply
// keeps only its rcode, flags and answer count: which records fit depends on
// record order, which the spec leaves free.
func fullReply(addr, name string, qtype uint16, tr transport) string {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	c := &dns.Client{Timeout: 2 * time.Second}
	switch tr {
	case udpEDNS:
		m.SetEdns0(4096, false)
	case tcp:
		c.Net = "tcp"
	}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return "error: " + err.Error()
	}
	section := func(rrs []dns.RR) string {
		var out []string
		for _, rr := range rrs {
			switch v := rr.(type) {
			case *dns.OPT:
				continue
			case *dns.SOA:
				c := *v
				c.Serial = 0
				rr = &c
			}
			out = append(out, rr.String())
		}
		sort.Strings(out)
		return strings.Join(out, " | ")
	}
	s := fmt.Sprintf("%s aa=%v tc=%v", dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated)
	if r.Truncated {
		return fmt.Sprintf("%s answers=%d", s, len(r.Answer))
	}
	return fmt.Sprintf("%s\n  an: %s\n  ns: %s\n  ex: %s", s, section(r.Answer), section(r.Ns), section(r.Extra))
}

// parityNames are the queries compared: every spelling of every name the
// spec and the stock parser know, for the cluster TestParity builds.
func parityNames() []q {
	z := ".par.svc.cluster.local."
	var qs []q
	add := func(name string, types ...uint16) {
		for _, t := range types {
			qs = append(qs, q{name: name, qtype: t})
		}
	}
	all := []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV, dns.TypeTXT}
	for _, svc := range []string{"web", "db", "bare", "big", "api"} {
		add(svc+z, all...)
		for _, port := range []string{"http", "dns", "pg", "", "nope"} {
			for _, proto := range []string{"tcp", "udp", ""} {
				for _, u := range [][2]string{{"_", "_"}, {"", ""}, {"_", ""}, {"", "_"}} {
					p, pr := u[0]+port, u[1]+proto
					if p == "" || pr == "" {
						continue // an empty label is no name; "_" alone is the any-spelling
					}
					add(p+"."+pr+"."+svc+z, dns.TypeSRV, dns.TypeA)
				}
			}
		}
	}
	for _, host := range []string{"web-0", "web-1", "web-2", "web-9", "10-244-5-3", "loose-pod", "primary", "192-0-2-51", "_http", "a.b"} {
		add(host+".web"+z, all...)
		add(host+".db"+z, dns.TypeA, dns.TypeSRV)
	}
	add("Web-1.WEB.Par.svc.Cluster.Local.", all...)
	add("_HTTP._Tcp.web.par.SVC.cluster.LOCAL.", dns.TypeSRV)
	add("web.par.svc.CLUSTER.local.", dns.TypeSRV)
	add("nope.web.par.svc.Cluster.Local.", dns.TypeA)
	for _, topo := range []string{"zone-a", "zone-b", "zone-c", "Zone-A"} {
		add(topo+".pin._zone.web"+z, dns.TypeA, dns.TypeSRV, dns.TypeTXT)
		add(topo+".prefer._zone.web"+z, dns.TypeA, dns.TypeSRV)
	}
	add("zone-a.florp._zone.web"+z, dns.TypeA)
	add("x.y.zone-a.pin._zone.web"+z, dns.TypeA)
	// ancestors: answered by kubernetes on both sides
	add("cluster.local.", dns.TypeSOA, dns.TypeNS, dns.TypeA)
	add("svc.cluster.local.", dns.TypeA)
	add("par.svc.cluster.local.", dns.TypeA, dns.TypeSRV)
	add("nons.svc.cluster.local.", dns.TypeA)
	add("1.244.10.in-addr.arpa.", dns.TypePTR)
	// reverse
	for _, a := range []string{"10.5.244.10", "11.5.244.10", "12.5.244.10", "3.5.244.10", "51.2.0.192", "50.2.0.192", "99.5.244.10"} {
		add(a+".in-addr.arpa.", dns.TypePTR, dns.TypeA)
	}
	// the fixture's harder parts (parityExtras)
	for _, svc := range []string{"pnr", "term", "hand", "huge", "alias"} {
		add(svc+z, dns.TypeA, dns.TypeAAAA, dns.TypeSRV)
		add("_http._tcp."+svc+z, dns.TypeSRV)
	}
	for _, host := range []string{"web-3", "pnr-0", "t-0", "t-1", "h-4", "h-6", "huge-7", "huge-104", "2001-db8--6", "10-244-9-7"} {
		for _, svc := range []string{"web", "pnr", "term", "hand", "huge", "alias"} {
			add(host+"."+svc+z, dns.TypeA, dns.TypeAAAA)
		}
	}
	for _, a := range []string{"13.5.244.10", "20.5.244.10", "1.8.244.10", "2.8.244.10", "4.9.244.10", "7.9.244.10", "105.10.244.10", "8.10.244.10"} {
		add(a+".in-addr.arpa.", dns.TypePTR)
	}
	add("6.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR)
	add("7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.", dns.TypePTR)
	return qs
}

// handSlice is an EndpointSlice written by hand for a selector-less Service.
func handSlice(name, svc string, family discovery.AddressType, eps ...discovery.Endpoint) *discovery.EndpointSlice {
	port, proto, pname := int32(80), core.ProtocolTCP, "http"
	return &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: "par", Name: name,
		Labels: map[string]string{discovery.LabelServiceName: svc, discovery.LabelManagedBy: "hand.example.com"}},
		AddressType: family, Ports: []discovery.EndpointPort{{Name: &pname, Protocol: &proto, Port: &port}}, Endpoints: eps}
}

func handEndpoint(host, addr string, ready, serving, terminating bool) discovery.Endpoint {
	e := discovery.Endpoint{Addresses: []string{addr},
		Conditions: discovery.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}}
	if host != "" {
		e.Hostname = &host
	}
	return e
}

// parityExtras adds the fixture's harder parts: a not-ready pod, a
// publishNotReadyAddresses Service, terminating-but-serving endpoints, a
// Service of more than 100 endpoints (several slices), an address shared by
// two Services, hand-made slices of both families.
func parityExtras(t *testing.T, c *testbed.Cluster) {
	web := func(i int, ip string, ready bool) testbed.PodSpec {
		return testbed.PodSpec{Namespace: "par", Name: fmt.Sprintf("web-%d", i), Node: "node-b", Labels: map[string]string{"app": "web"},
			Hostname: fmt.Sprintf("web-%d", i), Subdomain: "web", IPs: []string{ip}, Ready: ready}
	}
	c.Pod(t, web(3, "10.244.5.13", false))
	c.Service(t, "par", "pnr", core.ClusterIPNone, map[string]string{"app": "pnr"}, true, testbed.ServicePort("http", 80))
	c.Pod(t, testbed.PodSpec{Namespace: "par", Name: "pnr-0", Node: "node-a", Labels: map[string]string{"app": "pnr"},
		Hostname: "pnr-0", Subdomain: "pnr", IPs: []string{"10.244.5.20"}, Ready: false})
	// the same pod's address under a second Service (another selector on it)
	c.Service(t, "par", "alias", core.ClusterIPNone, map[string]string{"app": "web"}, false, testbed.ServicePort("http", 80))
	for _, name := range []string{"term", "hand"} {
		c.Service(t, "par", name, core.ClusterIPNone, nil, false, testbed.ServicePort("http", 80))
	}
	for _, s := range []*discovery.EndpointSlice{
		handSlice("term-1", "term", discovery.AddressTypeIPv4, handEndpoint("t-0", "10.244.8.1", true, true, false),
			handEndpoint("t-1", "10.244.8.2", false, true, true)),
		handSlice("hand-4", "hand", discovery.AddressTypeIPv4, handEndpoint("h-4", "10.244.9.4", true, true, false),
			handEndpoint("", "10.244.9.7", true, true, false)),
		handSlice("hand-6", "hand", discovery.AddressTypeIPv6, handEndpoint("h-6", "2001:db8::6", true, true, false),
			handEndpoint("", "2001:db8::7", true, true, false)),
	} {
		if _, err := c.Client.DiscoveryV1().EndpointSlices("par").Create(bg, s, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.Service(t, "par", "huge", core.ClusterIPNone, map[string]string{"app": "huge"}, false, testbed.ServicePort("http", 80))
	if err := testbed.Parallel(110, 8, func(i int) error {
		return c.CreatePod(testbed.PodSpec{Namespace: "par", Name: fmt.Sprintf("huge-%d", i), Node: []string{"node-a", "node-b"}[i%2],
			Labels: map[string]string{"app": "huge"}, Hostname: fmt.Sprintf("huge-%d", i), Subdomain: "huge",
			IPs: []string{fmt.Sprintf("10.244.10.%d", i+1)}, Ready: true})
	}); err != nil {
		t.Fatal(err)
	}
}

// parityMutations changes the cluster: readiness flips, a slice deleted, a
// Service deleted.
func parityMutations(t *testing.T, c *testbed.Cluster) {
	c.SetPodStatus(t, "par", "web-1", []string{"10.244.5.11"}, false)
	c.SetPodStatus(t, "par", "web-3", []string{"10.244.5.13"}, true)
	c.SetPodStatus(t, "par", "huge-104", []string{"10.244.10.105"}, false)
	if err := c.Client.DiscoveryV1().EndpointSlices("par").Delete(bg, "hand-6", meta.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"term", "alias"} { // selector-less (its slice stays, orphaned), and with a selector
		if err := c.Client.CoreV1().Services("par").Delete(bg, svc, meta.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestParity compares whole replies of ours (headless + kubernetes
// {noendpoints}) and stock CoreDNS (kubernetes alone) on one real cluster,
// for every spelling and transport, with the default options and with zonal
// and endpoint_pod_names on both sides.
func TestParity(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Node(t, "node-b", "zone-b")
	c.Namespace(t, "par")
	tcpPort := func(name string, p int32) core.ServicePort { return testbed.ServicePort(name, p) }
	udpPort := core.ServicePort{Name: "dns", Port: 53, Protocol: core.ProtocolUDP, TargetPort: intstr.FromInt32(53)}
	c.Service(t, "par", "web", core.ClusterIPNone, map[string]string{"app": "web"}, false, tcpPort("http", 80), udpPort)
	for i, n := range []string{"node-a", "node-b", "node-a"} {
		c.Pod(t, testbed.PodSpec{Namespace: "par", Name: fmt.Sprintf("web-%d", i), Node: n, Labels: map[string]string{"app": "web"},
			Hostname: fmt.Sprintf("web-%d", i), Subdomain: "web", IPs: []string{fmt.Sprintf("10.244.5.%d", 10+i)}, Ready: true})
	}
	// a pod without hostname: dashed IP, or its name with endpoint_pod_names
	c.Pod(t, testbed.PodSpec{Namespace: "par", Name: "loose-pod", Node: "node-b", Labels: map[string]string{"app": "web"},
		IPs: []string{"10.244.5.3"}, Ready: true})
	// a headless Service without ports
	c.Service(t, "par", "bare", core.ClusterIPNone, map[string]string{"app": "bare"}, false)
	c.Pod(t, testbed.PodSpec{Namespace: "par", Name: "bare-0", Node: "node-a", Labels: map[string]string{"app": "bare"}, IPs: []string{"10.244.6.1"}, Ready: true})
	// 40 endpoints: truncated over plain UDP
	c.Service(t, "par", "big", core.ClusterIPNone, map[string]string{"app": "big"}, false, tcpPort("http", 80))
	for i := 0; i < 40; i++ {
		c.Pod(t, testbed.PodSpec{Namespace: "par", Name: fmt.Sprintf("big-%d", i), Node: []string{"node-a", "node-b"}[i%2],
			Labels: map[string]string{"app": "big"}, IPs: []string{fmt.Sprintf("10.244.7.%d", i+1)}, Ready: true})
	}
	// selector-less, from hand-written Endpoints
	c.Service(t, "par", "db", core.ClusterIPNone, nil, false, tcpPort("pg", 5432))
	eps := &core.Endpoints{ObjectMeta: meta.ObjectMeta{Namespace: "par", Name: "db"}, Subsets: []core.EndpointSubset{{
		Addresses: []core.EndpointAddress{{IP: "192.0.2.50", Hostname: "primary"}, {IP: "192.0.2.51"}},
		Ports:     []core.EndpointPort{{Name: "pg", Port: 5432, Protocol: core.ProtocolTCP}},
	}}}
	if _, err := c.Client.CoreV1().Endpoints("par").Create(bg, eps, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// a ClusterIP Service: kubernetes answers it on both sides
	c.Service(t, "par", "api", "", map[string]string{"app": "api"}, false, tcpPort("http", 80))
	parityExtras(t, c)

	hugeReady, oneAnswer := 110, []string{"primary.db.par" + zone, "web-2.web.par" + zone, "bare.par" + zone, "t-0.term.par" + zone}
	for _, mode := range []struct{ name, opts string }{{"Default", ""}, {"ZonalPodNames", "zonal\n        endpoint_pod_names"}} {
		t.Run(mode.name, func(t *testing.T) {
			ours := startParityOurs(t, c.Admin, mode.opts)
			stock := testbed.StartCoreDNS(t, testbed.StockCoreDNS(t), fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        %s
    }
}
`, c.Admin, mode.opts))
			// both have the whole cluster: the last objects made are served
			for _, addr := range []string{ours.Addr, stock.Addr} {
				eventually(t, 60*time.Second, "cluster served by "+addr, func() error {
					for n, want := range map[string]int{"big.par" + zone: 40, "huge.par" + zone: hugeReady, "hand.par" + zone: 2} {
						r, err := testbed.Exchange(addr, n, dns.TypeA, true)
						if err != nil {
							return err
						}
						if len(r.Answer) != want {
							return fmt.Errorf("%s: %d answers, want %d", n, len(r.Answer), want)
						}
					}
					for _, n := range oneAnswer {
						if r, err := testbed.Exchange(addr, n, dns.TypeA, false); err != nil || len(r.Answer) != 1 {
							return fmt.Errorf("%s: %v %v", n, r, err)
						}
					}
					return nil
				})
			}
			compareParity(t, mode.name, ours.Addr, stock.Addr)
			if mode.name != "Default" {
				return
			}
			explained := startParityOurs(t, c.Admin, "explain")
			eventually(t, 60*time.Second, "cluster served with explain on", func() error {
				if r, err := testbed.Exchange(explained.Addr, "huge.par"+zone, dns.TypeA, true); err != nil || len(r.Answer) != hugeReady {
					return fmt.Errorf("huge: %v %v", r, err)
				}
				return nil
			})
			explainChangesOnlyEDE(t, ours.Addr, explained.Addr)
			parityMutations(t, c)
			hugeReady, oneAnswer = 109, oneAnswer[:3]
			for _, addr := range []string{ours.Addr, stock.Addr} {
				eventually(t, 60*time.Second, "mutations served by "+addr, func() error {
					for n, want := range map[string]int{"web.par" + zone: 4, "huge.par" + zone: 109, "hand.par" + zone: 2} {
						r, err := testbed.Exchange(addr, n, dns.TypeA, true)
						if err != nil {
							return err
						}
						if len(r.Answer) != want {
							return fmt.Errorf("%s: %d answers, want %d", n, len(r.Answer), want)
						}
					}
					for _, n := range []string{"t-0.term.par" + zone, "alias.par" + zone} {
						if r, err := testbed.Exchange(addr, n, dns.TypeA, false); err != nil || r.Rcode != dns.RcodeNameError {
							return fmt.Errorf("%s: Service deleted: %v %v", n, r, err)
						}
					}
					if r, err := testbed.Exchange(addr, "hand.par"+zone, dns.TypeAAAA, false); err != nil || len(r.Answer) != 0 {
						return fmt.Errorf("hand-6 deleted: %v %v", r, err)
					}
					return nil
				})
			}
			compareParity(t, mode.name+" after mutations", ours.Addr, stock.Addr)
		})
	}
}

// compareParity compares whole replies of ours and stock for every parity
// name over every transport.
func compareParity(t *testing.T, what, ours, stock string) {
	t.Helper()
	compared, differ, documented, orphans := 0, 0, 0, 0
	for _, x := range parityNames() {
		for _, tr := range []transport{udp512, udpEDNS, tcp} {
			a, b := fullReply(ours, x.name, x.qtype, tr), fullReply(stock, x.name, x.qtype, tr)
			compared++
			if sameTruncation(a, b) {
				continue
			}
			if orphanPTR(stock, x, a, b) {
				orphans++
				continue
			}
			if isReverseName(x.name) && x.qtype != dns.TypePTR && strings.HasPrefix(b, "NXDOMAIN") {
				// The one documented difference (README): another type asked of
				// a published PTR name is NODATA (RFC 8020: the name exists);
				// stock says NXDOMAIN. Otherwise the same reply.
				if fullReply(ours, x.name, dns.TypePTR, tr) != fullReply(stock, x.name, dns.TypePTR, tr) ||
					strings.Replace(a, "NOERROR", "NXDOMAIN", 1) != b {
					t.Errorf("%s: %s %s over %s: not the documented NODATA-for-NXDOMAIN difference:\nours:  %s\nstock: %s", what, x.name, dns.TypeToString[x.qtype], tr, a, b)
				}
				documented++
				continue
			}
			if a != b {
				differ++
				if differ <= 15 {
					t.Errorf("%s: %s %s over %s:\nours:  %s\nstock: %s", what, x.name, dns.TypeToString[x.qtype], tr, a, b)
				}
			}
		}
	}
	t.Logf("%s: %d replies compared whole, %d differ, %d the documented NODATA on a PTR name, %d the documented orphaned PTR", what, compared, differ, documented, orphans)
}

// orphanPTR reports the second documented difference (README): the slice of
// a deleted selector-less Service stays (nothing owns it); stock still
// answers its addresses' PTRs, with targets that no longer resolve, where
// ours has none (NXDOMAIN from the next plugin).
func orphanPTR(stock string, x q, ours, stockReply string) bool {
	if x.qtype != dns.TypePTR || !strings.HasPrefix(ours, "NXDOMAIN") || !strings.HasPrefix(stockReply, "NOERROR") {
		return false
	}
	r, err := testbed.Exchange(stock, x.name, dns.TypePTR, true)
	if err != nil || len(r.Answer) != 1 {
		return false
	}
	ptr, ok := r.Answer[0].(*dns.PTR)
	if !ok {
		return false
	}
	t, err := testbed.Exchange(stock, ptr.Ptr, dns.TypeA, true)
	return err == nil && t.Rcode == dns.RcodeNameError
}

// sameTruncation reports whether two replies are both truncated alike:
// same rcode and flags, and answer counts within 3 % (at least 2) of each
// other. How many records fit depends on their order (the lengths of the
// names in the first ones), which the spec leaves free and stock takes
// from its informer's order.
func sameTruncation(a, b string) bool {
	var ra, rb string
	var fa, fb bool
	var na, nb int
	if n, _ := fmt.Sscanf(a, "%s aa=%t tc=true answers=%d", &ra, &fa, &na); n != 3 {
		return false
	}
	if n, _ := fmt.Sscanf(b, "%s aa=%t tc=true answers=%d", &rb, &fb, &nb); n != 3 {
		return false
	}
	d := na - nb
	if d < 0 {
		d = -d
	}
	return ra == rb && fa == fb && d <= max(2, nb*3/100)
}

func isReverseName(name string) bool {
	return strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")
}

func startParityOurs(t *testing.T, kubeconfig, opts string) *testbed.CoreDNS {
	t.Helper()
	return testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    headless cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        startup_timeout 10s
        %s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        noendpoints
    }
}
`, kubeconfig, opts, kubeconfig))
}
