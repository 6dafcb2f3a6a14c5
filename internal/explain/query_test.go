package explain

import (
	"net/netip"
	"testing"

	"github.com/headlessdns/headless/internal/names"
)

func TestQueryOf(t *testing.T) {
	const zone = "cluster.local."
	for _, c := range []struct {
		name, zone string
		want       Query
	}{
		{"default.svc.cluster.local.", zone, Query{Kind: Namespace, Namespace: "default"}},
		{"1-2-3-4.default.pod.cluster.local.", zone, Query{Kind: Other}},
		{"web.default.svc.cluster.local.", zone, Query{Kind: Service, Namespace: "default", Service: "web"}},
		{"web-3.web.default.svc.cluster.local.", zone, Query{Kind: Endpoint, Namespace: "default", Service: "web", Host: "web-3"}},
		{"_https._tcp.web.default.svc.cluster.local.", zone, Query{Kind: Port, Namespace: "default", Service: "web", PortName: "https", Proto: "tcp"}},
		{"a.pin._zone.web.default.svc.cluster.local.", zone, Query{Kind: TopoZone, Namespace: "default", Service: "web"}},
		{"a.b.c.web.default.svc.cluster.local.", zone, Query{Kind: Other, Namespace: "default", Service: "web"}},
		{"10.1.244.10.in-addr.arpa.", "in-addr.arpa.", Query{Kind: Reverse, Addr: netip.MustParseAddr("10.244.1.10")}},
		{"1.244.10.in-addr.arpa.", "in-addr.arpa.", Query{Kind: ReverseAbove}},
		{"x.in-addr.arpa.", "in-addr.arpa.", Query{Kind: Other}},
	} {
		c.want.Name, c.want.Type = c.name, 1
		var fwd names.Forward
		if !names.IsReverse(c.name) {
			fwd = names.ParseForward(c.name, len(c.zone), true, false)
		}
		if got := QueryOf(c.name, 1, fwd); got != c.want {
			t.Errorf("QueryOf(%q) = %+v, want %+v", c.name, got, c.want)
		}
	}
	for name, want := range map[string]string{
		"web-3.web.default.svc.cluster.local.":      "web-3.web.default",
		"10.1.244.10.in-addr.arpa.":                 "10.244.1.10",
		"_http._tcp.web.default.svc.cluster.local.": "_http._tcp.web.default",
	} {
		if got := ShortName(name, zone); got != want {
			t.Errorf("ShortName(%q) = %q, want %q", name, got, want)
		}
	}
}
