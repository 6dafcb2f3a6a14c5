package watch

import (
	"fmt"
	"testing"
	"time"

	kobject "github.com/coredns/coredns/plugin/kubernetes/object"
	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

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
		var eps []objecttest.EP
		for i := 0; i < 100; i++ {
			k := s*100 + i
			eps = append(eps, objecttest.EP{IP: fmt.Sprintf("10.%d.%d.%d", 100+k/250/250, k/250%250, k%250+1), Host: fmt.Sprintf("db-%d", k),
				Target: fmt.Sprintf("db-%d", k), Zone: fmt.Sprintf("zone-%d", k%3), NotReady: notReady(i)})
		}
		sl := objecttest.Slice("big", fmt.Sprintf("db-%03d", s), "db", discovery.AddressTypeIPv4, "", []objecttest.PT{{Name: "pg", Proto: "TCP", Port: 5432}}, eps...)
		sl.Annotations = map[string]string{object.AnnotationTriggerTime: trigger}
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
			w := newStore(0, Spec{Resource: "endpointslices"}, Targets{Index: ix}, Hooks{})
			ix.UpdateService(&object.Service{ObjectMeta: objecttest.HeadlessService("big", "db", nil).ObjectMeta, Headless: true, Selector: true}, false)
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
