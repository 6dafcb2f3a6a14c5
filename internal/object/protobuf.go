package object

import (
	"unsafe"

	"google.golang.org/protobuf/encoding/protowire"
	"k8s.io/apimachinery/pkg/types"
)

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
