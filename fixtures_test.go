package headless

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/headlessdns/headless/internal/corefile"
	"github.com/headlessdns/headless/internal/object/objecttest"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/miekg/dns"
	discovery "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// toYAML writes o as a manifest document, apiVersion and kind included.
func toYAML(t testing.TB, o runtime.Object) string {
	t.Helper()
	gvks, _, err := scheme.Scheme.ObjectKinds(o)
	if err != nil {
		t.Fatal(err)
	}
	o = o.DeepCopyObject()
	o.GetObjectKind().SetGroupVersionKind(gvks[0])
	b, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Object builders for the fake clientset.
var (
	headlessSvc  = objecttest.HeadlessService
	clusterIPSvc = objecttest.ClusterIPService
	slice        = objecttest.Slice
	http80       = objecttest.HTTP80
)

type (
	ep = objecttest.EP
	pt = objecttest.PT
)

// fixture is the cluster the handler tables run against.
func fixture() []runtime.Object {
	return []runtime.Object{
		headlessSvc("testns", "hdls", nil),
		slice("testns", "hdls-a", "hdls", discovery.AddressTypeIPv4, "", []pt{{Name: "http", Proto: "TCP", Port: 80}, {Name: "dns", Proto: "UDP", Port: 53}},
			ep{IP: "172.0.0.1", Host: "web-0", Target: "web-0", Zone: "us-west-2a"},
			ep{IP: "172.0.0.2", Host: "web-1", Target: "web-1", Zone: "us-west-2b"},
			ep{IP: "172.0.0.3", Target: "hdls-pod-3", Zone: "US-West-2B"},
			ep{IP: "172.0.0.9", Host: "web-9", NotReady: true}),
		slice("testns", "hdls-6", "hdls", discovery.AddressTypeIPv6, "", []pt{{Name: "http", Proto: "TCP", Port: 80}},
			ep{IP: "fd00::1", Zone: "us-west-2a"},
			ep{IP: "fd00:0:0:2::", Zone: "us-west-2b"}),
		// a selector-less headless Service: hand-written slices of another manager
		headlessSvc("testns", "ext", nil),
		slice("testns", "ext-1", "ext", discovery.AddressTypeIPv4, "example.com/manual", []pt{{Name: "pg", Proto: "TCP", Port: 5432}},
			ep{IP: "192.0.2.10", Host: "primary"}),
		slice("testns", "ext-2", "ext", discovery.AddressTypeIPv4, "example.com/manual", []pt{{Name: "pg", Proto: "TCP", Port: 5432}},
			ep{IP: "192.0.2.11", Host: "replica"}, ep{IP: "192.0.2.10", Host: "primary"}),
		// a headless Service without ready endpoints
		headlessSvc("testns", "empty", nil),
		slice("testns", "empty-a", "empty", discovery.AddressTypeIPv4, "", http80, ep{IP: "172.0.1.1", NotReady: true}),
		// a ClusterIP Service: its slice must never be served by headless
		clusterIPSvc("testns", "clstr", "10.0.0.10"),
		slice("testns", "clstr-a", "clstr", discovery.AddressTypeIPv4, "", http80, ep{IP: "172.0.2.1"}),
		// a headless Service with a slice without ports
		headlessSvc("other", "noports", nil),
		slice("other", "noports-a", "noports", discovery.AddressTypeIPv4, "", nil, ep{IP: "172.0.3.1"}),
	}
}

// start runs a plugin on the fake clientset holding objs, synced.
func start(t testing.TB, cfg config, objs ...runtime.Object) (*Headless, *fake.Clientset) {
	t.Helper()
	return startZones(t, []string{"cluster.local.", "in-addr.arpa.", "ip6.arpa."}, cfg, objs...)
}

// startZones is start with zones of one's choice.
func startZones(t testing.TB, zones []string, cfg config, objs ...runtime.Object) (*Headless, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	if cfg.TTL == 0 {
		cfg.TTL = corefile.DefaultTTL
	}
	cfg.StartupTimeout = 10 * time.Second
	h := newHeadless(zones, cfg)
	// the fake clientset filters lists by label but never watches: unfiltered watches
	h.newSource = func() (watch.Source, error) { return watch.FromClient(client), nil }
	if err := h.OnStartup(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.OnShutdown() })
	if !h.Ready() {
		t.Fatal("plugin not ready after start-up")
	}
	return h, client
}

// nextRcode is what the test next handler returns, to tell a pass-through.
const nextRcode = dns.RcodeNotImplemented

func runCases(t *testing.T, h *Headless, cases []test.Case) {
	t.Helper()
	runCasesNext(t, h, test.NextHandler(nextRcode, nil), cases)
}

// runCasesNext runs cases with next as the next plugin (nil: none).
func runCasesNext(t *testing.T, h *Headless, next plugin.Handler, cases []test.Case) {
	t.Helper()
	h.Next = next
	for _, tc := range cases {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			w := dnstest.NewRecorder(&test.ResponseWriter{})
			rcode, err := h.ServeDNS(context.Background(), w, tc.Msg())
			if err != nil {
				t.Fatal(err)
			}
			if tc.Rcode == nextRcode {
				if rcode != nextRcode || w.Msg != nil {
					t.Fatalf("want pass to next plugin, got rcode %d, msg %v", rcode, w.Msg)
				}
				return
			}
			if w.Msg == nil {
				t.Fatalf("no reply; rcode %d", rcode)
			}
			if !w.Msg.Authoritative {
				t.Error("reply is not authoritative")
			}
			for _, sec := range [][]dns.RR{tc.Answer, tc.Ns, tc.Extra} {
				sort.Sort(test.RRSet(sec))
			}
			if err := test.SortAndCheck(w.Msg, tc); err != nil {
				t.Error(err)
			}
		})
	}
}

// waitFor polls until cond holds, failing after 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func query(h *Headless, name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	w := dnstest.NewRecorder(&test.ResponseWriter{})
	_, _ = h.ServeDNS(context.Background(), w, m)
	return w.Msg
}
