package headless

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/kubernetes"
	"github.com/coredns/coredns/plugin/kubernetes/object"
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
				eps = append(eps, ep{ip: fmt.Sprintf("10.%d.%d.%d", len(name), i/250, i%250+1), host: fmt.Sprintf("%s-%d", name, i), zone: fmt.Sprintf("zone-%d", i%3)})
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

func (d *discard) LocalAddr() net.Addr       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (d *discard) RemoteAddr() net.Addr      { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000} }
func (d *discard) WriteMsg(m *dns.Msg) error { d.n += len(m.Answer); return nil }
func (d *discard) Write(b []byte) (int, error) {
	return len(b), nil
}
func (d *discard) Close() error        { return nil }
func (d *discard) TsigStatus() error   { return nil }
func (d *discard) TsigTimersOnly(bool) {}
func (d *discard) Hijack()             {}

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
	s1 := sliceFromAPI(benchObjects()[len(benchObjects())-1].(*discovery.EndpointSlice))
	s2 := sliceFromAPI(benchObjects()[len(benchObjects())-1].(*discovery.EndpointSlice))
	s2.Endpoints = append([]Endpoint(nil), s2.Endpoints...)
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
	svcs map[string][]*object.Service
	eps  map[string][]*object.Endpoints
	rev  map[string][]*object.Endpoints
}

func newStockConn(b *testing.B, objs []kruntime.Object) *stockConn {
	c := &stockConn{svcs: map[string][]*object.Service{}, eps: map[string][]*object.Endpoints{}, rev: map[string][]*object.Endpoints{}}
	for _, o := range objs {
		switch v := o.(type) {
		case *core.Service:
			s, err := object.ToService(v)
			if err != nil {
				b.Fatal(err)
			}
			svc := s.(*object.Service)
			c.svcs[svc.Index] = append(c.svcs[svc.Index], svc)
		case *discovery.EndpointSlice:
			e, err := object.EndpointSliceToEndpoints(v.DeepCopy())
			if err != nil {
				b.Fatal(err)
			}
			ep := e.(*object.Endpoints)
			c.eps[ep.Index] = append(c.eps[ep.Index], ep)
			for _, ip := range ep.IndexIP {
				c.rev[ip] = append(c.rev[ip], ep)
			}
		}
	}
	return c
}

func (c *stockConn) ServiceList() (l []*object.Service) {
	for _, s := range c.svcs {
		l = append(l, s...)
	}
	return l
}
func (c *stockConn) EndpointsList() (l []*object.Endpoints) {
	for _, e := range c.eps {
		l = append(l, e...)
	}
	return l
}
func (c *stockConn) ServiceImportList() []*object.ServiceImport                { return nil }
func (c *stockConn) SvcIndex(k string) []*object.Service                       { return c.svcs[k] }
func (c *stockConn) SvcIndexReverse(string) []*object.Service                  { return nil }
func (c *stockConn) SvcExtIndexReverse(string) []*object.Service               { return nil }
func (c *stockConn) SvcImportIndex(string) []*object.ServiceImport             { return nil }
func (c *stockConn) PodIndex(string) []*object.Pod                             { return nil }
func (c *stockConn) EpIndex(k string) []*object.Endpoints                      { return c.eps[k] }
func (c *stockConn) EpIndexReverse(ip string) []*object.Endpoints              { return c.rev[ip] }
func (c *stockConn) McEpIndex(string) []*object.MultiClusterEndpoints          { return nil }
func (c *stockConn) GetNodeByName(context.Context, string) (*core.Node, error) { return nil, nil }
func (c *stockConn) GetNamespaceByName(n string) (*object.Namespace, error) {
	return &object.Namespace{Name: n}, nil
}
func (c *stockConn) Run()                                   {}
func (c *stockConn) HasSynced() bool                        { return true }
func (c *stockConn) Stop() error                            { return nil }
func (c *stockConn) Modified(kubernetes.ModifiedMode) int64 { return 1 }

// BenchmarkIndexMemory builds the index of 1,000 headless Services × 100
// endpoints (100,000) and reports the live heap it holds, and the build time.
func BenchmarkIndexMemory(b *testing.B) {
	var svcs []*Service
	var sls []*Slice
	n := 0
	for s := 0; s < 1000; s++ {
		name := fmt.Sprintf("big-%d", s)
		svcs = append(svcs, &Service{ObjectMeta: headlessSvc("scale", name, nil).ObjectMeta, Headless: true})
		var eps []ep
		for i := 0; i < 100; i++ {
			n++
			eps = append(eps, ep{ip: fmt.Sprintf("10.%d.%d.%d", 128+n>>16, (n>>8)&255, n&255), host: fmt.Sprintf("%s-%d", name, i), target: fmt.Sprintf("%s-%d", name, i), zone: fmt.Sprintf("zone-%d", i%3)})
		}
		sls = append(sls, sliceFromAPI(slice("scale", name+"-0", name, discovery.AddressTypeIPv4, "", http80, eps...)))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ix := NewIndex(IndexOptions{Zones: []string{"cluster.local."}, TTL: 5})
		for _, s := range svcs {
			ix.UpdateService(s, false)
		}
		for _, s := range sls {
			ix.UpdateSlice(s, false, 0)
		}
		ix.Flush()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-live")
		runtime.KeepAlive(ix)
	}
}

