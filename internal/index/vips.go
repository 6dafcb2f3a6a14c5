package index

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"

	"github.com/headlessdns/headless/internal/object"
	"k8s.io/apimachinery/pkg/labels"
)

// VIPs are the ClusterSetIP imports of a clusterset zone (the MCS DNS
// specification 1.0.0, §2.3): per import, the A/AAAA records of its
// clusterset IPs at its name and an SRV record per port targeting that name;
// per clusterset IP, a PTR to the name. They are few and change rarely:
// each change builds its import's records at once; reads take no lock.
type VIPs struct {
	opts   Options
	byKey  sync.Map // service key -> *VIP
	byAddr sync.Map // netip.Addr -> *PTRs
	gen    atomic.Uint64

	mu    sync.Mutex
	addrs map[netip.Addr][]string // under mu: the imports that claim an address, in arrival order
	ips   map[string][]netip.Addr // under mu: service key -> its addresses
}

// VIP is one ClusterSetIP import's records.
type VIP struct {
	svc  *object.Service
	sets map[string]*RRSet // "" (the import's name) and its port keys
}

// Service is the import the records are of.
func (v *VIP) Service() *object.Service { return v.svc }

// Name returns the record set of a key below the import ("" or a port key), or nil.
func (v *VIP) Name(key string) *RRSet { return v.sets[key] }

// NewVIPs returns an empty table for the forward zones and TTL of o.
func NewVIPs(o Options) *VIPs {
	return &VIPs{opts: o, addrs: map[netip.Addr][]string{}, ips: map[string][]netip.Addr{}}
}

// Generation moves with every import taken in.
func (vs *VIPs) Generation() uint64 { return vs.gen.Load() }

// Get returns the records of a ClusterSetIP import by key, or nil.
func (vs *VIPs) Get(key string) *VIP {
	v, _ := vs.byKey.Load(key)
	vip, _ := v.(*VIP)
	return vip
}

// PTR returns the PTR of a clusterset IP, or nil. An address two imports
// claim answers for the one that claimed it first.
func (vs *VIPs) PTR(a netip.Addr) *PTRs {
	p, _ := vs.byAddr.Load(a)
	ptr, _ := p.(*PTRs)
	return ptr
}

// Update takes in an import: a ClusterSetIP one's records replace its
// earlier ones; anything else (headless, deleted, namespace not allowed)
// removes them.
func (vs *VIPs) Update(s *object.Service, deleted bool) {
	key := ServiceKey(s.Name, s.Namespace)
	keep := !deleted && !s.Headless && s.Import != nil && len(s.Import.IPs) > 0 && vs.allowed(s)
	vs.mu.Lock()
	defer vs.mu.Unlock()
	defer vs.gen.Add(1)
	for _, a := range vs.ips[key] {
		vs.addrs[a] = slices.DeleteFunc(vs.addrs[a], func(k string) bool { return k == key })
		vs.refile(a)
	}
	delete(vs.ips, key)
	if !keep {
		vs.byKey.Delete(key)
		return
	}
	vs.byKey.Store(key, vs.build(s))
	for _, a := range s.Import.IPs {
		vs.ips[key] = append(vs.ips[key], a)
		vs.addrs[a] = append(vs.addrs[a], key)
		vs.refile(a)
	}
}

func (vs *VIPs) allowed(s *object.Service) bool {
	o := &vs.opts
	if len(o.Namespaces) > 0 && !slices.Contains(o.Namespaces, s.Namespace) {
		return false
	}
	return o.Selector == nil || o.Selector.Matches(labels.Set(s.Labels))
}

// refile publishes the PTR of an address: its first claimant's name.
func (vs *VIPs) refile(a netip.Addr) {
	keys := vs.addrs[a]
	if len(keys) == 0 {
		delete(vs.addrs, a)
		vs.byAddr.Delete(a)
		return
	}
	v := vs.Get(keys[0])
	if v == nil || len(vs.opts.Zones) == 0 {
		vs.byAddr.Delete(a)
		return
	}
	svc := v.svc
	vs.byAddr.Store(a, &PTRs{first: ptrRef{addr: a, svc: keys[0], target: JoinName(svc.Name+"."+svc.Namespace+".svc", vs.opts.Zones[0]), loc: object.AwayLoc(&object.Loc{}), named: true}})
}

