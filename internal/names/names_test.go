package names

import (
	"net/netip"
	"testing"
)

func TestInZone(t *testing.T) {
	for _, c := range []struct {
		name, zone string
		want       bool
	}{
		{"cluster.local.", "cluster.local.", true},
		{"a.cluster.local.", "cluster.local.", true},
		{"xcluster.local.", "cluster.local.", false},
		{`x\.cluster.local.`, "cluster.local.", false},
		{`x\\.cluster.local.`, "cluster.local.", true}, // an escaped backslash, then a real dot
		{"local.", "cluster.local.", false},
		{"anything.", ".", true},
	} {
		if got := InZone(c.name, c.zone); got != c.want {
			t.Errorf("InZone(%q, %q) = %v", c.name, c.zone, got)
		}
	}
}

func TestParseReverse(t *testing.T) {
	for name, want := range map[string]string{
		"in-addr.arpa.":           "0.0.0.0/0",
		"10.in-addr.arpa.":        "10.0.0.0/8",
		"1.244.10.in-addr.arpa.":  "10.244.1.0/24",
		"4.3.2.1.in-addr.arpa.":   "1.2.3.4/32",
		"5.4.3.2.1.in-addr.arpa.": "",
		"01.10.in-addr.arpa.":     "",
		"256.in-addr.arpa.":       "",
		"d.f.ip6.arpa.":           "fd00::/8",
		"dd.f.ip6.arpa.":          "",
		"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.": "fd00::1/128",
		"example.org.": "",
	} {
		p, ok := ParseReverse(name)
		if (want == "") != !ok || (ok && p != netip.MustParsePrefix(want)) {
			t.Errorf("ParseReverse(%q) = %v %v, want %q", name, p, ok, want)
		}
	}
}

func TestParseForward(t *testing.T) {
	const zone = "cluster.local."
	for _, c := range []struct {
		name  string
		zonal bool
		want  Forward
	}{
		{"cluster.local.", false, Forward{Kind: Apex}},
		{"ns.dns.cluster.local.", false, Forward{Kind: NS}},
		{"svc.cluster.local.", false, Forward{Kind: SvcLabel}},
		{"db.svc.cluster.local.", false, Forward{Kind: Namespace, Namespace: "db"}},
		{"pod.cluster.local.", false, Forward{}},
		{"1-2-3-4.db.pod.cluster.local.", false, Forward{}},
		{"pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db"}},
		{"pg-0.pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "pg-0"}},
		{"_sql._tcp.pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_sql._tcp"}},
		{"sql.tcp.pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_sql._tcp"}},
		{"_sql.tcp.pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_sql._tcp"}},
		{"_._.pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_._"}},
		{"a.pin._zone.pg.db.svc.cluster.local.", true, Forward{Kind: Service, Namespace: "db", Service: "pg.db", TopoZone: "a"}},
		{"a.prefer._zone.pg.db.svc.cluster.local.", true, Forward{Kind: Service, Namespace: "db", Service: "pg.db", TopoZone: "a", Prefer: true}},
		{"a.pin._zone.pg.db.svc.cluster.local.", false, Forward{Kind: Service, Namespace: "db", Service: "pg.db", TooLong: true}},
		{"x.y.z.pg.db.svc.cluster.local.", true, Forward{Kind: Service, Namespace: "db", Service: "pg.db", TooLong: true}},
		{`a\.b.db.svc.cluster.local.`, false, Forward{Kind: Service, Namespace: "db", Service: `a\.b.db`}},
	} {
		if got := ParseForward(c.name, len(zone), c.zonal, false); got != c.want {
			t.Errorf("ParseForward(%q, zonal %v) = %+v, want %+v", c.name, c.zonal, got, c.want)
		}
	}
}

// In a clusterset zone two labels without an underscore are
// <hostname>.<clusterid>; every other shape reads as in a cluster zone.
func TestParseForwardClusterset(t *testing.T) {
	const zone = "clusterset.local."
	for name, want := range map[string]Forward{
		"pg.db.svc.clusterset.local.":           {Kind: Service, Namespace: "db", Service: "pg.db"},
		"pg-0.east.pg.db.svc.clusterset.local.": {Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "pg-0.east"},
		"pg-0.pg.db.svc.clusterset.local.":      {Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "pg-0"},
		"_sql._tcp.pg.db.svc.clusterset.local.": {Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_sql._tcp"},
		"_sql.tcp.pg.db.svc.clusterset.local.":  {Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_sql._tcp"},
		"sql._tcp.pg.db.svc.clusterset.local.":  {Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_sql._tcp"},
		"_._.pg.db.svc.clusterset.local.":       {Kind: Service, Namespace: "db", Service: "pg.db", Prefix: "_._"},
		"a.b.c.pg.db.svc.clusterset.local.":     {Kind: Service, Namespace: "db", Service: "pg.db", TooLong: true},
		"db.svc.clusterset.local.":              {Kind: Namespace, Namespace: "db"},
		"dns-version.clusterset.local.":         {},
		"clusterset.local.":                     {Kind: Apex},
	} {
		if got := ParseForward(name, len(zone), false, true); got != want {
			t.Errorf("ParseForward(%q, clusterset) = %+v, want %+v", name, got, want)
		}
	}
}
