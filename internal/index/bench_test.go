package index

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	discovery "k8s.io/api/discovery/v1"
)

// BenchmarkIndexMemory builds the index of 1,000 headless Services × 100
// endpoints (100,000) and reports the live heap it holds, and the build time.
func BenchmarkIndexMemory(b *testing.B) {
	var svcs []*object.Service
	var sls []*object.Slice
	n := 0
	for s := 0; s < 1000; s++ {
		name := fmt.Sprintf("big-%d", s)
		svcs = append(svcs, &object.Service{ObjectMeta: objecttest.HeadlessService("scale", name, nil).ObjectMeta, Headless: true})
		var eps []objecttest.EP
		for i := 0; i < 100; i++ {
			n++
			eps = append(eps, objecttest.EP{IP: fmt.Sprintf("10.%d.%d.%d", 128+n>>16, (n>>8)&255, n&255), Host: fmt.Sprintf("%s-%d", name, i), Target: fmt.Sprintf("%s-%d", name, i), Zone: fmt.Sprintf("zone-%d", i%3)})
		}
		sls = append(sls, object.SliceFromAPI(objecttest.Slice("scale", name+"-0", name, discovery.AddressTypeIPv4, "", objecttest.HTTP80, eps...)))
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ix := New(Options{Zones: []string{"cluster.local."}, TTL: 5})
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
func bigService(n int) (*object.Service, []*object.Slice) {
	svc := &object.Service{ObjectMeta: objecttest.HeadlessService("big", "db", nil).ObjectMeta, Headless: true, Selector: true}
	var out []*object.Slice
	for s := 0; s < n/100; s++ {
		var eps []objecttest.EP
		for i := 0; i < 100; i++ {
			k := s*100 + i
			eps = append(eps, objecttest.EP{IP: fmt.Sprintf("10.%d.%d.%d", 100+k/250/250, k/250%250, k%250+1), Host: fmt.Sprintf("db-%d", k), Zone: fmt.Sprintf("zone-%d", k%3)})
		}
		out = append(out, object.SliceFromAPI(objecttest.Slice("big", fmt.Sprintf("db-%03d", s), "db", discovery.AddressTypeIPv4, "", []objecttest.PT{{Name: "pg", Proto: "TCP", Port: 5432}}, eps...)))
	}
	return svc, out
}

// bigIndex is a zonal index holding bigService(10000), published.
func bigIndex() (*Index, []*object.Slice) {
	ix := New(Options{Zones: []string{"cluster.local."}, TTL: 5, Zonal: true})
	svc, sls := bigService(10000)
	ix.UpdateService(svc, false)
	for _, s := range sls {
		ix.UpdateSlice(s, false, 0)
	}
	ix.Flush()
	return ix, sls
}

// BenchmarkChange10k is the cost of one endpoint's readiness flip in a
// 10,000-endpoint Service: from the objecttest.Slice update to the published answers.
func BenchmarkChange10k(b *testing.B) {
	ix, sls := bigIndex()
	flipped := *sls[37]
	flipped.Endpoints = append([]object.Endpoint(nil), flipped.Endpoints...)
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
// bring them: the controller folds about 43 flips into each objecttest.Slice event.
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
			flipped := func(s *object.Slice) *object.Slice {
				c := *s
				c.Endpoints = append([]object.Endpoint(nil), s.Endpoints...)
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

// BenchmarkRebuild is the cost of one slice change on a 1,000-endpoint
// Service: the whole Service's record sets are rebuilt and published.
func BenchmarkRebuild(b *testing.B) {
	ix := New(Options{Zones: []string{"cluster.local."}, TTL: 5})
	svc, sls := bigService(1000)
	ix.UpdateService(svc, false)
	for _, s := range sls {
		ix.UpdateSlice(s, false, 0)
	}
	ix.MarkSynced()
	ix.Flush()
	s1 := sls[len(sls)-1]
	s2 := *s1
	s2.Endpoints = append([]object.Endpoint(nil), s1.Endpoints...)
	s2.Endpoints[0].Ready = false
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			ix.UpdateSlice(&s2, false, 0)
		} else {
			ix.UpdateSlice(s1, false, 0)
		}
		ix.Flush()
	}
}
