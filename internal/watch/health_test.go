package watch

import (
	"context"
	"errors"
	"testing"
	"time"

	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	kwatch "k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// A failing watch turns stale once it has failed for StaleAfter, not
// before, and is current again on its next good call; the Watcher counts it.
func TestHealthStale(t *testing.T) {
	w := New(FromClient(fake.NewClientset()), []Spec{{Resource: "services"}, {Resource: "endpointslices"}}, Targets{}, Options{StaleAfter: time.Hour})
	defer w.Stop()
	h := &w.watches[1].health
	if _, stale := w.Stale(); stale {
		t.Fatal("stale before any call")
	}
	h.result(errors.New("connection refused"))
	failing := w.Health()[1]
	if failing.Up || failing.Stale || failing.FailingSince.IsZero() || failing.LastError != "connection refused" {
		t.Fatalf("after one failure: %+v", failing)
	}
	h.check(failing.FailingSince.Add(time.Hour - time.Second))
	if _, stale := w.Stale(); stale {
		t.Fatal("stale before StaleAfter")
	}
	h.check(failing.FailingSince.Add(time.Hour))
	got, stale := w.Stale()
	if !stale || got.Name != "endpointslices" || w.stale.Load() != 1 {
		t.Fatalf("after StaleAfter: %+v %v (count %d)", got, stale, w.stale.Load())
	}
	h.result(nil)
	if got := w.Health()[1]; !got.Up || got.Stale || !got.FailingSince.IsZero() || w.stale.Load() != 0 {
		t.Fatalf("after a good call: %+v (count %d)", got, w.stale.Load())
	}
}

// lwOf is a ListerWatcher whose watch calls return what watch does.
type lwOf struct {
	cache.ListerWatcher
	watch func() (kwatch.Interface, error)
}

func (l lwOf) Watch(meta.ListOptions) (kwatch.Interface, error) { return l.watch() }

// client-go answers a watch call whose connection keeps failing (reset,
// EOF) with no error and a watch that ends at once, once its retries run
// out: that call is a failure, a real watch a success.
func TestHealthEmptyWatch(t *testing.T) {
	w := New(FromClient(fake.NewClientset()), []Spec{{Resource: "services"}}, Targets{}, Options{StaleAfter: time.Hour})
	defer w.Stop()
	h := &w.watches[0].health
	lw := &observedLW{inner: lwOf{watch: func() (kwatch.Interface, error) { return kwatch.NewEmptyWatch(), nil }}, health: h}
	if _, err := lw.WatchWithContext(context.Background(), meta.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := w.Health()[0]; got.Up || got.FailingSince.IsZero() || got.LastError != errConnectionLost.Error() {
		t.Fatalf("after an empty watch: %+v", got)
	}
	lw.inner = lwOf{watch: func() (kwatch.Interface, error) { return kwatch.NewFake(), nil }}
	if _, err := lw.WatchWithContext(context.Background(), meta.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := w.Health()[0]; !got.Up || !got.FailingSince.IsZero() {
		t.Fatalf("after a real watch: %+v", got)
	}
}
