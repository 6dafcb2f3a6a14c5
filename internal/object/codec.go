package object

import (
	"bytes"
	"hash/maphash"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Codec reads the watch stream's EndpointSlices straight into Slices:
// decoding one into its API type first made ~1,600 objects (60 KiB) for a
// slice of 100 endpoints, every event, only for the reduction to keep a few
// fields of them. Its serializer gives the EndpointSlice client a decoder
// that reads the protobuf of a single EndpointSlice itself (a watch event's
// object) and hands everything else to the generated code: lists, Status
// errors, JSON, and any message it does not take apart cleanly.
//
// A readiness flip changes one endpoint of a slice's hundred: the codec
// keeps the last Slice delivered per namespace/name (Remember: the watches
// see deletions, the decoder does not) and reads only the endpoints whose
// bytes differ from those of that earlier version, taking the others'
// Endpoints as they were.
type Codec struct {
	mu   sync.Mutex
	memo map[string]*Slice
	// Invalid counts the skipped parts of the slices it reads; set before
	// the first watch starts.
	Invalid Counter
}

// NewCodec returns a codec that remembers nothing yet.
func NewCodec() *Codec { return &Codec{memo: map[string]*Slice{}} }

// Serializer wraps the EndpointSlice client's serializer: its decoders are
// the codec's.
func (c *Codec) Serializer(inner runtime.NegotiatedSerializer) runtime.NegotiatedSerializer {
	return sliceSerializer{inner, c}
}

// Remember tells the codec what a watch delivered for key (namespace/name):
// the Slice whose endpoints the next event of key may reuse, or (deleted)
// that key is gone. Anything not read from the wire is forgotten.
func (c *Codec) Remember(key string, o any, deleted bool) {
	s, ok := o.(*Slice)
	c.mu.Lock()
	defer c.mu.Unlock()
	if deleted || !ok || s.sums == nil {
		delete(c.memo, key)
	} else {
		c.memo[key] = s
	}
}

func (c *Codec) earlier(key string) *Slice {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.memo[key]
}

type sliceSerializer struct {
	runtime.NegotiatedSerializer
	codec *Codec
}

func (s sliceSerializer) DecoderToVersion(d runtime.Decoder, gv runtime.GroupVersioner) runtime.Decoder {
	return sliceDecoder{s.NegotiatedSerializer.DecoderToVersion(d, gv), s.codec}
}

type sliceDecoder struct {
	inner runtime.Decoder
	codec *Codec
}

// sumSeed keys the endpoint hashes (a process's own: not to be aimed at).
var sumSeed = maphash.MakeSeed()

var sliceGVK = discovery.SchemeGroupVersion.WithKind("EndpointSlice")

// Decode reads an EndpointSlice into a *Slice when it is asked for no type
// of its own (into nil: a watch event's object).
func (d sliceDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if into == nil {
		if s := decodeSlice(data, d.codec); s != nil {
			gvk := sliceGVK
			return s, &gvk, nil
		}
	}
	return d.inner.Decode(data, defaults, into)
}

// protobufMagic starts every Kubernetes protobuf object (then a
// runtime.Unknown holding its type and bytes).
var protobufMagic = []byte("k8s\x00")

var rawSlices = sync.Pool{New: func() any { return new(rawSlice) }}

// decodeSlice reads an EndpointSlice object, or returns nil for anything
// else or anything malformed (the generated decoder then reads or rejects it).
// The endpoints' strings view data while the raw slice is built: the caller
// must not change data, and sliceFromRaw copies what the Slice keeps.
func decodeSlice(data []byte, codec *Codec) *Slice {
	if !bytes.HasPrefix(data, protobufMagic) {
		return nil
	}
	var apiVersion, kind, encoding, contentType, raw []byte
	ok := pbFields(data[len(protobufMagic):], specUnknown, func(num protowire.Number, b []byte) bool {
		switch num {
		case 1:
			return pbFields(b, specTypeMeta, func(num protowire.Number, b []byte) bool {
				switch num {
				case 1:
					apiVersion = b
				case 2:
					kind = b
				}
				return true
			})
		case 2:
			raw = b
		case 3:
			encoding = b
		case 4:
			contentType = b
		}
		return true
	})
	if !ok || string(apiVersion) != "discovery.k8s.io/v1" || string(kind) != "EndpointSlice" || len(encoding) > 0 ||
		(len(contentType) > 0 && string(contentType) != runtime.ContentTypeProtobuf) {
		return nil
	}
	r := rawSlices.Get().(*rawSlice)
	defer func() { r.reset(); rawSlices.Put(r) }()
	if !r.read(raw, codec) {
		return nil
	}
	if r.prev != nil && int(r.prev.family) != familyOf(r.addressType) {
		// its endpoints were read as addresses of another family (not in
		// practice: the address type is immutable)
		return decodeSlice(data, &Codec{Invalid: codec.Invalid})
	}
	var count Counter
	if codec != nil {
		count = codec.Invalid
	}
	return sliceFromRaw(r, true, count)
}

// reset empties r for its next slice, keeping its arrays (cleared: their
// strings view the last event's bytes, which a pooled r would keep alive).
func (r *rawSlice) reset() {
	for i := range r.endpoints {
		e := &r.endpoints[i]
		clear(e.addresses)
		clear(e.hintZones)
		clear(e.hintNodes)
		*e = rawEndpoint{addresses: e.addresses[:0], hintZones: e.hintZones[:0], hintNodes: e.hintNodes[:0]}
	}
	*r = rawSlice{endpoints: r.endpoints[:0]}
}

// read reads an EndpointSlice message into r. Metadata and ports are copied
// (the Slice keeps them), endpoint strings view b. An endpoint whose bytes
// hash as those of the codec's earlier version at the same place is not
// read but marked for reuse.
func (r *rawSlice) read(b []byte, codec *Codec) bool {
	looked := false
	return pbFields(b, specSlice, func(num protowire.Number, b []byte) bool {
		switch num {
		case 1:
			return r.readMeta(b)
		case 2:
			if !looked && codec != nil { // the metadata comes first
				looked = true
				r.prev = codec.earlier(r.meta.Namespace + "/" + r.meta.Name)
			}
			i := len(r.endpoints)
			if i < cap(r.endpoints) {
				r.endpoints = r.endpoints[:i+1]
			} else {
				r.endpoints = append(r.endpoints, rawEndpoint{})
			}
			e := &r.endpoints[i]
			e.sum, e.reuse = maphash.Bytes(sumSeed, b), -1
			if p := r.prev; p != nil && i < len(p.sums) && p.sums[i].h == e.sum && p.sums[i].ep >= 0 {
				e.reuse = p.sums[i].ep
				return true
			}
			return e.read(b)
		case 3:
			var p discovery.EndpointPort
			ok := pbFields(b, specPort, func(num protowire.Number, b []byte) bool {
				switch num {
				case 1:
					s := string(b)
					p.Name = &s
				case 2:
					s := core.Protocol(b)
					p.Protocol = &s
				case 3:
					v, n := protowire.ConsumeVarint(b)
					if n < 0 {
						return false
					}
					port := int32(v)
					p.Port = &port
				}
				return true
			})
			r.ports = append(r.ports, p)
			return ok
		case 4:
			r.addressType = string(b)
		}
		return true
	})
}

// reused is an endpoint of the earlier version, taken as it was; its
// addresses are copied into the slice's pool (prev's array would stay alive
// for one endpoint).
func (red *reducer) reused(ep Endpoint) Endpoint {
	first := len(red.pool)
	red.pool = append(red.pool, ep.Addrs...)
	ep.Addrs = red.pool[first:len(red.pool):len(red.pool)]
	return ep
}
