package index

import (
	"fmt"
	"math/rand"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
)

// The index alone: objects in, published record sets out.

func newTestIndex() *Index {
	return New(Options{Zones: []string{"cluster.local."}, TTL: 5})
}

func svcObj(ns, name string) *object.Service {
	return &object.Service{ObjectMeta: objecttest.HeadlessService(ns, name, nil).ObjectMeta, Headless: true}
}

func sliceObj(ns, name, svc string, ports []objecttest.PT, eps ...objecttest.EP) *object.Slice {
	return object.SliceFromAPI(objecttest.Slice(ns, name, svc, discovery.AddressTypeIPv4, "", ports, eps...))
}

// aOf lists the A records of a name of a Service, "" when it has no set.
func aOf(ix *Index, key, name string) string {
	recs := ix.Service(key)
	if recs == nil || recs.Name(name) == nil {
		return ""
	}
	var out []string
	for _, a := range recs.Name(name).a {
		out = append(out, a.A.String())
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func srvOf(ix *Index, key, name string) []dns.SRV {
	recs := ix.Service(key)
	if recs == nil || recs.Name(name) == nil {
		return nil
	}
	return recs.Name(name).z[0].srv
}

func TestIndexTable(t *testing.T) {
	// a Service above the linear de-duplication threshold: 20 endpoints, each
	// address listed twice (two slices), two ports
	var eps []objecttest.EP
	for i := 0; i < 20; i++ {
		eps = append(eps, objecttest.EP{IP: fmt.Sprintf("10.1.0.%d", i+1), Host: fmt.Sprintf("big-%d", i)})
	}
	ports := []objecttest.PT{{Name: "http", Proto: "TCP", Port: 80}, {Name: "grpc", Proto: "TCP", Port: 9000}}
	ix := newTestIndex()
	ix.UpdateService(svcObj("ns", "big"), false)
	ix.UpdateSlice(sliceObj("ns", "big-a", "big", ports, eps...), false, 0)
	ix.UpdateSlice(sliceObj("ns", "big-b", "big", ports, eps...), false, 0)
	// one address published by two Services
	ix.UpdateService(svcObj("ns", "one"), false)
	ix.UpdateService(svcObj("ns", "two"), false)
	ix.UpdateSlice(sliceObj("ns", "one-a", "one", ports, objecttest.EP{IP: "10.2.0.1", Host: "m"}), false, 0)
	ix.UpdateSlice(sliceObj("ns", "two-a", "two", ports, objecttest.EP{IP: "10.2.0.1", Host: "m"}), false, 0)
	ix.Flush()

	if got := strings.Count(aOf(ix, "big.ns", ""), " ") + 1; got != 20 {
		t.Errorf("big: %d distinct A records, want 20", got)
	}
	srv := srvOf(ix, "big.ns", "")
	if len(srv) != 40 {
		t.Errorf("big: %d SRV, want 40 (20 hosts x 2 ports, duplicates dropped)", len(srv))
	}
	// weight is 100/N over every item, duplicates included (as stock): 80 items
	if srv[0].Weight != 1 {
		t.Errorf("big: SRV weight %d, want 1", srv[0].Weight)
	}
	if got := len(srvOf(ix, "big.ns", PortKey("http", "tcp"))); got != 20 {
		t.Errorf("big http: %d SRV, want 20", got)
	}
	if got := len(ix.Service("big.ns").Name("big-7").z[0].glueA); got != 1 {
		t.Errorf("big-7: %d glue records, want 1", got)
	}
	// the address of both: both PTRs; removing one Service keeps the other's
	if ptr := ix.PTR(netip.MustParseAddr("10.2.0.1")); ptrStrings(ptr) != "m.one.ns.svc.cluster.local.,m.two.ns.svc.cluster.local." {
		t.Fatalf("shared address: PTR %v, want 2 records", ptr)
	}
	ix.UpdateService(svcObj("ns", "one"), true)
	ix.Flush()
	if ptr := ix.PTR(netip.MustParseAddr("10.2.0.1")); ptrStrings(ptr) != "m.two.ns.svc.cluster.local." {
		t.Fatalf("after deleting one: PTR %v, want m.two only", ptr)
	}
	if svcs, addrs := ix.Counts(); svcs != 2 || addrs != 21 {
		t.Errorf("counts %d services %d addresses, want 2 and 21", svcs, addrs)
	}
	ix.UpdateService(svcObj("ns", "two"), true)
	ix.Flush()
	if ix.PTR(netip.MustParseAddr("10.2.0.1")) != nil || ix.HasAddressIn(netipPrefix("10.2.0.0/16")) {
		t.Error("address still published after both Services were deleted")
	}
	if !ix.HasAddressIn(netipPrefix("10.1.0.0/24")) || !ix.HasNamespace("ns") || ix.HasNamespace("other") {
		t.Error("ancestors of big not published")
	}
}

// A relist delivers every object again: unchanged revisions rebuild nothing.
func TestIndexRelistSkipsUnchanged(t *testing.T) {
	ix := newTestIndex()
	ix.UpdateService(svcObj("ns", "web"), false)
	s := sliceObj("ns", "web-a", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "web-0"})
	ix.UpdateSlice(s, false, 0)
	ix.Flush()
	before := ix.Service("web.ns")
	// the same content again, as a relist would deliver it (a new object)
	ix.UpdateService(svcObj("ns", "web"), false)
	ix.UpdateSlice(sliceObj("ns", "web-a", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "web-0"}), false, 0)
	if len(ix.dirty) != 0 {
		t.Fatalf("unchanged objects marked %d Services dirty", len(ix.dirty))
	}
	ix.Flush()
	if ix.Service("web.ns") != before {
		t.Error("unchanged objects rebuilt the Service")
	}
	// a real change is built
	ix.UpdateSlice(sliceObj("ns", "web-a", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.2", Host: "web-0"}), false, 0)
	ix.Flush()
	if got := aOf(ix, "web.ns", "web-0"); got != "10.0.0.2" {
		t.Errorf("after change: %q", got)
	}
}

// A objecttest.Slice whose managed-by label changed moves between two watches; the new
// watch's add may come before the old watch's delete, in either order.
func TestIndexSliceMovesBetweenWatches(t *testing.T) {
	for _, addFirst := range []bool{true, false} {
		ix := newTestIndex()
		ix.UpdateService(svcObj("ns", "db"), false)
		s := sliceObj("ns", "db-a", "db", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "db-0"})
		ix.UpdateSlice(s, false, 1) // delivered by watch 1
		ix.Flush()
		moved := sliceObj("ns", "db-a", "db", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "db-0"})
		if addFirst {
			ix.UpdateSlice(moved, false, 2)
			ix.UpdateSlice(s, true, 1)
		} else {
			ix.UpdateSlice(s, true, 1)
			ix.UpdateSlice(moved, false, 2)
		}
		ix.Flush()
		if got := aOf(ix, "db.ns", "db-0"); got != "10.0.0.1" {
			t.Errorf("add first %v: db-0 %q, want 10.0.0.1", addFirst, got)
		}
		// and a delete from the watch that owns it does remove it
		ix.UpdateSlice(moved, true, 2)
		ix.Flush()
		if got := aOf(ix, "db.ns", "db-0"); got != "" {
			t.Errorf("add first %v: db-0 %q after delete", addFirst, got)
		}
	}
}

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }

