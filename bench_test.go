package headless

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/coredns/coredns/plugin/kubernetes"
	kobject "github.com/coredns/coredns/plugin/kubernetes/object"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
)

// benchObjects: headless Services of 2, 100 and 1,000 endpoints (the last in
// 10 slices of 100, as the endpointslice controller writes them).
func benchObjects() []kruntime.Object {
	objs := []kruntime.Object{}
	add := func(name string, n int) {
		objs = append(objs, headlessSvc("bench", name, nil))
		for s := 0; s*100 < n; s++ {
			var eps []ep
			for i := s * 100; i < n && i < (s+1)*100; i++ {
				eps = append(eps, ep{IP: fmt.Sprintf("10.%d.%d.%d", len(name), i/250, i%250+1), Host: fmt.Sprintf("%s-%d", name, i), Zone: fmt.Sprintf("zone-%d", i%3)})
			}
			objs = append(objs, slice("bench", fmt.Sprintf("%s-%d", name, s), name, discovery.AddressTypeIPv4, "", http80, eps...))
		}
	}
	add("two", 2)
	add("hundred", 100)
	add("thousand", 1000)
	return objs
}

type benchQuery struct {
	name  string
	qname string
	qtype uint16
}

var benchQueries = []benchQuery{
	{"A/2", "two.bench.svc.cluster.local.", dns.TypeA},
	{"A/100", "hundred.bench.svc.cluster.local.", dns.TypeA},
	{"SRV/100", "_http._tcp.hundred.bench.svc.cluster.local.", dns.TypeSRV},
	{"A/host", "hundred-42.hundred.bench.svc.cluster.local.", dns.TypeA},
	{"PTR", "43.0.7.10.in-addr.arpa.", dns.TypePTR},
	{"NXDOMAIN", "nope.hundred.bench.svc.cluster.local.", dns.TypeA},
}

// discard is a ResponseWriter that drops replies, so only ServeDNS is measured.
type discard struct{ n int }

func (d *discard) LocalAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }

func (d *discard) RemoteAddr() net.Addr { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }

func (d *discard) WriteMsg(m *dns.Msg) error { d.n += len(m.Answer); return nil }

func (d *discard) Write(b []byte) (int, error) {
	return len(b), nil
}

func (d *discard) Close() error { return nil }

func (d *discard) TsigStatus() error { return nil }

func (d *discard) TsigTimersOnly(bool) {}

func (d *discard) Hijack() {}

func benchServe(b *testing.B, h interface {
	ServeDNS(context.Context, dns.ResponseWriter, *dns.Msg) (int, error)
}) {
	for _, q := range benchQueries {
		b.Run(q.name, func(b *testing.B) {
			m := new(dns.Msg)
			m.SetQuestion(q.qname, q.qtype)
			m.SetEdns0(4096, false)
			w := &discard{}
			ctx := context.Background()
			if _, err := h.ServeDNS(ctx, w, m); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				_, _ = h.ServeDNS(ctx, w, m)
			}
		})
	}
}

// BenchmarkServeDNS is the per-query cost of the headless plugin.
func BenchmarkServeDNS(b *testing.B) {
	h, _ := start(b, config{}, benchObjects()...)
	benchServe(b, h)
}

// BenchmarkStockServeDNS is the stock kubernetes plugin (CoreDNS 1.15.0) on the
// same objects, fed through its controller interface, in the same run.
func BenchmarkStockServeDNS(b *testing.B) {
	k := kubernetes.New([]string{"cluster.local.", "in-addr.arpa."})
	k.APIConn = newStockConn(b, benchObjects())
	benchServe(b, k)
}

// stockConn implements the stock plugin's controller interface over fixed objects.
type stockConn struct {
	svcs map[string][]*kobject.Service
	eps  map[string][]*kobject.Endpoints
	rev  map[string][]*kobject.Endpoints
}

func newStockConn(b *testing.B, objs []kruntime.Object) *stockConn {
	c := &stockConn{svcs: map[string][]*kobject.Service{}, eps: map[string][]*kobject.Endpoints{}, rev: map[string][]*kobject.Endpoints{}}
	for _, o := range objs {
		switch v := o.(type) {
		case *core.Service:
			s, err := kobject.ToService(v)
			if err != nil {
				b.Fatal(err)
			}
			svc := s.(*kobject.Service)
			c.svcs[svc.Index] = append(c.svcs[svc.Index], svc)
		case *discovery.EndpointSlice:
			e, err := kobject.EndpointSliceToEndpoints(v.DeepCopy())
			if err != nil {
				b.Fatal(err)
			}
			ep := e.(*kobject.Endpoints)
			c.eps[ep.Index] = append(c.eps[ep.Index], ep)
			for _, ip := range ep.IndexIP {
				c.rev[ip] = append(c.rev[ip], ep)
			}
		}
	}
	return c
}

func (c *stockConn) ServiceList() (l []*kobject.Service) {
	for _, s := range c.svcs {
		l = append(l, s...)
	}
	return l
}

func (c *stockConn) EndpointsList() (l []*kobject.Endpoints) {
	for _, e := range c.eps {
		l = append(l, e...)
	}
	return l
}

func (c *stockConn) ServiceImportList() []*kobject.ServiceImport { return nil }

func (c *stockConn) SvcIndex(k string) []*kobject.Service { return c.svcs[k] }

func (c *stockConn) SvcIndexReverse(string) []*kobject.Service { return nil }

func (c *stockConn) SvcExtIndexReverse(string) []*kobject.Service { return nil }

func (c *stockConn) SvcImportIndex(string) []*kobject.ServiceImport { return nil }

func (c *stockConn) PodIndex(string) []*kobject.Pod { return nil }

func (c *stockConn) EpIndex(k string) []*kobject.Endpoints { return c.eps[k] }

func (c *stockConn) EpIndexReverse(ip string) []*kobject.Endpoints { return c.rev[ip] }

func (c *stockConn) McEpIndex(string) []*kobject.MultiClusterEndpoints { return nil }

func (c *stockConn) GetNodeByName(context.Context, string) (*core.Node, error) { return nil, nil }

func (c *stockConn) GetNamespaceByName(n string) (*kobject.Namespace, error) {
	return &kobject.Namespace{Name: n}, nil
}

func (c *stockConn) Run() {}

func (c *stockConn) HasSynced() bool { return true }

func (c *stockConn) Stop() error { return nil }

func (c *stockConn) Modified(kubernetes.ModifiedMode) int64 { return 1 }
