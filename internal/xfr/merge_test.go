package xfr

import (
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// ours serves Services b.ns and d.ns (d.ns also in the next plugin's stream).
type ours struct{ serial uint32 }

func (o ours) Serial() uint32 { return o.serial }
func (o ours) Keys() []string { return []string{"b.ns", "d.ns"} }
func (o ours) Owner(name string) (string, bool, bool) {
	parts := strings.Split(strings.TrimSuffix(name, ".svc.cluster.local."), ".")
	if len(parts) < 2 || strings.HasSuffix(name, "pod.cluster.local.") {
		return "", false, false
	}
	key := parts[len(parts)-2] + "." + parts[len(parts)-1]
	return key, key == "b.ns" || key == "d.ns", true
}
func (o ours) Write(key string, emit func([]dns.RR)) {
	emit([]dns.RR{rr(key + ".svc.cluster.local. 5 IN A 10.0.0.1")})
}

func rr(s string) dns.RR {
	r, err := dns.NewRR(s)
	if err != nil {
		panic(err)
	}
	return r
}

func soa(serial uint32) dns.RR {
	return rr(fmt.Sprintf("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. %d 7200 1800 86400 5", serial))
}

// stream is the next plugin's transfer: SOA, its records in batches, SOA.
func stream(serial uint32, batches ...[]dns.RR) <-chan []dns.RR {
	ch := make(chan []dns.RR, len(batches)+2)
	ch <- []dns.RR{soa(serial)}
	for _, b := range batches {
		ch <- b
	}
	ch <- []dns.RR{soa(serial)}
	close(ch)
	return ch
}

func run(o Ours, serial uint32, next <-chan []dns.RR, again func() (<-chan []dns.RR, error)) []string {
	ch := make(chan []dns.RR)
	go Merge(ch, o, serial, next, again)
	var out []string
	for b := range ch {
		for _, r := range b {
			h := r.Header()
			if s, ok := r.(*dns.SOA); ok {
				out = append(out, fmt.Sprintf("SOA %d", s.Serial))
				continue
			}
			out = append(out, dns.TypeToString[h.Rrtype]+" "+h.Name)
		}
	}
	return out
}

func TestMerge(t *testing.T) {
	theirs := func() <-chan []dns.RR {
		return stream(100,
			[]dns.RR{rr("a.ns.svc.cluster.local. 5 IN A 10.96.0.1"), rr("c.ns.svc.cluster.local. 5 IN A 10.96.0.3")},
			[]dns.RR{rr("d.ns.svc.cluster.local. 5 IN A 10.96.0.4"), rr("e.ns.svc.cluster.local. 5 IN A 10.96.0.5")})
	}
	noAgain := func() (<-chan []dns.RR, error) { t.Fatal("asked again"); return nil, nil }
	want := "SOA 200, A a.ns.svc.cluster.local., A b.ns.svc.cluster.local., A c.ns.svc.cluster.local., A d.ns.svc.cluster.local., A e.ns.svc.cluster.local., SOA 200"
	if got := strings.Join(run(ours{200}, 0, theirs(), noAgain), ", "); got != want {
		t.Errorf("AXFR:\n got %s\nwant %s", got, want)
	}
	// our serial older than theirs: theirs
	if got := run(ours{50}, 0, theirs(), noAgain); got[0] != "SOA 100" || got[len(got)-1] != "SOA 100" {
		t.Errorf("serial: %v", got)
	}
	// IXFR at the current serial: the SOA alone
	if got := strings.Join(run(ours{200}, 200, theirs(), noAgain), ", "); got != "SOA 200" {
		t.Errorf("IXFR current: %s", got)
	}
	// the next plugin's zone unchanged for the serial (its SOA alone), ours
	// changed: a full transfer of its zone, asked again
	unchanged := make(chan []dns.RR, 1)
	unchanged <- []dns.RR{soa(100)}
	close(unchanged)
	asked := false
	again := func() (<-chan []dns.RR, error) { asked = true; return theirs(), nil }
	if got := strings.Join(run(ours{200}, 100, unchanged, again), ", "); !asked || got != want {
		t.Errorf("IXFR, ours changed (asked again %v):\n got %s\nwant %s", asked, got, want)
	}
	// records at no Service pass in place
	if got := run(ours{200}, 0, stream(100, []dns.RR{rr("1-2-3-4.ns.pod.cluster.local. 5 IN A 1.2.3.4")}), noAgain); len(got) != 5 || got[1] != "A 1-2-3-4.ns.pod.cluster.local." {
		t.Errorf("other records: %v", got)
	}
}

func TestOwn(t *testing.T) {
	own := func(serial uint32) string {
		ch := make(chan []dns.RR)
		ns := []dns.RR{rr("cluster.local. 5 IN NS ns.dns.cluster.local.")}
		go Own(ch, serial, soa(200).(*dns.SOA), [][]dns.RR{ns, HostAddrs("ns.dns.cluster.local.", nil)}, ours{200})
		var out []string
		for b := range ch {
			for _, r := range b {
				out = append(out, dns.TypeToString[r.Header().Rrtype]+" "+r.Header().Name)
			}
		}
		return strings.Join(out, ", ")
	}
	if got, want := own(0), "SOA cluster.local., NS cluster.local., A b.ns.svc.cluster.local., A d.ns.svc.cluster.local., SOA cluster.local."; got != want {
		t.Errorf("AXFR:\n got %s\nwant %s", got, want)
	}
	if got := own(200); got != "SOA cluster.local." {
		t.Errorf("IXFR current: %s", got)
	}
	if got := own(199); !strings.HasPrefix(got, "SOA cluster.local., NS") {
		t.Errorf("IXFR older: %s", got)
	}
}
