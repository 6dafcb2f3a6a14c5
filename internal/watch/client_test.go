package watch

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// apiserver_max_inflight: at most N requests wait for their headers at
// once; apiserver_qps and _burst reach the config; tls replaces its files.
func TestClientLimits(t *testing.T) {
	// apiserver_max_inflight: at most N requests wait for their headers at once
	var now, most atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		now.Add(-1)
	}))
	defer srv.Close()
	rc := &rest.Config{Host: srv.URL}
	Client{QPS: 7, Burst: 9, MaxInflight: 2}.apply(rc)
	if rc.QPS != 7 || rc.Burst != 9 {
		t.Errorf("qps %v burst %v", rc.QPS, rc.Burst)
	}
	hc, err := rest.HTTPClientFor(rc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, err := hc.Get(srv.URL); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); now.Load() != 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d requests in flight, want 2", now.Load())
		}
	}
	time.Sleep(100 * time.Millisecond) // the other three have had the time to exceed the limit, were there none
	close(release)
	wg.Wait()
	if most.Load() != 2 {
		t.Errorf("%d requests at once, want 2", most.Load())
	}
	// tls replaces the config's certificate, key and CA
	rc = &rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: []byte("x")}}
	Client{CertFile: "c", KeyFile: "k", CAFile: "ca"}.apply(rc)
	if rc.CertFile != "c" || rc.KeyFile != "k" || rc.CAFile != "ca" || rc.CAData != nil {
		t.Errorf("tls config %+v", rc.TLSClientConfig)
	}
}
