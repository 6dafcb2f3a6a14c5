package explain

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/names"
	"github.com/headlessdns/headless/internal/object"
	"github.com/headlessdns/headless/internal/object/objecttest"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
)

const zone = "cluster.local."

// question is a query of name as the plugin's grammar reads it.
func question(name string, qtype uint16) Query {
	var fwd names.Forward
	if !names.IsReverse(name) {
		fwd = names.ParseForward(name, len(zone), false, false)
	}
	return QueryOf(name, qtype, fwd)
}

// reasonsIndex holds web (web-0 ready, web-1 not ready, web-2 terminating,
// port http/tcp 80), empty (a headless Service with a selector and no
// endpoints) and, in namespace other, a Service the stanza leaves out.
func reasonsIndex(t *testing.T) *index.Index {
	ix := index.New(index.Options{Zones: []string{zone}, TTL: 5})
	svc := func(ns, name string, selector bool) {
		s := objecttest.HeadlessService(ns, name, nil)
		if selector {
			s.Spec.Selector = map[string]string{"app": name}
		}
		o, _ := object.TransformService(s)
		ix.UpdateService(o.(*object.Service), false)
	}
	svc("ns", "web", true)
	svc("ns", "empty", true)
	svc("other", "db", true)
	ix.UpdateSlice(object.SliceFromAPI(objecttest.Slice("ns", "web-abc", "web", discovery.AddressTypeIPv4, "", objecttest.HTTP80,
		objecttest.EP{IP: "10.1.0.10", Host: "web-0", Target: "web-0"},
		objecttest.EP{IP: "10.1.0.11", Host: "web-1", Target: "web-1", NotReady: true},
		objecttest.EP{IP: "10.1.0.12", Host: "web-2", Target: "web-2", Terminating: true})), false, 0)
	ix.UpdateSlice(object.SliceFromAPI(objecttest.Slice("other", "db-abc", "db", discovery.AddressTypeIPv4, "", objecttest.HTTP80,
		objecttest.EP{IP: "10.2.0.10", Host: "db-0"})), false, 0)
	ix.MarkServicesSynced()
	ix.MarkSynced()
	if !ix.WaitSynced(5*time.Second, nil) {
		t.Fatal("index not synced")
	}
	return ix
}

