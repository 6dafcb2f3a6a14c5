package headless

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/kubernetes"
	kobject "github.com/coredns/coredns/plugin/kubernetes/object"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	kruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
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

// BenchmarkRebuild is the cost of one slice change on the 1,000-endpoint
// Service: the whole Service's record sets are rebuilt and published.
func BenchmarkRebuild(b *testing.B) {
	h, _ := start(b, config{}, benchObjects()...)
	ix := h.index
	s1 := object.SliceFromAPI(benchObjects()[len(benchObjects())-1].(*discovery.EndpointSlice))
	s2 := object.SliceFromAPI(benchObjects()[len(benchObjects())-1].(*discovery.EndpointSlice))
	s2.Endpoints = append([]object.Endpoint(nil), s2.Endpoints...)
	s2.Endpoints[0].Ready = false
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ix.UpdateSlice(s2, false, 0)
		} else {
			ix.UpdateSlice(s1, false, 0)
		}
		ix.Flush()
	}
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

// BenchmarkFlipEvent is what one readiness flip in a 10,000-endpoint Service
// (100 slices of 100) costs CoreDNS after the watch decoded it (the decode
// is the same for both): ours takes the event in (transform, store, index)
// and publishes once per 100 events (the settle period at 100 flips a
// second); stock runs its informer's process function (convert, indexer
// update with its name and IP indexes, latency recorder), without its
// DeltaFIFO and event handler, which only add to stock's side. Two orders:
// run, the flips walk the endpoints in order (a rollout: 100 events in a
// row change one slice, what the 10,000-pod bench does), and spread, each
// event changes another slice (every publish derives 100 slices again: the
// worst case for ours).
func BenchmarkFlipEvent(b *testing.B) {
	const nSlices = 100
	trigger := time.Now().UTC().Format(time.RFC3339Nano)
	mk := func(s int, notReady func(i int) bool) *discovery.EndpointSlice {
		var eps []ep
		for i := 0; i < 100; i++ {
			k := s*100 + i
			eps = append(eps, ep{IP: fmt.Sprintf("10.%d.%d.%d", 100+k/250/250, k/250%250, k%250+1), Host: fmt.Sprintf("db-%d", k),
				Target: fmt.Sprintf("db-%d", k), Zone: fmt.Sprintf("zone-%d", k%3), NotReady: notReady(i)})
		}
		sl := slice("big", fmt.Sprintf("db-%03d", s), "db", discovery.AddressTypeIPv4, "", []pt{{Name: "pg", Proto: "TCP", Port: 5432}}, eps...)
		sl.Annotations = map[string]string{annotationTriggerTime: trigger}
		return sl
	}
	// event i: which slice, and its endpoints' readiness after it
	orders := map[string]func(i int) (int, func(k int) bool){
		"run": func(i int) (int, func(k int) bool) {
			j, odd := i%100, (i/(100*nSlices))%2 == 1
			return (i / 100) % nSlices, func(k int) bool { return (k <= j) != odd }
		},
		"spread": func(i int) (int, func(k int) bool) {
			s, odd := i%nSlices, (i/nSlices)%2 == 1
			return s, func(k int) bool { return k == s%100 && !odd }
		},
	}
	// each event a fresh object, as the decode makes it (stock's convert
	// clears the object it is given): made in batches outside the timer
	var batch []*discovery.EndpointSlice
	next := func(b *testing.B, order string, i int) *discovery.EndpointSlice {
		if i%1000 == 0 {
			b.StopTimer()
			batch = batch[:0]
			for j := i; j < i+1000; j++ {
				s, nr := orders[order](j)
				o := mk(s, nr)
				o.ResourceVersion = fmt.Sprint(j + 1000)
				batch = append(batch, o)
			}
			b.StartTimer()
		}
		return batch[i%1000]
	}
	allReady := func(int) bool { return false }
	for _, order := range []string{"run", "spread"} {
		b.Run("ours/"+order, func(b *testing.B) {
			ix := index.New(index.Options{Zones: []string{"cluster.local."}, TTL: 5})
			w := newWatch(0, watchSpec{resource: "endpointslices"}, targets{index: ix})
			ix.UpdateService(&object.Service{ObjectMeta: headlessSvc("big", "db", nil).ObjectMeta, Headless: true, Selector: true}, false)
			list := make([]any, nSlices)
			for s := range list {
				list[s] = mk(s, allReady)
			}
			if err := w.Replace(list, ""); err != nil {
				b.Fatal(err)
			}
			ix.MarkSynced()
			ix.Flush()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := w.Update(next(b, order, i)); err != nil {
					b.Fatal(err)
				}
				if i%100 == 99 {
					ix.Flush()
				}
			}
		})
		b.Run("stock/"+order, func(b *testing.B) {
			idx := cache.NewIndexer(cache.DeletionHandlingMetaNamespaceKeyFunc, cache.Indexers{
				"EndpointNameNamespace": func(obj any) ([]string, error) { return []string{obj.(*kobject.Endpoints).Index}, nil },
				"EndpointsIP":           func(obj any) ([]string, error) { return obj.(*kobject.Endpoints).IndexIP, nil },
			})
			svc := []*kobject.Service{{Name: "db", Namespace: "big", ClusterIPs: []string{core.ClusterIPNone}}}
			rec := &kobject.EndpointLatencyRecorder{ServiceFunc: func(meta.Object) []*kobject.Service { return svc }}
			process := kobject.DefaultProcessor(kobject.EndpointSliceToEndpoints, rec)(idx, cache.ResourceEventHandlerFuncs{})
			for s := 0; s < nSlices; s++ {
				if err := process(cache.Deltas{{Type: cache.Sync, Object: mk(s, allReady)}}, true); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := process(cache.Deltas{{Type: cache.Updated, Object: next(b, order, i)}}, false); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
