package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// records is a reply's rcode and answer records (cache-independent: no TTLs).
func records(addr, name string, qtype uint16) string {
	r, err := testbed.Exchange(addr, name, qtype, false)
	if err != nil {
		return "error: " + err.Error()
	}
	rcode, rrs := testbed.Answers(r)
	for i, rr := range rrs {
		rrs[i] = strings.Join(strings.Fields(rr), " ")
	}
	return strings.TrimSpace(rcode + " " + strings.Join(rrs, " | "))
}

// untilRecords waits until name's records are want; it returns how long it took.
func untilRecords(t *testing.T, within time.Duration, addr, name string, qtype uint16, want string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got := records(addr, name, qtype)
		if got == want {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("%s %s: %q after %v, want %q", name, dns.TypeToString[qtype], got, within, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// negativeSOA asks name and returns its rcode and the SOA's TTL and MINIMUM.
func negativeSOA(t *testing.T, addr, name string, qtype uint16) (string, uint32, uint32) {
	t.Helper()
	r, err := testbed.Exchange(addr, name, qtype, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 0 || len(r.Ns) != 1 {
		t.Fatalf("%s: not a negative answer with an SOA: %v", name, r)
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	if !ok {
		t.Fatalf("%s: authority %v", name, r.Ns)
	}
	return dns.RcodeToString[r.Rcode], soa.Hdr.Ttl, soa.Minttl
}

// TestBootstrap: StatefulSet-shaped members on the real control plane (the
// real endpointslice controller writes their slices), behind cache 30.
// With publish-not-ready: hostnames a starting member resolves by its own
// name and PTR while the Service name and SRV keep the ready ones; with
// negative-ttl: 0 negative SOAs carry 0, and a member created after a peer
// asked for it resolves through the cache as soon as its endpoint reaches
// us. The same shape without annotations answers whole replies as stock.
func TestBootstrap(t *testing.T) {
	c := testbed.StartCluster(t)
	c.Node(t, "node-a", "zone-a")
	c.Namespace(t, "app")
	ours := startOursWith(t, c.Admin, "cache 30", "startup_timeout 10s")
	bare := startOurs(t, c.Admin, "") // no cache: whole replies and SOA TTLs as written
	stock := startStock(t, c.Admin)

	for _, name := range []string{"db", "plain"} {
		s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "app", Name: name},
			Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone, Selector: map[string]string{"app": name}, Ports: []core.ServicePort{testbed.ServicePort("peer", 7000)}}}
		if name == "db" {
			s.Annotations = map[string]string{"headless.dns/publish-not-ready": "hostnames", "headless.dns/negative-ttl": "0"}
		}
		if _, err := c.Client.CoreV1().Services("app").Create(bg, s, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	member := func(set string, i int, ip string, ready bool) {
		n := fmt.Sprintf("%s-%d", set, i)
		c.Pod(t, testbed.PodSpec{Namespace: "app", Name: n, Node: "node-a", Labels: map[string]string{"app": set},
			Hostname: n, Subdomain: set, IPs: []string{ip}, Ready: ready})
	}
	member("db", 0, "10.244.1.10", true)
	member("db", 1, "10.244.1.11", false)
	member("plain", 0, "10.244.2.10", true)
	member("plain", 1, "10.244.2.11", false)

	const db, plain = "db.app" + zone, "plain.app" + zone
	untilRecords(t, 30*time.Second, ours.Addr, "db-1."+db, dns.TypeA, "NOERROR A 10.244.1.11")
	for _, x := range []struct {
		name  string
		qtype uint16
		want  string
	}{
		{"db-0." + db, dns.TypeA, "NOERROR A 10.244.1.10"},
		{"11.1.244.10.in-addr.arpa.", dns.TypePTR, "NOERROR PTR db-1." + db},
		{db, dns.TypeA, "NOERROR A 10.244.1.10"},
		{"_peer._tcp." + db, dns.TypeSRV, "NOERROR SRV 0 100 7000 db-0." + db},
		{"db-1." + db, dns.TypeSRV, "NOERROR SRV 0 100 7000 db-1." + db},
	} {
		for _, addr := range []string{ours.Addr, bare.Addr} {
			if got := records(addr, x.name, x.qtype); got != x.want {
				t.Errorf("%s %s: %q, want %q", x.name, dns.TypeToString[x.qtype], got, x.want)
			}
		}
	}
	// negative answers below db: SOA TTL and MINIMUM 0, as written and
	// through cache
	for _, x := range []struct {
		name  string
		qtype uint16
		rcode string
	}{{"db-9." + db, dns.TypeA, "NXDOMAIN"}, {db, dns.TypeAAAA, "NOERROR"}, {"_nope._tcp." + db, dns.TypeSRV, "NXDOMAIN"}} {
		if rc, ttl, minttl := negativeSOA(t, bare.Addr, x.name, x.qtype); rc != x.rcode || ttl != 0 || minttl != 0 {
			t.Errorf("%s %s: %s, SOA TTL %d MINIMUM %d; want %s, 0, 0", x.name, dns.TypeToString[x.qtype], rc, ttl, minttl, x.rcode)
		}
		for _, from := range []string{"miss", "hit"} { // the front step clamps what cache rewrote to its 5 s floor
			if rc, ttl, minttl := negativeSOA(t, ours.Addr, x.name, x.qtype); rc != x.rcode || ttl != 0 || minttl != 0 {
				t.Errorf("%s %s through cache (%s): %s, SOA TTL %d MINIMUM %d; want 0, 0", x.name, dns.TypeToString[x.qtype], from, rc, ttl, minttl)
			}
		}
	}
	if rc, ttl, minttl := negativeSOA(t, bare.Addr, "plain-9."+plain, dns.TypeA); rc != "NXDOMAIN" || ttl != 5 || minttl != 5 {
		t.Errorf("plain-9: %s, SOA TTL %d MINIMUM %d; want stock's 5, 5", rc, ttl, minttl)
	}

	// the Service without annotations: whole replies as stock, before and
	// after plain-1 turns ready
	plainNames := []q{{name: plain, qtype: dns.TypeA}, {name: "plain-0." + plain, qtype: dns.TypeA}, {name: "plain-1." + plain, qtype: dns.TypeA},
		{name: "_peer._tcp." + plain, qtype: dns.TypeSRV}, {name: "10.2.244.10.in-addr.arpa.", qtype: dns.TypePTR}, {name: "11.2.244.10.in-addr.arpa.", qtype: dns.TypePTR}}
	sameWholeReply := func(when string) {
		for _, x := range plainNames {
			for _, tr := range []transport{udp512, udpEDNS, tcp} {
				eventually(t, 30*time.Second, when+": "+x.name+" as stock over "+tr.String(), func() error {
					if a, b := fullReply(bare.Addr, x.name, x.qtype, tr), fullReply(stock.Addr, x.name, x.qtype, tr); a != b {
						return fmt.Errorf("ours:\n%s\nstock:\n%s", a, b)
					}
					return nil
				})
			}
		}
	}
	sameWholeReply("plain-1 not ready")
	c.SetPodStatus(t, "app", "plain-1", []string{"10.244.2.11"}, true)
	untilRecords(t, 30*time.Second, bare.Addr, plain, dns.TypeA, "NOERROR A 10.244.2.10 | A 10.244.2.11")
	sameWholeReply("plain-1 ready")

	// a member created after a peer asked for it, through cache 30
	before := metric(t, ours.metrics, "coredns_headless_negative_replaced_total")
	for _, name := range []string{"db-2." + db, "plain-2." + plain} {
		for range 2 { // the second from the cache
			if got := records(ours.Addr, name, dns.TypeA); got != "NXDOMAIN" {
				t.Fatalf("%s before it exists: %q", name, got)
			}
		}
	}
	created := time.Now()
	member("db", 2, "10.244.1.12", false) // starting: published by its own name
	member("plain", 2, "10.244.2.12", true)
	untilRecords(t, 30*time.Second, ours.Addr, "db-2."+db, dns.TypeA, "NOERROR A 10.244.1.12")
	dbAt := time.Since(created)
	plainTook := untilRecords(t, 60*time.Second, ours.Addr, "plain-2."+plain, dns.TypeA, "NOERROR A 10.244.2.12")
	plainAt := dbAt + plainTook
	t.Logf("after a cached NXDOMAIN, through cache 30: db-2 (negative-ttl 0, not ready) resolved %v after its pod was created; plain-2 (no annotation, ready) %v (stock's 5 s denial floor)",
		dbAt.Round(time.Millisecond), plainAt.Round(time.Millisecond))
	if got := metric(t, ours.metrics, "coredns_headless_negative_replaced_total") - before; got < 1 {
		t.Errorf("negative_replaced_total rose by %v, want at least 1", got)
	}
	if got := records(ours.Addr, "12.1.244.10.in-addr.arpa.", dns.TypePTR); got != "NOERROR PTR db-2."+db {
		t.Errorf("db-2's PTR: %q", got)
	}
	if got := records(ours.Addr, db, dns.TypeA); got != "NOERROR A 10.244.1.10" {
		t.Errorf("db with db-2 starting: %q, want the ready member only", got)
	}
}
