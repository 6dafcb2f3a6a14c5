package headless

import (
	"context"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/miekg/dns"
)

// Before the first sync Service names get SERVFAIL, never NXDOMAIN, and Ready is false.
func TestNotSynced(t *testing.T) {
	h := newHeadless([]string{"cluster.local.", "in-addr.arpa."}, config{TTL: 5})
	h.Next = test.NextHandler(nextRcode, nil)
	if h.Ready() {
		t.Fatal("ready before any sync")
	}
	for _, name := range []string{"hdls.testns.svc.cluster.local.", "web-0.hdls.testns.svc.cluster.local.", "1.0.0.172.in-addr.arpa."} {
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		_, _ = h.ServeDNS(context.Background(), w, m)
		if w.Msg == nil || w.Msg.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: want SERVFAIL before sync, got %v", name, w.Msg)
		}
	}
	// names that cannot be a headless Service still pass on
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	m := new(dns.Msg)
	m.SetQuestion("dns-version.cluster.local.", dns.TypeTXT)
	if rc, _ := h.ServeDNS(context.Background(), w, m); rc != nextRcode {
		t.Errorf("dns-version before sync: want pass, got %d", rc)
	}
}

// Only the slice watch fails: the Service watch tells which names are ours.
// Names of other Services pass on at once; ours are SERVFAIL, never a false
// NXDOMAIN; Ready stays false.
func TestSliceWatchFails(t *testing.T) {
	h := startForbidden(t, "endpointslices", 50*time.Millisecond, 100*time.Millisecond)
	waitFor(t, "Service watch synced", h.index.ServicesSynced)
	// the failing watch is down and, past StaleAfter, logged as serving the
	// last known state; the Service watch is up
	for i, spec := range watch.Specs(nil, "", false, false) {
		health := func() watch.Health { return h.health.Health()[i] }
		if spec.Resource == "services" {
			waitFor(t, "services watch up", func() bool { return health().Up })
			continue
		}
		waitFor(t, "slice watch logged stale", func() bool {
			w := health()
			return w.Stale && !w.Up && !w.FailingSince.IsZero()
		})
	}
	if h.Ready() {
		t.Fatal("ready without endpoint slices")
	}
	for name, want := range map[string]int{
		"clstr.testns.svc.cluster.local.": nextRcode,
		"ghost.testns.svc.cluster.local.": nextRcode,
		svcName:                           dns.RcodeServerFailure,
		h0:                                dns.RcodeServerFailure,
		"1.0.0.172.in-addr.arpa.":         dns.RcodeServerFailure,
	} {
		if got := rcodeOf(h, name); got != want {
			t.Errorf("%s: rcode %d, want %d", name, got, want)
		}
	}
}

// The Service watch fails: SERVFAIL until startup_timeout has passed since
// start, then every Service name passes on (the next plugin answers, or says
// SERVFAIL while it is not synced itself), and the fallback is shown.
func TestServiceWatchFailsFallsBack(t *testing.T) {
	h := startForbidden(t, "services", 200*time.Millisecond, 0)
	now := h.startedAt
	h.clock = func() time.Time { return now }
	if got := rcodeOf(h, "clstr.testns.svc.cluster.local."); got != dns.RcodeServerFailure {
		t.Fatalf("before startup_timeout: rcode %d, want SERVFAIL", got)
	}
	now = now.Add(200 * time.Millisecond)
	for _, name := range []string{"clstr.testns.svc.cluster.local.", svcName, "1.0.0.172.in-addr.arpa."} {
		if got := rcodeOf(h, name); got != nextRcode {
			t.Errorf("%s after startup_timeout: rcode %d, want passed on", name, got)
		}
	}
	if !h.fellBack.Load() {
		t.Error("fallback not shown")
	}
}
