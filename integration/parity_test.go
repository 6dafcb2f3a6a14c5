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
	return qs
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
					r, err := testbed.Exchange(addr, "big.par"+zone, dns.TypeA, true)
					if err != nil || len(r.Answer) != 40 {
						return fmt.Errorf("big: %v %v", r, err)
					}
					for _, n := range []string{"primary.db.par" + zone, "web-2.web.par" + zone, "bare.par" + zone} {
						if r, err := testbed.Exchange(addr, n, dns.TypeA, false); err != nil || len(r.Answer) != 1 {
							return fmt.Errorf("%s: %v %v", n, r, err)
						}
					}
					return nil
				})
			}
			compared, differ, documented := 0, 0, 0
			for _, x := range parityNames() {
				for _, tr := range []transport{udp512, udpEDNS, tcp} {
					a, b := fullReply(ours.Addr, x.name, x.qtype, tr), fullReply(stock.Addr, x.name, x.qtype, tr)
					compared++
					if isReverseName(x.name) && x.qtype != dns.TypePTR && strings.HasPrefix(b, "NXDOMAIN") {
						// The one documented difference (README): another type asked of
						// a published PTR name is NODATA (RFC 8020: the name exists);
						// stock says NXDOMAIN. Otherwise the same reply.
						if fullReply(ours.Addr, x.name, dns.TypePTR, tr) != fullReply(stock.Addr, x.name, dns.TypePTR, tr) ||
							strings.Replace(a, "NOERROR", "NXDOMAIN", 1) != b {
							t.Errorf("%s %s over %s: not the documented NODATA-for-NXDOMAIN difference:\nours:  %s\nstock: %s", x.name, dns.TypeToString[x.qtype], tr, a, b)
						}
						documented++
						continue
					}
					if a != b {
						differ++
						if differ <= 15 {
							t.Errorf("%s %s over %s:\nours:  %s\nstock: %s", x.name, dns.TypeToString[x.qtype], tr, a, b)
						}
					}
				}
			}
			t.Logf("%s: %d replies compared whole, %d differ, %d the documented NODATA on a PTR name", mode.name, compared, differ, documented)
		})
	}
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
