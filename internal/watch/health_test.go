package watch

import (
	"errors"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"
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
