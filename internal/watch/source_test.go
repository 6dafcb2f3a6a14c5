package watch

import (
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
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
		src, err := FromAPI(Client{Endpoint: srv.URL, Compression: c.compression})
		if err != nil {
			t.Fatal(err)
		}
		lw := src.ListerWatcher(Spec{Resource: "endpointslices"})
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

// TestSourceReadsSlices: the EndpointSlice watch of an API source gets its
// slices read by our decoder (Slices, not API objects) through client-go's
// watch stream, and anything else (an error Status, a list) as before.
func TestSourceReadsSlices(t *testing.T) {
	es := objecttest.Slice("big", "db-1", "db", discovery.AddressTypeIPv4, "", []objecttest.PT{{Name: "pg", Proto: "TCP", Port: 5432}}, objecttest.EP{IP: "10.0.0.1", Host: "db-0"})
	es.ResourceVersion = "7"
	status := &meta.Status{Status: meta.StatusFailure, Code: 410, Reason: meta.StatusReasonExpired, Message: "too old"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" {
			w.Header().Set("Content-Type", runtime.ContentTypeProtobuf)
			w.Write(objecttest.Protobuf(t, &discovery.EndpointSliceList{ListMeta: meta.ListMeta{ResourceVersion: "7"}, Items: []discovery.EndpointSlice{*es}}))
			return
		}
		w.Header().Set("Content-Type", runtime.ContentTypeProtobuf+";stream=watch")
		for _, ev := range []meta.WatchEvent{
			{Type: "ADDED", Object: runtime.RawExtension{Raw: objecttest.Protobuf(t, es)}},
			{Type: "ERROR", Object: runtime.RawExtension{Raw: objecttest.Protobuf(t, status)}},
		} {
			b, err := ev.Marshal()
			if err != nil {
				t.Error(err)
				return
			}
			w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
			w.Write(b)
		}
	}))
	defer srv.Close()
	src, err := FromAPI(Client{Endpoint: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	lw := src.ListerWatcher(Spec{Resource: "endpointslices"})
	list, err := lw.List(meta.ListOptions{})
	if l, ok := list.(*discovery.EndpointSliceList); err != nil || !ok || len(l.Items) != 1 {
		t.Fatalf("list: %T %v", list, err)
	}
	w, err := lw.Watch(meta.ListOptions{ResourceVersion: "7"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	ev := <-w.ResultChan()
	if s, ok := ev.Object.(*object.Slice); ev.Type != "ADDED" || !ok || s.ResourceVersion != "7" || s.Service != "db" || len(s.Endpoints) != 1 || s.Endpoints[0].Hostname != "db-0" {
		t.Fatalf("first event: %s %T %+v", ev.Type, ev.Object, ev.Object)
	}
	ev = <-w.ResultChan()
	if s, ok := ev.Object.(*meta.Status); ev.Type != "ERROR" || !ok || s.Code != 410 {
		t.Fatalf("second event: %s %T %+v", ev.Type, ev.Object, ev.Object)
	}
}
