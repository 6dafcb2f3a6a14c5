package headless

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/plugin/transfer"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// xfrFixture: two headless Services (one with a not-ready member, one
// without ports) and a ClusterIP Service that is not ours.
func xfrFixture() []runtime.Object {
	return []runtime.Object{
		headlessSvc("a", "web", nil),
		slice("a", "web-x", "web", discovery.AddressTypeIPv4, "", http80,
			ep{IP: "10.0.0.1", Host: "web-0"}, ep{IP: "10.0.0.2", Host: "web-1"}, ep{IP: "10.0.0.3", Host: "web-2", NotReady: true}),
		headlessSvc("b", "db", nil),
		slice("b", "db-x", "db", discovery.AddressTypeIPv4, "", nil, ep{IP: "10.0.1.1"}),
		clusterIPSvc("a", "api", "10.96.0.5"),
		slice("a", "api-x", "api", discovery.AddressTypeIPv4, "", http80, ep{IP: "10.0.2.1"}),
	}
}

// xfrWeb and xfrDB are the fixture's records as the stock plugin transfers
// them, in its order.
var (
	xfrDB = []string{
		"db.b.svc.cluster.local.	5	IN	A	10.0.1.1",
		"10-0-1-1.db.b.svc.cluster.local.	5	IN	A	10.0.1.1",
	}
	xfrWeb = []string{
		"web.a.svc.cluster.local.	5	IN	A	10.0.0.1",
		"web-0.web.a.svc.cluster.local.	5	IN	A	10.0.0.1",
		"_http._tcp.web.a.svc.cluster.local.	5	IN	SRV	0 50 80 web-0.web.a.svc.cluster.local.",
		"web.a.svc.cluster.local.	5	IN	A	10.0.0.2",
		"web-1.web.a.svc.cluster.local.	5	IN	A	10.0.0.2",
		"_http._tcp.web.a.svc.cluster.local.	5	IN	SRV	0 50 80 web-1.web.a.svc.cluster.local.",
	}
)

func collect(t *testing.T, ch <-chan []dns.RR) []string {
	t.Helper()
	var out []string
	for rrs := range ch {
		for _, rr := range rrs {
			out = append(out, rr.String())
		}
	}
	return out
}

func mustTransfer(t *testing.T, h *Headless, zone string, serial uint32) []string {
	t.Helper()
	ch, err := h.Transfer(zone, serial)
	if err != nil {
		t.Fatal(err)
	}
	return collect(t, ch)
}