// build makes an import's record sets, as the stock plugin answers a
// ClusterIP Service: A/AAAA at its name, and for each port spelling the SRV
// records of the matching ports, targeting the name, with its addresses as
// glue.
func (vs *VIPs) build(s *object.Service) *VIP {
	o := &vs.opts
	targets := make([]string, len(o.Zones))
	for zi, z := range o.Zones {
		targets[zi] = JoinName(s.Name+"."+s.Namespace+".svc", z)
	}
	ports := s.Import.Ports
	if len(ports) == 0 {
		ports = []object.Port{{Port: -1}}
	}
	var items []item
	byKey := map[string][]int32{}
	for _, a := range s.Import.IPs {
		for pi, p := range ports {
			items = append(items, item{addr: a, targets: targets, port: p.Port, pi: int16(pi), loc: object.AwayLoc(&object.Loc{})})
		}
	}
	keys := portKeysOf(ports)
	for i := range items {
		for _, k := range keys[items[i].pi] {
			byKey[k] = append(byKey[k], int32(i))
		}
	}
	var s2 rrScratch
	sl := &slab{exact: true}
	v := &VIP{svc: s, sets: map[string]*RRSet{"": s2.rrSetOf(o, items, nil, sl, dedupMaps)}}
	for k, idx := range byKey {
		if k != PortKey("", "") || ports[0].Port != -1 {
			v.sets[k] = s2.rrSetOf(o, items, idx, sl, dedupMaps)
		}
	}
	return v
}

// Len is the number of ClusterSetIP imports published.
func (vs *VIPs) Len() int {
	vs.mu.Lock()
	defer vs.mu.Unlock()
	return len(vs.ips)
}

// HasNamespace reports whether namespace ns has a published import.
func (vs *VIPs) HasNamespace(ns string) bool {
	found := false
	vs.byKey.Range(func(_, v any) bool {
		found = v.(*VIP).svc.Namespace == ns
		return !found
	})
	return found
}

// Keys returns the keys of the published imports, sorted.
func (vs *VIPs) Keys() []string {
	vs.mu.Lock()
	keys := make([]string, 0, len(vs.ips))
	for k := range vs.ips {
		keys = append(keys, k)
	}
	vs.mu.Unlock()
	slices.Sort(keys)
	return keys
}

// Transfer emits the import's records in forward zone zi, with TTL ttl, as
// a zone transfer holds them: A and AAAA at its name, then the SRV records
// of each named port at _<port>._<proto>.<name>.
func (v *VIP) Transfer(zi int, zone string, ttl uint32, emit func([]dns.RR)) {
	name := JoinName(v.svc.Name+"."+v.svc.Namespace+".svc", zone)
	var out []dns.RR
	set := v.sets[""]
	for i := range set.A() {
		a := set.A()[i]
		a.Hdr.Name, a.Hdr.Ttl = name, ttl
		out = append(out, &a)
	}
	for i := range set.AAAA() {
		a := set.AAAA()[i]
		a.Hdr.Name, a.Hdr.Ttl = name, ttl
		out = append(out, &a)
	}
	for _, p := range v.svc.Import.Ports {
		if p.Name == "" || p.Protocol == "" {
			continue
		}
		key := PortKey(p.Name, p.Protocol)
		ps := v.sets[key]
		if ps == nil {
			continue
		}
		srv, _, _ := ps.SRV(zi)
		for i := range srv {
			s := srv[i]
			s.Hdr.Name, s.Hdr.Ttl = JoinName(key+"."+v.svc.Name+"."+v.svc.Namespace+".svc", zone), ttl
			out = append(out, &s)
		}
	}
	if len(out) > 0 {
		emit(out)
	}
}
