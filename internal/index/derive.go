package index

import (
	"hash/maphash"
	"slices"
	"strings"

	"github.com/headlessdns/headless/internal/object"
)

// sliceBuild is what one slice contributes to its Service.
type sliceBuild struct {
	slice       *object.Slice
	items       []item     // published (address, port) items, endpoints and ports as written
	hosts       []string   // the distinct endpoint names of items, sorted
	portKeys    [][]string // per slice port: every spelling that selects it
	key         string     // of its Service
	spans       []span     // per endpoint of the slice, and one past the last
	rederived   []int32    // derived from a previous version: the endpoints derived anew (nil: all were)
	bloom       hostBloom  // of hosts
	multi       int        // published endpoints with more than one address
	servingOnly int        // items published because they are serving, not ready
	nameOnly    int        // items published under their own names only (publish-not-ready: hostnames)
}

// deriveSlice computes a slice's items, names and PTR contributions: the
// endpoints the Service's policy publishes (object.Policy.Publish).
func (b *builder) deriveSlice(o *Options, key string, svc *object.Service, s *object.Slice, old *sliceBuild) *sliceBuild {
	sb := &sliceBuild{slice: s, key: key, spans: make([]span, 0, len(s.Endpoints)+1)}
	// exact sizes: append's doubling would leave up to half of each unused
	addrs := 0
	for i := range s.Endpoints {
		if ep := &s.Endpoints[i]; svc.Policy.Publish(ep, o.Hostnames) != object.Unpublished {
			addrs += len(ep.Addrs)
		}
	}
	sb.items = make([]item, 0, addrs*len(s.Ports))
	if len(s.Ports) > 0 {
		sb.hosts = make([]string, 0, addrs)
	}
	reuse := old != nil && slices.Equal(old.slice.Ports, s.Ports) && old.slice.Cluster == s.Cluster
	if reuse {
		sb.portKeys = old.portKeys
		sb.rederived = []int32{}
	} else {
		sb.portKeys = portKeysOf(s.Ports)
	}
	suffix := "." + svc.Name + "." + svc.Namespace + ".svc"
	var targetPool []string // items keep it alive: sized for the endpoints derived anew only
	if !reuse {
		targetPool = make([]string, 0, addrs*len(o.Zones))
	}
	for i := range s.Endpoints {
		sb.spans = append(sb.spans, span(len(sb.items)))
		ep := &s.Endpoints[i]
		same := reuse && i < len(old.slice.Endpoints) && object.SameEndpoint(&old.slice.Endpoints[i], ep)
		if reuse && !same {
			sb.rederived = append(sb.rederived, int32(i)) // also when it is no longer published: its old names change
		}
		pub := svc.Policy.Publish(ep, o.Hostnames)
		if pub == object.Unpublished {
			continue
		}
		if len(ep.Addrs) > 1 {
			sb.multi++
		}
		if same {
			sb.reuse(old, i, len(s.Ports) > 0) // an unchanged endpoint: what it contributed before
			continue
		}
		loc := o.locOf(s, ep)
		for ai, addr := range ep.Addrs {
			host := strings.ToLower(EndpointName(ep, ep.AddrString(ai), o.PodNames))
			if s.Cluster != "" {
				host += "." + s.Cluster // <hostname>.<clusterid>.<svc>...: the MCS specification's name
			}
			targets := carve(&targetPool, len(o.Zones))
			for zi, zone := range o.Zones {
				targets[zi] = JoinName(host+suffix, zone)
			}
			for pi, p := range s.Ports {
				it := item{host: host, addr: addr, targets: targets, port: p.Port, pi: int16(pi), loc: loc,
					servingOnly: pub == object.Published && !ep.Ready, nameOnly: pub == object.NameOnly}
				sb.items = append(sb.items, it)
				sb.count(&it)
			}
			if len(s.Ports) > 0 {
				sb.hosts = append(sb.hosts, host)
			}
		}
	}
	sb.spans = append(sb.spans, span(len(sb.items)))
	slices.Sort(sb.hosts)
	sb.hosts = slices.Compact(sb.hosts)
	for _, h := range sb.hosts {
		sb.bloom.add(hostHash(h))
	}
	return sb
}

// hostBloom tells, with few false positives, whether a slice holds a name:
// finding the slices of a changed name does not search every slice.
type hostBloom [16]uint64

var bloomSeed = maphash.MakeSeed()

func hostHash(h string) uint64 { return maphash.String(bloomSeed, h) }

func (f *hostBloom) add(x uint64) {
	f[x&1023>>6] |= 1 << (x & 63)
	y := x >> 10
	f[y&1023>>6] |= 1 << (y & 63)
}

func (f *hostBloom) has(x uint64) bool {
	y := x >> 10
	return f[x&1023>>6]&(1<<(x&63)) != 0 && f[y&1023>>6]&(1<<(y&63)) != 0
}

// has reports whether the slice publishes the endpoint name h (hash hh).
func (sb *sliceBuild) has(h string, hh uint64) bool {
	if !sb.bloom.has(hh) {
		return false
	}
	_, ok := slices.BinarySearch(sb.hosts, h)
	return ok
}

// span is where one endpoint's items start in a sliceBuild.
type span int32

// ptrRefs appends the slice's PTR contributions to dst: one per published
// address (its first port's item), the target written in the first forward
// zone. A plugin without forward zones has none.
func (sb *sliceBuild) ptrRefs(dst []ptrRef) []ptrRef {
	if sb == nil {
		return dst
	}
	for e := range len(sb.spans) - 1 {
		named := sb.slice.Endpoints[e].Hostname != ""
		for i := sb.spans[e]; i < sb.spans[e+1]; i++ {
			if it := &sb.items[i]; it.pi == 0 && len(it.targets) > 0 {
				dst = append(dst, ptrRef{addr: it.addr, svc: sb.key, target: it.targets[0], loc: it.loc, named: named})
			}
		}
	}
	return dst
}

// reuse appends what endpoint i contributed to old.
func (sb *sliceBuild) reuse(old *sliceBuild, i int, ports bool) {
	a, z := old.spans[i], old.spans[i+1]
	for _, it := range old.items[a:z] {
		sb.count(&it)
		if ports && it.pi == 0 {
			sb.hosts = append(sb.hosts, it.host)
		}
	}
	sb.items = append(sb.items, old.items[a:z]...)
}

// count counts an item's publication.
func (sb *sliceBuild) count(it *item) {
	if it.servingOnly {
		sb.servingOnly++
	}
	if it.nameOnly {
		sb.nameOnly++
	}
}

// portKeysOf returns, per slice port, the keys of every spelling that
// selects it: name and protocol each either given or any (""), as the stock
// plugin matches them. The sentinel port of a port-less slice matches only
// "any port of any protocol".
func portKeysOf(ports []object.Port) [][]string {
	out := make([][]string, len(ports))
	for i, p := range ports {
		keys := []string{PortKey("", "")}
		if p.Port == -1 && p.Name == "" {
			out[i] = keys
			continue
		}
		if p.Protocol != "" {
			keys = append(keys, PortKey("", p.Protocol))
		}
		if p.Name != "" {
			keys = append(keys, PortKey(p.Name, ""))
			if p.Protocol != "" {
				keys = append(keys, PortKey(p.Name, p.Protocol))
			}
		}
		out[i] = keys
	}
	return out
}
