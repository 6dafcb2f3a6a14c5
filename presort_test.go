package headless

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// TestPresort: when headless writes the Service name's answer in the
// client's order itself (blocks without cache), every client gets exactly
// the reply the front step alone gives, also when a shuffler between the
// two undoes headless's order.
func TestPresort(t *testing.T) {
	h, _ := start(t, config{topology: true, defaultMode: trafficSameZone}, topologyCluster()...)
	h.Next = test.NextHandler(dns.RcodeNameError, nil)
	waitFor(t, "nodes", func() bool { return h.locate(netip.MustParseAddr("10.1.0.5")).known() })
	for _, between := range []string{"nothing", "a shuffler"} {
		var next plugin.Handler = h
		if between != "nothing" {
			next = reverser{next: h}
		}
		alone, pre := &front{h: h, next: next}, &front{h: h, next: next, presort: true}
		for _, from := range []string{"10.1.0.5", "10.1.2.7", "192.168.0.2", "172.16.3.3", "203.0.113.1"} {
			for _, name := range []string{"db.ns.svc.cluster.local.", "near.ns.svc.cluster.local.", "plain.ns.svc.cluster.local."} {
				for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeSRV} {
					if qt == dns.TypeSRV {
						name = "_http._tcp." + name
					}
					want := ask(t, alone, from, false, name, qt)
					got := ask(t, pre, from, false, name, qt)
					if w, g := rrStrings(want.Answer), rrStrings(got.Answer); !slices.Equal(w, g) {
						t.Errorf("%s between, %s from %s: presorted %v, want %v", between, name, from, g, w)
					}
				}
			}
		}
	}
	// the presorted path really ran: from zone-a, db's zone-a endpoints first
	got := addrsOf(ask(t, &front{h: h, next: h, presort: true}, "10.1.0.5", false, "db.ns.svc.cluster.local.", dns.TypeA).Answer)
	if !sameSet(got[:2], []string{"10.1.0.10", "10.1.2.10"}) {
		t.Errorf("presorted from zone-a: %v", got)
	}
}

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	return out
}

// writerFunc is a next plugin made of a function.
type writerFunc func(w dns.ResponseWriter, r *dns.Msg) (int, error)

func (f writerFunc) Name() string { return "writer" }
func (f writerFunc) ServeDNS(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	return f(w, r)
}

// logWriter records what reaches the client, in order.
type logWriter struct {
	test.ResponseWriter
	got  []string
	fail bool
}

func (w *logWriter) WriteMsg(m *dns.Msg) error {
	if w.fail {
		return errors.New("connection gone")
	}
	w.got = append(w.got, "msg:"+dns.RcodeToString[m.Rcode])
	return nil
}

func (w *logWriter) Write(b []byte) (int, error) {
	w.got = append(w.got, "raw")
	return len(b), nil
}

// TestFrontHeldWrites: the front step holds a reply until the plugins below
// return; what they write still reaches the client, once each and in order,
// and a failed write is an error of the query.
func TestFrontHeldWrites(t *testing.T) {
	h, _ := start(t, config{maxAnswers: 2}, topologyCluster()...)
	q := new(dns.Msg)
	q.SetQuestion("db.ns.svc.cluster.local.", dns.TypeA)
	reply := func(rcode int) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(q, rcode)
		return m
	}
	var late dns.ResponseWriter
	for _, tc := range []struct {
		name  string
		next  writerFunc
		fail  bool
		want  []string
		wantE bool
	}{
		{"one", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) { return 0, w.WriteMsg(reply(dns.RcodeSuccess)) },
			false, []string{"msg:NOERROR"}, false},
		{"two", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) {
			w.WriteMsg(reply(dns.RcodeSuccess))
			return 0, w.WriteMsg(reply(dns.RcodeNameError))
		}, false, []string{"msg:NOERROR", "msg:NXDOMAIN"}, false},
		{"then raw", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) {
			w.WriteMsg(reply(dns.RcodeSuccess))
			_, err := w.Write([]byte{0})
			return 0, err
		}, false, []string{"msg:NOERROR", "raw"}, false},
		{"failed write", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) { return 0, w.WriteMsg(reply(dns.RcodeSuccess)) },
			true, nil, true},
		{"after return", func(w dns.ResponseWriter, _ *dns.Msg) (int, error) { late = w; return 0, nil },
			false, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lw := &logWriter{fail: tc.fail}
			rc, err := (&front{h: h, next: tc.next}).ServeDNS(context.Background(), lw, q)
			if (err != nil) != tc.wantE || (tc.wantE && rc != dns.RcodeServerFailure) {
				t.Errorf("rcode %d, err %v; want an error: %v", rc, err, tc.wantE)
			}
			if !slices.Equal(lw.got, tc.want) {
				t.Errorf("written %v, want %v", lw.got, tc.want)
			}
			if tc.name == "after return" {
				if err := late.WriteMsg(reply(dns.RcodeSuccess)); err != nil || !slices.Equal(lw.got, []string{"msg:NOERROR"}) {
					t.Errorf("late write: %v, written %v", err, lw.got)
				}
			}
		})
	}
}