// bigService is a 10,000-endpoint headless Service as the endpointslice
// controller writes it: 100 slices of 100, StatefulSet hostnames, 3 zones.
func bigService(n int) (*Service, []*Slice) {
	svc := &Service{ObjectMeta: headlessSvc("big", "db", nil).ObjectMeta, Headless: true, Selector: true}
	var out []*Slice
	for s := 0; s < n/100; s++ {
		var eps []ep
		for i := 0; i < 100; i++ {
			k := s*100 + i
			eps = append(eps, ep{ip: fmt.Sprintf("10.%d.%d.%d", 100+k/250/250, k/250%250, k%250+1), host: fmt.Sprintf("db-%d", k), zone: fmt.Sprintf("zone-%d", k%3)})
		}
		out = append(out, sliceFromAPI(slice("big", fmt.Sprintf("db-%03d", s), "db", discovery.AddressTypeIPv4, "", []pt{{"pg", "TCP", 5432}}, eps...)))
	}
	return svc, out
}

// bigIndex is a zonal index holding bigService(10000), published.
func bigIndex() (*Index, []*Slice) {
	ix := NewIndex(IndexOptions{Zones: []string{"cluster.local."}, TTL: 5, Zonal: true})
	svc, sls := bigService(10000)
	ix.UpdateService(svc, false)
	for _, s := range sls {
		ix.UpdateSlice(s, false, 0)
	}
	ix.Flush()
	return ix, sls
}

// BenchmarkChange10k is the cost of one endpoint's readiness flip in a
// 10,000-endpoint Service: from the slice update to the published answers.
func BenchmarkChange10k(b *testing.B) {
	ix, sls := bigIndex()
	flipped := *sls[37]
	flipped.Endpoints = append([]Endpoint(nil), flipped.Endpoints...)
	flipped.Endpoints[5].Ready = false
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ix.UpdateSlice(&flipped, false, 0)
		} else {
			ix.UpdateSlice(sls[37], false, 0)
		}
		ix.Flush()
	}
}

// BenchmarkFlipPublish is one publish as the 10,000-pod bench's flips
// bring them: the controller folds about 43 flips into each slice event.
// Each op flips 50 endpoints in each of slices slices (alternately to not
// ready and back) and publishes: 2 is what a read finds after an event or
// two, 24 what the 10 s settle period gathers at 100 flips a second. cold:
// 64 MiB are written before each op (outside the timer), as the process's
// caches are cold between events.
func BenchmarkFlipPublish(b *testing.B) {
	for _, bc := range []struct {
		slices int
		cold   bool
	}{{2, false}, {2, true}, {24, true}} {
		cold := bc.cold
		b.Run(fmt.Sprintf("slices=%d/cold=%v", bc.slices, cold), func(b *testing.B) {
			ix, sls := bigIndex()
			flipped := func(s *Slice) *Slice {
				c := *s
				c.Endpoints = append([]Endpoint(nil), s.Endpoints...)
				for i := 25; i < 75; i++ {
					c.Endpoints[i].Ready = false
				}
				return &c
			}
			var thrash []byte
			if cold {
				thrash = make([]byte, 64<<20)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if cold {
					b.StopTimer()
					for j := 0; j < len(thrash); j += 64 {
						thrash[j]++
					}
					b.StartTimer()
				}
				for j := 0; j < bc.slices; j++ {
					k := (i/2*7 + j*100/bc.slices) % 100
					if i%2 == 0 {
						ix.UpdateSlice(flipped(sls[k]), false, 0)
					} else {
						ix.UpdateSlice(sls[k], false, 0)
					}
				}
				ix.Flush()
			}
		})
	}
}

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
			eps = append(eps, ep{ip: fmt.Sprintf("10.%d.%d.%d", 100+k/250/250, k/250%250, k%250+1), host: fmt.Sprintf("db-%d", k),
				target: fmt.Sprintf("db-%d", k), zone: fmt.Sprintf("zone-%d", k%3), notReady: notReady(i)})
		}
		sl := slice("big", fmt.Sprintf("db-%03d", s), "db", discovery.AddressTypeIPv4, "", []pt{{"pg", "TCP", 5432}}, eps...)
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
			ix := NewIndex(IndexOptions{Zones: []string{"cluster.local."}, TTL: 5})
			w := newWatch(0, watchSpec{resource: "endpointslices"}, ix)
			ix.UpdateService(&Service{ObjectMeta: headlessSvc("big", "db", nil).ObjectMeta, Headless: true, Selector: true}, false)
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
				"EndpointNameNamespace": func(obj any) ([]string, error) { return []string{obj.(*object.Endpoints).Index}, nil },
				"EndpointsIP":           func(obj any) ([]string, error) { return obj.(*object.Endpoints).IndexIP, nil },
			})
			svc := []*object.Service{{Name: "db", Namespace: "big", ClusterIPs: []string{core.ClusterIPNone}}}
			rec := &object.EndpointLatencyRecorder{ServiceFunc: func(meta.Object) []*object.Service { return svc }}
			process := object.DefaultProcessor(object.EndpointSliceToEndpoints, rec)(idx, cache.ResourceEventHandlerFuncs{})
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
