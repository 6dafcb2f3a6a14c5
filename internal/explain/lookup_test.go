package explain

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A lookup fetches a name once however often it is asked, remembers the
// answer, keeps to its rate, and its fetches end with Close.
func TestLookup(t *testing.T) {
	var calls atomic.Int32
	release := make(chan struct{})
	l := NewLookup(func(ctx context.Context, ns, name string) (*core.Service, error) {
		calls.Add(1)
		if name == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if name == "none" {
			return nil, nil
		}
		return &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name}}, nil
	})
	if s, known := l.Service("ns", "web", time.Second); !known || s == nil || s.Name != "web" {
		t.Fatalf("web: %v %v", s, known)
	}
	if s, known := l.Service("ns", "none", time.Second); !known || s != nil {
		t.Fatalf("none: %v %v", s, known)
	}
	for i := 0; i < 100; i++ {
		l.Service("ns", "web", 0)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d fetches for two names asked 102 times, want 2", n)
	}
	if _, known := l.Service("ns", "slow", 10*time.Millisecond); known {
		t.Error("slow: known before its fetch returned")
	}
	for i := 0; i < 50; i++ { // distinct names: the rate holds them back
		l.Service("ns", "n"+string(rune('a'+i)), 0)
	}
	if n := calls.Load(); n > 3+2*lookupRate {
		t.Errorf("%d fetches after a burst of 50 names, want at most the burst of %d", n, 2*lookupRate)
	}
	done := make(chan struct{})
	go func() { l.Close(); close(done) }()
	select {
	case <-done: // the slow fetch was cancelled
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("Close did not end a fetch under way")
	}
}
