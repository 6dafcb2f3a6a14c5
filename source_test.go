package headless

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The API server is asked for gzip only with the compression option: by
// default lists and watches come as plain protobuf (inflating a gzip stream
// cost as much as decoding it).
func TestSourceCompression(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Accept-Encoding"))
		mu.Unlock()
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	for _, c := range []struct {
		compression bool
		want        string
	}{{false, ""}, {true, "gzip"}} {
		mu.Lock()
		got = nil
		mu.Unlock()
		src, err := sourceFor(config{endpoint: srv.URL, compression: c.compression})
		if err != nil {
			t.Fatal(err)
		}
		lw := src.ListerWatcher(watchSpec{resource: "endpointslices"})
		if _, err := lw.List(meta.ListOptions{}); err == nil {
			t.Fatal("the list did not fail")
		}
		mu.Lock()
		if len(got) == 0 {
			t.Fatalf("compression %v: no request reached the server", c.compression)
		}
		for _, h := range got {
			if h != c.want {
				t.Errorf("compression %v: Accept-Encoding %q, want %q", c.compression, h, c.want)
			}
		}
		mu.Unlock()
	}
}