// An index fed change after change answers exactly as one built from the
// end state: random readiness flips, endpoints removed, added, renamed and
// moved between slices, addresses shared, ports changed.
func TestIncrementalMatchesFull(t *testing.T) {
	// names shared by several slices most of the time, and names nearly
	// always held by one objecttest.Slice (a rename or a new endpoint now and then
	// makes a shared one, which the incremental build must notice)
	for _, c := range []struct{ addrs, hosts int }{{40, 30}, {400, 400}} {
		t.Run(fmt.Sprintf("%d-names", c.hosts), func(t *testing.T) { incrementalMatchesFull(t, c.addrs, c.hosts) })
	}
}

func incrementalMatchesFull(t *testing.T, nAddrs, nHosts int) {
	rng := rand.New(rand.NewSource(7))
	const nSlices = 4
	type epState struct {
		addr, host string
		ready      bool
	}
	addr := func(a int) string { return fmt.Sprintf("10.0.%d.%d", a/250, a%250+1) }
	state := make([][]epState, nSlices)
	for i := range state {
		for j := 0; j < 10; j++ {
			a := rng.Intn(nAddrs)
			state[i] = append(state[i], epState{addr: addr(a), host: fmt.Sprintf("h-%d", a%nHosts), ready: rng.Intn(4) > 0})
		}
	}
	ports := [][]objecttest.PT{objecttest.HTTP80, {{Name: "http", Proto: "TCP", Port: 80}, {Name: "dns", Proto: "UDP", Port: 53}}}
	portOf := make([]int, nSlices)
	build := func(i int) *object.Slice {
		var eps []objecttest.EP
		for _, e := range state[i] {
			eps = append(eps, objecttest.EP{IP: e.addr, Host: e.host, NotReady: !e.ready})
		}
		return sliceObj("ns", fmt.Sprintf("web-%d", i), "web", ports[portOf[i]], eps...)
	}
	inc := newTestIndex()
	inc.UpdateService(svcObj("ns", "web"), false)
	for i := range state {
		inc.UpdateSlice(build(i), false, 0)
	}
	inc.Flush()
	for step := 0; step < 400; step++ {
		i := rng.Intn(nSlices)
		s := state[i]
		switch op := rng.Intn(7); {
		case op < 3 && len(s) > 0: // readiness flip
			j := rng.Intn(len(s))
			s[j].ready = !s[j].ready
		case op == 3 && len(s) > 0: // an endpoint goes
			j := rng.Intn(len(s))
			s = append(s[:j:j], s[j+1:]...)
		case op == 4: // one comes, anywhere
			a := rng.Intn(nAddrs)
			j := rng.Intn(len(s) + 1)
			s = slices.Insert(s, j, epState{addr: addr(a), host: fmt.Sprintf("h-%d", a%nHosts), ready: true})
		case op == 5 && len(s) > 0: // renamed
			s[rng.Intn(len(s))].host = fmt.Sprintf("h-%d", rng.Intn(nHosts))
		default:
			portOf[i] = rng.Intn(2)
		}
		state[i] = s
		inc.UpdateSlice(build(i), false, 0)
		if rng.Intn(3) == 0 {
			continue // several changes in one flush
		}
		inc.Flush()
		if rng.Intn(3) == 0 {
			continue // published, not asked: its names are built later, from a newer version
		}
		full := newTestIndex()
		full.UpdateService(svcObj("ns", "web"), false)
		for k := range state {
			full.UpdateSlice(build(k), false, 0)
		}
		full.Flush()
		names := []string{""}
		for h := 0; h < nHosts; h++ {
			names = append(names, fmt.Sprintf("h-%d", h))
		}
		for _, n := range names {
			if got, want := inc.Service("web.ns").hosts.get(n) != nil, full.Service("web.ns").hosts.get(n) != nil; n != "" && got != want {
				t.Fatalf("step %d: name %q held %v, built whole %v", step, n, got, want)
			}
			if got, want := aOf(inc, "web.ns", n), aOf(full, "web.ns", n); got != want {
				t.Fatalf("step %d: %q A %q, built whole %q", step, n, got, want)
			}
			if got, want := srvStrings(srvOf(inc, "web.ns", n)), srvStrings(srvOf(full, "web.ns", n)); got != want {
				t.Fatalf("step %d: %q SRV %q, built whole %q", step, n, got, want)
			}
		}
		for a := 0; a < nAddrs; a++ {
			ip := netip.MustParseAddr(addr(a))
			if got, want := ptrStrings(inc.PTR(ip)), ptrStrings(full.PTR(ip)); got != want {
				t.Fatalf("step %d: PTR %s %q, built whole %q", step, ip, got, want)
			}
			p := netipPrefix(addr(a) + "/32")
			if inc.HasAddressIn(p) != full.HasAddressIn(p) {
				t.Fatalf("step %d: address set differs at %s", step, p)
			}
		}
	}
}