func TestTransferOwnZone(t *testing.T) {
	h, _ := start(t, config{}, xfrFixture()...)
	got := mustTransfer(t, h, "cluster.local.", 0)
	soa := h.soa(&h.zones[0], "cluster.local.").String()
	want := append([]string{soa, "cluster.local.	5	IN	NS	ns.dns.cluster.local."}, xfrDB...)
	want = append(append(want, xfrWeb...), soa)
	if !slices.Equal(got, want) {
		t.Errorf("transfer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// IXFR with the current serial: the SOA alone; an older one: all of it
	if got := mustTransfer(t, h, "cluster.local.", h.index.Serial()); !slices.Equal(got, []string{soa}) {
		t.Errorf("IXFR with the current serial: %q", got)
	}
	if got := mustTransfer(t, h, "cluster.local.", h.index.Serial()-1); len(got) != len(want) {
		t.Errorf("IXFR with an old serial: %d records, want %d", len(got), len(want))
	}
	// reverse zones and zones not ours: not authoritative
	for _, z := range []string{"in-addr.arpa.", "example.org.", "svc.cluster.local."} {
		if _, err := h.Transfer(z, 0); err != transfer.ErrNotAuthoritative {
			t.Errorf("Transfer(%s): %v, want ErrNotAuthoritative", z, err)
		}
	}
}

func TestTransferHostnamesPolicy(t *testing.T) {
	// a member that is not ready, published by the hostnames policy: its
	// own name only, as queries answer it; SRV weights count listed members
	h, _ := start(t, config{Hostnames: true}, xfrFixture()...)
	got := mustTransfer(t, h, "cluster.local.", 0)
	member := "web-2.web.a.svc.cluster.local.	5	IN	A	10.0.0.3"
	if !slices.Contains(got, member) || slices.Contains(got, "web.a.svc.cluster.local.	5	IN	A	10.0.0.3") {
		t.Errorf("transfer lacks %q or lists it at the Service name:\n%s", member, strings.Join(got, "\n"))
	}
	for _, rr := range got {
		if strings.Contains(rr, "SRV") && (strings.Contains(rr, "web-2") || !strings.Contains(rr, " 50 ")) {
			t.Errorf("SRV %q: a member not ready, or a weight over other than the 2 listed", rr)
		}
	}
}

func TestTransferNotSynced(t *testing.T) {
	h := newHeadless([]string{"cluster.local."}, config{TTL: 5})
	if _, err := h.Transfer("cluster.local.", 0); err != errNotSynced {
		t.Errorf("unsynced: %v, want errNotSynced", err)
	}
}

// stockXfr plays the stock plugin with noendpoints behind us: its SOA, NS,
// the ClusterIP Service's records and a headless record it should not have
// (ours replace it), then the SOA; the SOA alone when asked with its serial.
type stockXfr struct {
	serial uint32
	asked  []uint32
}

func (s *stockXfr) Transfer(zone string, serial uint32) (<-chan []dns.RR, error) {
	if zone != "cluster.local." {
		return nil, transfer.ErrNotAuthoritative
	}
	s.asked = append(s.asked, serial)
	mine := s.serial // (read here: a drained transfer's goroutine may outlive the test's next change)
	soa, _ := dns.NewRR("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. " + uitoa(s.serial) + " 7200 1800 86400 5")
	ch := make(chan []dns.RR)
	go func() {
		defer close(ch)
		ch <- []dns.RR{soa}
		if serial != 0 && serial == mine {
			return
		}
		for _, r := range stockRecords {
			rr, _ := dns.NewRR(r)
			ch <- []dns.RR{rr}
		}
		ch <- []dns.RR{soa}
	}()
	return ch, nil
}

func uitoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }

var stockRecords = []string{
	"cluster.local.	5	IN	NS	ns.dns.cluster.local.",
	"api.a.svc.cluster.local.	5	IN	A	10.96.0.5",
	"api.a.svc.cluster.local.	5	IN	SRV	0 100 80 api.a.svc.cluster.local.",
	"web.a.svc.cluster.local.	5	IN	A	10.9.9.9", // stale: ours answer for web
	"zk.c.svc.cluster.local.	5	IN	A	10.96.0.6",
}

func TestTransferMerged(t *testing.T) {
	h, _ := start(t, config{}, xfrFixture()...)
	next := &stockXfr{serial: 1}
	h.nextXfr = []transfer.Transferer{next}
	got := mustTransfer(t, h, "cluster.local.", 0)
	ours := h.index.Serial()
	soa := "cluster.local.	5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. " + uitoa(ours) + " 7200 1800 86400 5"
	want := []string{soa, stockRecords[0], stockRecords[1], stockRecords[2]} // api < db < web < zk
	want = append(append(append(want, xfrDB...), xfrWeb...), stockRecords[4], soa)
	if !slices.Equal(got, want) {
		t.Errorf("merged transfer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// IXFR with the merged serial: the SOA alone
	if got := mustTransfer(t, h, "cluster.local.", ours); !slices.Equal(got, []string{soa}) {
		t.Errorf("IXFR with the current serial: %q", got)
	}
	// the next plugin's zone is current for the client, ours is newer: the
	// whole merged zone (the next plugin asked again, for all of it)
	next.asked = nil
	if got := mustTransfer(t, h, "cluster.local.", 1); !slices.Equal(got, want) {
		t.Errorf("IXFR with the next plugin's serial:\n%s", strings.Join(got, "\n"))
	}
	if !slices.Equal(next.asked, []uint32{1, 0}) {
		t.Errorf("next plugin asked with serials %v, want [1 0]", next.asked)
	}
	// the next plugin newer than us: its serial
	next.serial = ours + 100
	if got := mustTransfer(t, h, "cluster.local.", 0); !strings.Contains(got[0], " "+uitoa(ours+100)+" ") {
		t.Errorf("SOA %q, want serial %d", got[0], ours+100)
	}
}

func TestApexSerialMerged(t *testing.T) {
	h, _ := start(t, config{}, xfrFixture()...)
	// the next plugin answers the apex SOA with its own serial
	h.Next = plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
		m := new(dns.Msg)
		m.SetReply(r)
		soa, _ := dns.NewRR("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5")
		m.Answer = []dns.RR{soa}
		return dns.RcodeSuccess, w.WriteMsg(m)
	})
	ask := func() uint32 {
		r := new(dns.Msg)
		r.SetQuestion("cluster.local.", dns.TypeSOA)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := h.ServeDNS(context.Background(), rec, r); err != nil {
			t.Fatal(err)
		}
		return rec.Msg.Answer[0].(*dns.SOA).Serial
	}
	if got := ask(); got != 1 {
		t.Errorf("transfer off: apex SOA serial %d, want the next plugin's 1", got)
	}
	h.serialMerge = true
	if got := ask(); got != h.index.Serial() {
		t.Errorf("transfer on: apex SOA serial %d, want ours %d", got, h.index.Serial())
	}
}
