package object

import (
	"bytes"
	"fmt"
	"io"
	golog "log"
	"maps"
	"math/rand"
	"os"
	"reflect"
	"strings"
	"testing"
	"unsafe"

	"github.com/headlessdns/headless/internal/object/objecttest"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

// randomSlice makes an EndpointSlice with a bit of everything the reader
// and the validation meet: absent and empty fields, invalid names,
// addresses and ports, IPv6 written non-canonically, hints, fields the index
// never reads.
func randomSlice(r *rand.Rand) *discovery.EndpointSlice {
	pick := func(vs ...string) string { return vs[r.Intn(len(vs))] }
	maybe := func(vs ...string) *string {
		if r.Intn(4) == 0 {
			return nil
		}
		s := pick(vs...)
		return &s
	}
	tf := func() *bool {
		switch r.Intn(3) {
		case 0:
			return nil
		case 1:
			return &yes
		}
		return &no
	}
	t := true
	es := &discovery.EndpointSlice{
		ObjectMeta: meta.ObjectMeta{Name: pick("db-abcde", "x", ""), GenerateName: "db-", Namespace: pick("big", "ns-2", ""),
			ResourceVersion: fmt.Sprint(r.Intn(1e6)), UID: types.UID(pick("", "0b6b0f4e-2b7a-4b8c-9d2e-0123456789ab")), Generation: r.Int63n(100),
			OwnerReferences: []meta.OwnerReference{{APIVersion: "v1", Kind: "Service", Name: "db", UID: "u", Controller: &t}},
			ManagedFields:   []meta.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", FieldsType: "FieldsV1", FieldsV1: &meta.FieldsV1{Raw: []byte(`{"f:endpoints":{}}`)}}},
			Finalizers:      []string{"f"}},
		AddressType: discovery.AddressType(pick("IPv4", "IPv6", "FQDN", "", "ipv4")),
	}
	if r.Intn(5) > 0 {
		es.Labels = map[string]string{LabelManagedBy: ManagerController}
		if r.Intn(6) > 0 {
			es.Labels[LabelServiceName] = pick("db", "web", "Bad_Name", "")
		}
		if r.Intn(2) == 0 {
			es.Labels[LabelHeadless] = ""
		}
	}
	if r.Intn(2) == 0 {
		es.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-26T07:04:05Z", "other": pick("", "v")}
	}
	for i := r.Intn(4); i > 0; i-- {
		p := discovery.EndpointPort{Name: maybe("pg", "http", "", "Bad_Port", "pg"), Port: nil}
		if r.Intn(4) > 0 {
			port := []int32{5432, 80, 0, -1, 70000}[r.Intn(5)]
			p.Port = &port
		}
		if r.Intn(4) > 0 {
			proto := core.Protocol(pick("TCP", "UDP", "SCTP", "", "tcp"))
			p.Protocol = &proto
		}
		if r.Intn(3) == 0 {
			p.AppProtocol = maybe("http")
		}
		es.Ports = append(es.Ports, p)
	}
	for i := r.Intn(40); i > 0; i-- {
		e := discovery.Endpoint{
			Conditions: discovery.EndpointConditions{Ready: tf(), Serving: tf(), Terminating: tf()},
			Hostname:   maybe(fmt.Sprintf("db-%d", r.Intn(50)), "", "Bad_Host", strings.Repeat("a", 64)),
			NodeName:   maybe(fmt.Sprintf("node-%d", r.Intn(5)), fmt.Sprintf("node-%d", r.Int()), ""), // new ones too: the interner
			Zone:       maybe("zone-a", "Zone-B", "", fmt.Sprintf("zone-%d", r.Int())),                // must keep copies of its own
		}
		for j := r.Intn(3); j >= 0; j-- {
			e.Addresses = append(e.Addresses, pick(fmt.Sprintf("10.1.%d.%d", r.Intn(3), r.Intn(250)+1), "fd00::1", "FD00::0001", "010.1.1.1", "not-an-ip", "", "::ffff:10.1.1.1"))
		}
		if r.Intn(3) > 0 {
			e.TargetRef = &core.ObjectReference{Kind: "Pod", Namespace: "big", UID: "u"}
			if r.Intn(5) > 0 {
				e.TargetRef.Name = pick(deref(e.Hostname), "pod-x", "Bad_Pod", strings.Repeat("p", 64))
			}
		}
		if r.Intn(3) == 0 {
			e.Hints = &discovery.EndpointHints{}
			for j := r.Intn(3); j > 0; j-- {
				e.Hints.ForZones = append(e.Hints.ForZones, discovery.ForZone{Name: pick("zone-a", "Zone-B", "", fmt.Sprintf("zone-%d", r.Int()))})
			}
			for j := r.Intn(2); j > 0; j-- {
				e.Hints.ForNodes = append(e.Hints.ForNodes, discovery.ForNode{Name: pick("node-1", "")})
			}
		}
		if r.Intn(5) == 0 {
			e.DeprecatedTopology = map[string]string{"k": "v"}
		}
		es.Endpoints = append(es.Endpoints, e)
	}
	return es
}

// typedDecoder is the decoder the EndpointSlice client would have without
// ours.
func typedDecoder() runtime.Decoder {
	ns := rest.CodecFactoryForGeneratedClient(scheme.Scheme, scheme.Codecs).WithoutConversion()
	info, _ := runtime.SerializerInfoForMediaType(ns.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	return ns.DecoderToVersion(info.Serializer, nil)
}

// decodeBoth reads es's protobuf with ours (codec: its earlier versions)
// and checks it against the generated decoder + SliceFromAPI, after
// overwriting the bytes (what ours kept of them would change with them).
func decodeBoth(t *testing.T, typed runtime.Decoder, es *discovery.EndpointSlice, codec *Codec, i int) *Slice {
	t.Helper()
	data := objecttest.Protobuf(t, es)
	obj, _, err := typed.Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := decodeSlice(data, codec)
	if got == nil {
		t.Fatalf("case %d: not read", i)
	}
	for j := range data {
		data[j] = 'X'
	}
	want := SliceFromAPI(obj.(*discovery.EndpointSlice))
	sums := got.sums
	if got.sums = nil; !reflect.DeepEqual(got, want) {
		t.Fatalf("case %d:\n got %+v\nwant %+v", i, got, want)
	}
	got.sums = sums
	return got
}

// TestDecodeSlice: a objecttest.Slice read straight from the wire is the Slice the
// generated decoder and SliceFromAPI make of the same bytes, and keeps
// nothing of those bytes.
func TestDecodeSlice(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	typed := typedDecoder()
	for i := 0; i < 3000; i++ {
		decodeBoth(t, typed, randomSlice(r), nil, i)
	}
}

// TestDecodeSliceReuse: a slice read with an earlier version in the memo
// takes that version's Endpoints for the endpoints whose bytes did not
// change, and is still exactly what the generated decoder and SliceFromAPI
// make of its bytes; the reused endpoints' addresses are copied into its own
// array.
func TestDecodeSliceReuse(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	typed := typedDecoder()
	reused := 0
	for i := 0; i < 2000; i++ {
		memo := NewCodec()
		es := randomSlice(r)
		prev := decodeSlice(objecttest.Protobuf(t, es), memo)
		memo.Remember(es.Namespace+"/"+es.Name, prev, false)
		// the next version: an endpoint flips, one goes, one comes, or the
		// address type changes
		next := es.DeepCopy()
		if n := len(next.Endpoints); n > 0 {
			k := r.Intn(n)
			switch r.Intn(5) {
			case 0, 1:
				ready := !condition(next.Endpoints[k].Conditions.Ready, true)
				next.Endpoints[k].Conditions.Ready = &ready
			case 2:
				next.Endpoints = append(next.Endpoints[:k], next.Endpoints[k+1:]...)
			case 3:
				next.Endpoints = append(next.Endpoints, randomSlice(r).Endpoints...)
			case 4:
				next.AddressType = discovery.AddressType(map[bool]string{true: "IPv6", false: "IPv4"}[next.AddressType == "IPv4"])
			}
		}
		got := decodeBoth(t, typed, next, memo, i)
		for k := range got.Endpoints {
			e := &got.Endpoints[k]
			if k > 0 {
				p := &got.Endpoints[k-1]
				if unsafe.Pointer(&e.Addrs[0]) != unsafe.Add(unsafe.Pointer(&p.Addrs[0]), len(p.Addrs)*int(unsafe.Sizeof(e.Addrs[0]))) {
					t.Fatalf("case %d: endpoint %d's addresses are not in the objecttest.Slice's own array", i, k)
				}
			}
			for _, pe := range prev.Endpoints {
				if pe.Hostname != "" && unsafe.StringData(pe.Hostname) == unsafe.StringData(e.Hostname) {
					reused++
					break
				}
			}
		}
	}
	if reused < 300 {
		t.Fatalf("%d endpoints reused in random slices: the memo is not used", reused)
	}
	// a StatefulSet's objecttest.Slice after one flip: 99 of its 100 endpoints reused
	memo := NewCodec()
	es := stsSlice()
	prev := decodeSlice(objecttest.Protobuf(t, es), memo)
	memo.Remember(es.Namespace+"/"+es.Name, prev, false)
	es.Endpoints[43].Conditions.Ready = &no
	got := decodeSlice(objecttest.Protobuf(t, es), memo)
	n := 0
	for k := range got.Endpoints {
		if unsafe.StringData(got.Endpoints[k].Hostname) == unsafe.StringData(prev.Endpoints[k].Hostname) {
			n++
		}
	}
	if n != 99 || got.Endpoints[43].Ready || !prev.Endpoints[43].Ready {
		t.Fatalf("after one flip: %d of 100 endpoints reused, ready %v (was %v)", n, got.Endpoints[43].Ready, prev.Endpoints[43].Ready)
	}
}

// TestSliceDecoder: the client's decoder reads a watch event's objecttest.Slice itself
// and hands everything else to the generated decoder.
func TestSliceDecoder(t *testing.T) {
	ns := NewCodec().Serializer(rest.CodecFactoryForGeneratedClient(scheme.Scheme, scheme.Codecs).WithoutConversion())
	info, _ := runtime.SerializerInfoForMediaType(ns.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	d := ns.DecoderToVersion(info.Serializer, nil)
	es := objecttest.Slice("big", "db-1", "db", discovery.AddressTypeIPv4, "", []objecttest.PT{{Name: "pg", Proto: "TCP", Port: 5432}}, objecttest.EP{IP: "10.0.0.1", Host: "db-0"})
	data := objecttest.Protobuf(t, es)
	obj, gvk, err := d.Decode(data, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := obj.(*Slice); !ok || s.Name != "db-1" || len(s.Endpoints) != 1 || s.Endpoints[0].Hostname != "db-0" || *gvk != sliceGVK {
		t.Fatalf("watch object: %T %+v %v", obj, obj, gvk)
	}
	// into a type of its own (a Get): the generated code
	into := &discovery.EndpointSlice{}
	if obj, _, err := d.Decode(data, nil, into); err != nil || obj != into || into.Name != "db-1" {
		t.Fatalf("into: %v %T", err, obj)
	}
	// a list, a watch's error Status: the generated code
	for _, o := range []runtime.Object{
		&discovery.EndpointSliceList{Items: []discovery.EndpointSlice{*es}},
		&meta.Status{Status: meta.StatusFailure, Code: 410, Reason: meta.StatusReasonExpired, Message: "too old"},
	} {
		got, _, err := d.Decode(objecttest.Protobuf(t, o), nil, nil)
		if err != nil || reflect.TypeOf(got) != reflect.TypeOf(o) {
			t.Fatalf("%T: got %T, %v", o, got, err)
		}
	}
	// malformed: what the generated code says of it
	for _, bad := range [][]byte{data[:len(data)-3], append(append([]byte{}, protobufMagic...), 0x0a, 0x05, 0x0a)} {
		if _, _, err := d.Decode(bad, nil, nil); err == nil {
			t.Fatalf("%q: no error", bad)
		}
	}
}

// FuzzDecodeSlice: whatever the bytes, the reader does not crash, and what
// it reads of bytes the generated decoder accepts is what that decoder and
// SliceFromAPI make of them.
//
// Why the engine used to stall at 0 execs/s: every new interesting input is
// minimized, for up to -fuzzminimizetime (60 s) per worker, and no exec is
// reported meanwhile. Under the engine an exec cost about 1.3 ms (776/s;
// 15,000/s uninstrumented): the binary links k8s.io/api and apimachinery,
// 233,101 coverage counters, all instrumented, and the seeds were 2.5 KB
// slices of up to 40 endpoints with managed fields, so minimizing one took
// the whole minute, and with every worker minimizing nothing moved. The
// seeds are now small (at most 3 endpoints, no managed fields: the
// mutations grow them) and the invalid-object log, a line per mutated
// revision, is discarded.
func FuzzDecodeSlice(f *testing.F) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 20; i++ {
		es := randomSlice(r)
		es.ManagedFields = nil
		es.Endpoints = es.Endpoints[:min(len(es.Endpoints), 3)]
		f.Add(objecttest.Protobuf(f, es))
	}
	typed := typedDecoder()
	golog.SetOutput(io.Discard)
	f.Cleanup(func() { golog.SetOutput(os.Stderr) })
	f.Fuzz(func(t *testing.T, data []byte) {
		got := decodeSlice(bytes.Clone(data), nil)
		obj, _, err := typed.Decode(data, nil, nil)
		if got == nil || err != nil {
			return
		}
		es, ok := obj.(*discovery.EndpointSlice)
		if !ok {
			t.Fatalf("read a %T as a objecttest.Slice", obj)
		}
		if got.sums = nil; !reflect.DeepEqual(got, SliceFromAPI(es)) {
			t.Fatalf("\n got %+v\nwant %+v", got, SliceFromAPI(es))
		}
	})
}

// stsSlice is a objecttest.Slice of 100 endpoints as the endpointslice controller
// writes it for a StatefulSet.
func stsSlice() *discovery.EndpointSlice {
	es := objecttest.Slice("big", "db-abcde", "db", discovery.AddressTypeIPv4, "", []objecttest.PT{{Name: "pg", Proto: "TCP", Port: 5432}})
	es.Annotations = map[string]string{"endpoints.kubernetes.io/last-change-trigger-time": "2026-11-26T07:04:05Z"}
	es.ManagedFields = []meta.ManagedFieldsEntry{{Manager: "kube-controller-manager", Operation: "Update", FieldsType: "FieldsV1", FieldsV1: &meta.FieldsV1{Raw: []byte(`{"f:addressType":{},"f:endpoints":{},"f:metadata":{"f:annotations":{".":{},"f:endpoints.kubernetes.io/last-change-trigger-time":{}},"f:labels":{".":{}}},"f:ports":{}}`)}}}
	for i := 0; i < 100; i++ {
		ready := i%7 != 0
		es.Endpoints = append(es.Endpoints, discovery.Endpoint{
			Addresses:  []string{fmt.Sprintf("10.1.%d.%d", i/250, i%250+1)},
			Conditions: discovery.EndpointConditions{Ready: &ready, Serving: &ready, Terminating: &no},
			Hostname:   ptr(fmt.Sprintf("db-%d", i)),
			TargetRef:  &core.ObjectReference{Kind: "Pod", Namespace: "big", Name: fmt.Sprintf("db-%d", i), UID: types.UID(fmt.Sprintf("0b6b0f4e-2b7a-4b8c-9d2e-%012d", i))},
			NodeName:   ptr(fmt.Sprintf("node-%d", i%10)),
			Zone:       ptr(fmt.Sprintf("zone-%d", i%3)),
			Hints:      &discovery.EndpointHints{ForZones: []discovery.ForZone{{Name: fmt.Sprintf("zone-%d", i%3)}}},
		})
	}
	return es
}

// BenchmarkDecodeSlice: one 100-endpoint objecttest.Slice as a StatefulSet's
// controller writes it, read from its protobuf by ours and by the generated
// decoder (with SliceFromAPI after it: what the watch did before).
func BenchmarkDecodeSlice(b *testing.B) {
	es := stsSlice()
	data := objecttest.Protobuf(b, es)
	b.Run("ours", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if decodeSlice(data, nil) == nil {
				b.Fatal("not read")
			}
		}
	})
	b.Run("ours-one-flip", func(b *testing.B) { // the slice's earlier version in the memo
		memo := NewCodec()
		memo.Remember(es.Namespace+"/"+es.Name, decodeSlice(data, nil), false)
		es.Endpoints[43].Conditions.Ready = &no
		flipped := objecttest.Protobuf(b, es)
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if decodeSlice(flipped, memo) == nil {
				b.Fatal("not read")
			}
		}
	})
	b.Run("typed", func(b *testing.B) {
		typed := typedDecoder()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			obj, _, err := typed.Decode(data, nil, nil)
			if err != nil {
				b.Fatal(err)
			}
			SliceFromAPI(obj.(*discovery.EndpointSlice))
		}
	})
}

// Of a slice's annotations the trigger time and the watch-list's end mark
// are kept, from the stream and from a list alike: a bookmark that lost its
// k8s.io/initial-events-end annotation never ends the initial events, and
// the reflector never syncs.
func TestSliceAnnotationsKept(t *testing.T) {
	es := objecttest.Slice("ns", "web-abc", "web", discovery.AddressTypeIPv4, "", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1"})
	es.Annotations = map[string]string{AnnotationTriggerTime: "2026-11-26T07:04:05Z", meta.InitialEventsAnnotationKey: "true", "other": "x"}
	want := map[string]string{AnnotationTriggerTime: "2026-11-26T07:04:05Z", meta.InitialEventsAnnotationKey: "true"}
	for name, s := range map[string]*Slice{"stream": decodeSlice(objecttest.Protobuf(t, es), NewCodec()), "list": SliceFromAPI(es)} {
		if s == nil || !maps.Equal(s.Annotations, want) {
			t.Errorf("%s: annotations %v, want %v", name, s.Annotations, want)
		}
	}
}