func srvStrings(srv []dns.SRV) string {
	var out []string
	for _, s := range srv {
		out = append(out, fmt.Sprintf("%d %d %s", s.Weight, s.Port, s.Target))
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func ptrStrings(p *PTRs) string {
	if p == nil {
		return ""
	}
	var out []string
	for _, r := range p.Records("x.", 5) {
		out = append(out, r.(*dns.PTR).Ptr)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// TestHostSetsLazy: an endpoint name's records are built when first asked
// for, and a change to one endpoint leaves the other names' entries (built
// or not) shared with the previous version.
func TestHostSetsLazy(t *testing.T) {
	ix := newTestIndex()
	ix.UpdateService(svcObj("ns", "web"), false)
	eps := []objecttest.EP{{IP: "10.0.0.1", Host: "a"}, {IP: "10.0.0.2", Host: "b"}, {IP: "10.0.0.3", Host: "c"}}
	ix.UpdateSlice(sliceObj("ns", "web-1", "web", objecttest.HTTP80, eps...), false, 0)
	ix.Flush()
	v1 := ix.Service("web.ns")
	a1, b1, c1 := v1.hosts.get("a"), v1.hosts.get("b"), v1.hosts.get("c")
	if a1 == nil || a1.set != nil || b1.set != nil {
		t.Fatalf("entries after a flush: a %v, b %v: want unbuilt", a1, b1)
	}
	if got := aOf(ix, "web.ns", "a"); got != "10.0.0.1" || a1.set == nil || b1.set != nil {
		t.Fatalf("asked a: %q; a built %v, b built %v", got, a1.set != nil, b1.set != nil)
	}
	eps[1].NotReady = true
	ix.UpdateSlice(sliceObj("ns", "web-1", "web", objecttest.HTTP80, eps...), false, 0)
	ix.Flush()
	v2 := ix.Service("web.ns")
	if v2.hosts.get("a") != a1 || v2.hosts.get("c") != c1 || v2.hosts.get("b") != nil {
		t.Errorf("after b turned not ready: a shared %v, c shared %v, b %v", v2.hosts.get("a") == a1, v2.hosts.get("c") == c1, v2.hosts.get("b"))
	}
	if got := aOf(ix, "web.ns", "c"); got != "10.0.0.3" {
		t.Errorf("c built from the newer version: %q", got)
	}
}

// After the initial sync the builder lets changes settle before it
// publishes them, and a read publishes what was taken in first: an answer
// given after a change is taken in always shows it. The change's
// programming latency is counted when it is taken in.
func TestPublishOnRead(t *testing.T) {
	var programmed atomic.Int64
	ix := New(Options{Zones: []string{"cluster.local."}, TTL: 5, Hooks: Hooks{
		Programmed: func(_ time.Duration, withSelector bool) {
			if !withSelector {
				programmed.Add(1)
			}
		}}})
	ix.settle = time.Hour // the builder never publishes a later change unasked here
	stop := make(chan struct{})
	defer close(stop)
	go ix.Run(stop)
	ix.UpdateService(svcObj("ns", "web"), false)
	ix.UpdateSlice(sliceObj("ns", "web-1", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "a"}), false, 0)
	ix.MarkSynced()
	select {
	case <-ix.synced:
	case <-time.After(10 * time.Second):
		t.Fatal("the initial list was not published")
	}
	if got := aOf(ix, "web.ns", "a"); got != "10.0.0.1" {
		t.Fatalf("a: %q after the initial sync", got)
	}
	count := func() float64 { return float64(programmed.Load()) }
	before := count()
	for i := 2; i <= 5; i++ { // a burst of changes, none read
		eps := []objecttest.EP{{IP: "10.0.0.1", Host: "a"}}
		for j := 2; j <= i; j++ {
			eps = append(eps, objecttest.EP{IP: fmt.Sprintf("10.0.0.%d", j), Host: fmt.Sprintf("h%d", j)})
		}
		ix.UpdateSliceAt(sliceObj("ns", "web-1", "web", objecttest.HTTP80, eps...), false, 0, time.Now().Add(-time.Second))
	}
	if got := count() - before; got != 4 {
		t.Errorf("%v changes counted for programming latency, want 4", got)
	}
	if r, _ := ix.svcs.get("web.ns"); r == nil || r.Name("h5") != nil {
		t.Fatal("the burst was published before anything read it (settle period not kept)")
	}
	if got := aOf(ix, "web.ns", "h5"); got != "10.0.0.5" { // the read publishes it
		t.Fatalf("h5 after the burst: %q, want 10.0.0.5", got)
	}
	if ix.PTR(netip.MustParseAddr("10.0.0.5")) == nil || ix.pending.Load() {
		t.Fatal("the reverse side of the burst was not published with it")
	}
	// a deletion, read through the reverse side first
	ix.UpdateSlice(sliceObj("ns", "web-1", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "a"}), false, 0)
	if ix.PTR(netip.MustParseAddr("10.0.0.5")) != nil || aOf(ix, "web.ns", "h5") != "" {
		t.Fatal("a read after the deletion still found h5")
	}
	// a backlog of more changed endpoints than urgentAt is published
	// unasked, without waiting for the settle period
	ix.mu.Lock()
	ix.urgentAt = 10
	ix.mu.Unlock()
	var eps []objecttest.EP
	for j := 1; j <= 12; j++ {
		eps = append(eps, objecttest.EP{IP: fmt.Sprintf("10.0.1.%d", j), Host: fmt.Sprintf("u%d", j)})
	}
	ix.UpdateSlice(sliceObj("ns", "web-2", "web", objecttest.HTTP80, eps...), false, 0)
	deadline := time.Now().Add(10 * time.Second)
	for ix.pending.Load() {
		if time.Now().After(deadline) {
			t.Fatal("a backlog past urgentAt was not published unasked")
		}
		time.Sleep(time.Millisecond)
	}
	if r, _ := ix.svcs.get("web.ns"); r == nil || r.Name("u12") == nil {
		t.Fatal("the backlog's names are not published")
	}
}

// Once synced, a read of one Service publishes that Service only: right
// after start-up a Service name's answer does not wait for the whole
// initial build. Reads of cluster-wide state (PTR, namespaces) publish all.
func TestPublishOneService(t *testing.T) {
	ix := newTestIndex()
	for _, name := range []string{"a", "b"} {
		ix.UpdateService(svcObj("ns", name), false)
	}
	ix.UpdateSlice(sliceObj("ns", "a-1", "a", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "x"}), false, 0)
	ix.UpdateSlice(sliceObj("ns", "b-1", "b", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.2", Host: "y"}), false, 0)
	if ix.Service("a.ns") != nil {
		t.Fatal("a read before the sync published")
	}
	ix.MarkSynced()
	if !ix.Synced() {
		t.Fatal("not synced after MarkSynced")
	}
	if got := aOf(ix, "a.ns", "x"); got != "10.0.0.1" {
		t.Fatalf("a's x after the sync: %q", got)
	}
	ix.mu.Lock()
	_, bDirty := ix.dirty["b.ns"]
	ix.mu.Unlock()
	if r, _ := ix.svcs.get("b.ns"); r != nil || !bDirty {
		t.Fatal("reading a published b too")
	}
	if ptrStrings(ix.PTR(netip.MustParseAddr("10.0.0.2"))) != "y.b.ns.svc.cluster.local." || !ix.HasNamespace("ns") {
		t.Fatal("a PTR read did not publish b")
	}
	if r, _ := ix.svcs.get("b.ns"); r == nil || ix.pending.Load() {
		t.Fatal("b not published by the PTR read")
	}
}

// A Service taken in is found by a read before the builder published it
// (the Service watch synced, its batch not built yet): its names must not
// pass on as if it did not exist.
func TestServiceTakenInBeforePublish(t *testing.T) {
	ix := newTestIndex()
	for _, name := range []string{"a", "web"} {
		ix.UpdateService(svcObj("ns", name), false)
	}
	ix.UpdateSlice(sliceObj("ns", "web-1", "web", objecttest.HTTP80, objecttest.EP{IP: "10.0.0.1", Host: "a"}), false, 0)
	ix.MarkServicesSynced()
	ix.mu.Lock()
	ix.publish([]string{"a.ns"}) // the builder's first batch: web's is still to come
	ix.mu.Unlock()
	if !ix.ServicesSynced() {
		t.Fatal("Service watch not synced after the batch")
	}
	if ix.Service("web.ns") == nil {
		t.Fatal("a Service taken in is unknown to a read before its batch is published: its names would pass on (a false NXDOMAIN)")
	}
	if ix.Service("other.ns") != nil {
		t.Error("a Service never taken in is found")
	}
}