// Each reason code, from an index holding the case: the code, and the
// names its message must mention.
func TestReasonCodes(t *testing.T) {
	ix := reasonsIndex(t)
	lookup := NewLookup(func(_ context.Context, ns, name string) (*core.Service, error) {
		switch {
		case ns == "ns" && name == "api":
			return objecttest.ClusterIPService(ns, name, "10.96.0.20"), nil
		case ns == "ns" && name == "empty": // its selector, as the API server has it
			s := objecttest.HeadlessService(ns, name, nil)
			s.Spec.Selector = map[string]string{"app": "empty"}
			return s, nil
		}
		return nil, nil
	})
	defer lookup.Close()
	since := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	stale := false
	ex := New(Options{Index: ix, Namespaces: []string{"ns"}, Lookup: lookup,
		Stale: func() (string, time.Time, bool) { return "endpointslices/controller", since, stale }})
	for _, c := range []struct {
		name     string
		qtype    uint16
		answered bool
		code     string
		mentions []string
	}{
		{"nope.ns.svc.cluster.local.", dns.TypeA, false, NoService, []string{"nope", "ns"}},
		{"x.api.ns.svc.cluster.local.", dns.TypeA, false, NotHeadless, []string{"api", "10.96.0.20"}},
		{"empty.ns.svc.cluster.local.", dns.TypeA, false, NoEndpoints, []string{"empty", "app=empty"}},
		{"web-1.web.ns.svc.cluster.local.", dns.TypeA, false, NotReady, []string{"10.1.0.11", "web-1"}},
		{"web-2.web.ns.svc.cluster.local.", dns.TypeA, false, Terminating, []string{"10.1.0.12", "web-2"}},
		{"web-9.web.ns.svc.cluster.local.", dns.TypeA, false, NoHostname, []string{"web-9", "web-0"}},
		{"_https._tcp.web.ns.svc.cluster.local.", dns.TypeSRV, false, NoPort, []string{"https", "http/tcp 80"}},
		{"web-0.web.ns.svc.cluster.local.", dns.TypeAAAA, false, WrongFamily, []string{"web-0"}},
		{"db.other.svc.cluster.local.", dns.TypeA, false, Filtered, []string{"other"}},
		{"web-0.web.ns.svc.cluster.local.", dns.TypeA, false, Unknown, nil},
	} {
		rs := ex.Reasons(question(c.name, c.qtype), c.answered, time.Second)
		if len(rs) == 0 || rs[0].Code != c.code {
			t.Errorf("%s %s: reasons %+v, want code %s", c.name, dns.TypeToString[c.qtype], rs, c.code)
			continue
		}
		for _, m := range c.mentions {
			if !strings.Contains(rs[0].Message, m) {
				t.Errorf("%s %s (%s): message %q does not mention %q", c.name, dns.TypeToString[c.qtype], c.code, rs[0].Message, m)
			}
		}
		if rs[0].Fix == "" {
			t.Errorf("%s: %s has no fix", c.name, c.code)
		}
	}
	// out of the plugin's zones
	if rs := ex.Reasons(Query{Name: "web.example.org.", Type: dns.TypeA}, false, 0); len(rs) != 1 || rs[0].Code != NotInZone {
		t.Errorf("out of zone: %+v", rs)
	}
	// a failing watch: stale, with the time, beside the name's own reason
	stale = true
	rs := ex.Reasons(question("web-1.web.ns.svc.cluster.local.", dns.TypeA), false, 0)
	codes := []string{}
	for _, r := range rs {
		codes = append(codes, r.Code)
	}
	if len(rs) != 2 || !strings.Contains(strings.Join(codes, " "), Stale) || !strings.Contains(strings.Join(codes, " "), NotReady) {
		t.Fatalf("stale: %+v", rs)
	}
	for _, r := range rs {
		if r.Code == Stale && (!strings.Contains(r.Message, "2026-12-05T10:00:00Z") || !strings.Contains(r.Message, "endpointslices/controller")) {
			t.Errorf("stale message %q", r.Message)
		}
	}
}

// With namespace_labels, a name in a namespace the selector leaves out is
// filtered, naming the selector; one in scope is explained as usual.
func TestReasonNamespaceLabels(t *testing.T) {
	ix := index.New(index.Options{Zones: []string{zone}, TTL: 5, Scoped: true})
	s := objecttest.HeadlessService("team-a", "web", nil)
	o, _ := object.TransformService(s)
	ix.UpdateService(o.(*object.Service), false)
	s = objecttest.HeadlessService("team-b", "web", nil)
	o, _ = object.TransformService(s)
	ix.UpdateService(o.(*object.Service), false)
	ix.SetNamespace("team-a", true)
	ex := New(Options{Index: ix, NSLabels: "dns=on"})
	for _, c := range []struct {
		name, code string
		mentions   []string
	}{
		{"web-0.web.team-b.svc.cluster.local.", Filtered, []string{"team-b", "namespace_labels (dns=on)"}},
		{"web.gone.svc.cluster.local.", Filtered, []string{"gone", "dns=on"}},
		{"web-0.web.team-a.svc.cluster.local.", NoEndpoints, []string{"web"}},
	} {
		rs := ex.Reasons(question(c.name, dns.TypeA), false, 0)
		if len(rs) == 0 || rs[0].Code != c.code {
			t.Errorf("%s: reasons %+v, want code %s", c.name, rs, c.code)
			continue
		}
		for _, m := range c.mentions {
			if !strings.Contains(rs[0].Message, m) {
				t.Errorf("%s: message %q does not mention %q", c.name, rs[0].Message, m)
			}
		}
	}
}
