package headless

import (
	"bytes"
	"hash/maphash"
	"sync"
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// The watch stream's EndpointSlices are read straight into a Slice: decoding
// one into its API type first made ~1,600 objects (60 KiB) for a slice of 100
// endpoints, every event, only for sliceFromRaw to keep a few fields of them.
// sliceSerializer gives the EndpointSlice client a decoder that reads the
// protobuf of a single EndpointSlice itself (a watch event's object) and
// hands everything else to the generated code: lists, Status errors, JSON,
// and any message it does not take apart cleanly.
type sliceSerializer struct {
	runtime.NegotiatedSerializer
	memo *sliceMemo
}

func (s sliceSerializer) DecoderToVersion(d runtime.Decoder, gv runtime.GroupVersioner) runtime.Decoder {
	return sliceDecoder{s.NegotiatedSerializer.DecoderToVersion(d, gv), s.memo}
}

type sliceDecoder struct {
	inner runtime.Decoder
	memo  *sliceMemo
}

// sliceMemo is the last Slice the watches delivered per namespace/name (the
// watches keep it: they see deletions, the decoder does not). A readiness
// flip changes one endpoint of a slice's hundred: the decoder reads only the
// endpoints whose bytes differ from those of that earlier version and takes
// the others' Endpoints as they were.
type sliceMemo struct {
	mu sync.Mutex
	m  map[string]*Slice
}

func newSliceMemo() *sliceMemo { return &sliceMemo{m: map[string]*Slice{}} }

func (m *sliceMemo) get(key string) *Slice {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.m[key]
}

func (m *sliceMemo) set(key string, s *Slice, deleted bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if deleted || s.sums == nil {
		delete(m.m, key)
	} else {
		m.m[key] = s
	}
}

// sumSeed keys the endpoint hashes (a process's own: not to be aimed at).
var sumSeed = maphash.MakeSeed()

var sliceGVK = discovery.SchemeGroupVersion.WithKind("EndpointSlice")

// Decode reads an EndpointSlice into a *Slice when it is asked for no type
// of its own (into nil: a watch event's object).
func (d sliceDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if into == nil {
		if s := decodeSlice(data, d.memo); s != nil {
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
func decodeSlice(data []byte, memo *sliceMemo) *Slice {
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
	if !r.read(raw, memo) {
		return nil
	}
	if r.prev != nil && int(r.prev.family) != familyOf(r.addressType) {
		// its endpoints were read as addresses of another family (not in
		// practice: the address type is immutable)
		return decodeSlice(data, nil)
	}
	return sliceFromRaw(r, true, r.prev)
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
// hash as those of the memo's earlier version at the same place is not read
// but marked for reuse.
func (r *rawSlice) read(b []byte, memo *sliceMemo) bool {
	looked := false
	return pbFields(b, specSlice, func(num protowire.Number, b []byte) bool {
		switch num {
		case 1:
			return r.readMeta(b)
		case 2:
			if !looked && memo != nil { // the metadata comes first
				looked = true
				r.prev = memo.get(r.meta.Namespace + "/" + r.meta.Name)
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

// readMeta reads the ObjectMeta fields a Slice keeps.
func (r *rawSlice) readMeta(b []byte) bool {
	m := &r.meta
	return pbFields(b, specMeta, func(num protowire.Number, b []byte) bool {
		switch num {
		case 1:
			m.Name = string(b)
		case 3:
			m.Namespace = string(b)
		case 5:
			m.UID = types.UID(b)
		case 6:
			m.ResourceVersion = string(b)
		case 11, 12:
			var k, v string
			if !pbFields(b, specMapEntry, func(num protowire.Number, b []byte) bool {
				switch num {
				case 1:
					k = string(b)
				case 2:
					v = string(b)
				}
				return true
			}) {
				return false
			}
			mp := &m.Labels
			if num == 12 {
				mp = &m.Annotations
			}
			if *mp == nil {
				*mp = map[string]string{}
			}
			(*mp)[k] = v
		}
		return true
	})
}

// read reads an Endpoint message; its strings view b.
func (e *rawEndpoint) read(b []byte) bool {
	return pbFields(b, specEndpoint, func(num protowire.Number, b []byte) bool {
		switch num {
		case 1:
			e.addresses = append(e.addresses, view(b))
		case 2:
			return pbFields(b, specConditions, func(num protowire.Number, b []byte) bool {
				v, n := protowire.ConsumeVarint(b)
				if n < 0 {
					return false
				}
				c := &no
				if v != 0 {
					c = &yes
				}
				switch num {
				case 1:
					e.ready = c
				case 2:
					e.serving = c
				case 3:
					e.terminating = c
				}
				return true
			})
		case 3:
			e.hostname = view(b)
		case 4:
			return pbFields(b, specObjectRef, func(num protowire.Number, b []byte) bool {
				if num == 3 {
					e.targetName = view(b)
				}
				return true
			})
		case 6:
			e.node = view(b)
		case 7:
			e.zone = view(b)
		case 8:
			return pbFields(b, specHints, func(num protowire.Number, b []byte) bool {
				name := ""
				ok := pbFields(b, specName, func(n protowire.Number, b []byte) bool {
					if n == 1 {
						name = view(b)
					}
					return true
				})
				if num == 1 {
					e.hintZones = append(e.hintZones, name)
				} else {
					e.hintNodes = append(e.hintNodes, name)
				}
				return ok
			})
		}
		return true
	})
}

// The conditions an endpoint reads: shared, never written.
var yes, no = true, false

func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// msgSpec is the fields of a message a reader takes, by number: varints,
// the rest length-delimited.
type msgSpec struct{ bytes, varints uint64 }

func spec(bytes []int, varints ...int) msgSpec {
	var m msgSpec
	for _, n := range bytes {
		m.bytes |= 1 << n
	}
	for _, n := range varints {
		m.varints |= 1 << n
	}
	return m
}

var (
	specUnknown    = spec([]int{1, 2, 3, 4}) // runtime.Unknown
	specTypeMeta   = spec([]int{1, 2})
	specSlice      = spec([]int{1, 2, 3, 4})
	specMeta       = spec([]int{1, 3, 5, 6, 11, 12})
	specMapEntry   = spec([]int{1, 2})
	specPort       = spec([]int{1, 2}, 3)
	specEndpoint   = spec([]int{1, 2, 3, 4, 6, 7, 8})
	specConditions = spec(nil, 1, 2, 3)
	specObjectRef  = spec([]int{3})
	specHints      = spec([]int{1, 2})
	specName       = spec([]int{1}) // ForZone, ForNode
)

// pbFields calls f with each field of message b that spec names: a
// length-delimited field's contents, a varint's encoding. Other fields are
// skipped (as the generated code skips fields it does not know; what it
// would reject in a field the index does not read is not checked). It
// reports false on malformed input, on a field of spec in another wire type
// than its own, or when f does.
func pbFields(b []byte, spec msgSpec, f func(num protowire.Number, b []byte) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		b = b[n:]
		bit := uint64(0)
		if num < 64 {
			bit = 1 << num
		}
		var v []byte
		switch {
		case spec.bytes&bit != 0:
			if typ != protowire.BytesType {
				return false
			}
			v, n = protowire.ConsumeBytes(b)
		case spec.varints&bit != 0:
			if typ != protowire.VarintType {
				return false
			}
			_, n = protowire.ConsumeVarint(b)
			if n >= 0 {
				v = b[:n]
			}
		default:
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return false
			}
			b = b[n:]
			continue
		}
		if n < 0 || !f(num, v) {
			return false
		}
		b = b[n:]
	}
	return true
}
