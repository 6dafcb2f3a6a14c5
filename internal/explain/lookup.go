package explain

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	core "k8s.io/api/core/v1"
)

// Getter fetches one Service by namespace and name: (nil, nil) when there
// is none.
type Getter func(ctx context.Context, namespace, name string) (*core.Service, error)

// Lookup learns about Services the watches do not bring (ClusterIP and
// ExternalName Services, Services the labels option leaves out): never one
// request to the API server per DNS query, but a fetch on first need,
// remembered for lookupTTL, at most lookupRate fetches a second, one at a
// time per name, in the background. Its goroutines end with Close.
type Lookup struct {
	get  Getter
	lim  *rate.Limiter
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	gen atomic.Uint64 // answers learnt so far

	mu       sync.Mutex
	known    map[string]fetched       // namespace/name -> the last answer
	inflight map[string]chan struct{} // closed when the fetch ends
}

type fetched struct {
	svc *core.Service // nil: no such Service
	err error
	at  time.Time
}

const (
	lookupTTL   = 30 * time.Second
	lookupRate  = 5 // fetches a second, with a burst of 10
	lookupMax   = 10000
	lookupBound = 2 * time.Second // one fetch's time limit
)

// NewLookup returns a lookup through get.
func NewLookup(get Getter) *Lookup {
	ctx, cancel := context.WithCancel(context.Background())
	return &Lookup{get: get, lim: rate.NewLimiter(lookupRate, 2*lookupRate), ctx: ctx, stop: cancel,
		known: map[string]fetched{}, inflight: map[string]chan struct{}{}}
}

// Close ends every fetch under way and waits for it.
func (l *Lookup) Close() {
	l.stop()
	l.wg.Wait()
}

// Service returns what is known of namespace/name: the Service, or nil
// when there is none; known is false when nothing has been learnt yet (a
// fetch is then started, if the rate allows, and waited for up to wait).
func (l *Lookup) Service(namespace, name string, wait time.Duration) (svc *core.Service, known bool) {
	key := namespace + "/" + name
	l.mu.Lock()
	f, had := l.known[key]
	done := l.inflight[key]
	stale := !had || time.Since(f.at) > lookupTTL || (f.err != nil && time.Since(f.at) > time.Second)
	if stale && done == nil && l.ctx.Err() == nil && l.lim.Allow() {
		done = make(chan struct{})
		l.inflight[key] = done
		l.wg.Add(1)
		go l.fetch(key, namespace, name, done)
	}
	l.mu.Unlock()
	if had && f.err == nil {
		return f.svc, true // (while a newer one is fetched)
	}
	if done == nil || wait <= 0 {
		return nil, false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		return nil, false
	}
	l.mu.Lock()
	f, had = l.known[key]
	l.mu.Unlock()
	return f.svc, had && f.err == nil
}

func (l *Lookup) fetch(key, namespace, name string, done chan struct{}) {
	defer l.wg.Done()
	ctx, cancel := context.WithTimeout(l.ctx, lookupBound)
	svc, err := l.get(ctx, namespace, name)
	cancel()
	l.mu.Lock()
	if len(l.known) >= lookupMax {
		clear(l.known)
	}
	l.known[key] = fetched{svc: svc, err: err, at: time.Now()}
	delete(l.inflight, key)
	l.gen.Add(1)
	l.mu.Unlock()
	close(done)
}
