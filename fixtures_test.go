package headless

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
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

func headlessSvc(ns, name string, lbls map[string]string) *core.Service {
	return &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone}}
}

func clusterIPSvc(ns, name, ip string) *core.Service {
	return &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name}, Spec: core.ServiceSpec{ClusterIP: ip, ClusterIPs: []string{ip}}}
}

type ep struct {
	ip, host, target, zone string
	notReady               bool
}

type pt struct {
	name, proto string
	port        int32
}

// slice builds an EndpointSlice; manager "" means the endpointslice controller
// (with the headless label), anything else a selector-less Service's slice.
func slice(ns, name, svc string, t discovery.AddressType, manager string, ports []pt, eps ...ep) *discovery.EndpointSlice {
	lbls := map[string]string{discovery.LabelServiceName: svc}
	if manager == "" {
		lbls[discovery.LabelManagedBy] = managerController
		lbls[labelHeadless] = ""
	} else {
		lbls[discovery.LabelManagedBy] = manager
	}
	s := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: lbls}, AddressType: t}
	for _, p := range ports {
		p := p
		proto := core.Protocol(p.proto)
		s.Ports = append(s.Ports, discovery.EndpointPort{Name: &p.name, Protocol: &proto, Port: &p.port})
	}
	for _, e := range eps {
		ready := !e.notReady
		d := discovery.Endpoint{Addresses: []string{e.ip}, Conditions: discovery.EndpointConditions{Ready: &ready}}
		if e.host != "" {
			h := e.host
			d.Hostname = &h
		}
		if e.target != "" {
			d.TargetRef = &core.ObjectReference{Kind: "Pod", Namespace: ns, Name: e.target}
		}
		if e.zone != "" {
			z := e.zone
			d.Zone = &z
		}
		s.Endpoints = append(s.Endpoints, d)
	}
	return s
}

var http80 = []pt{{"http", "TCP", 80}}

// fixture is the cluster the handler tables run against.
func fixture() []runtime.Object {
	return []runtime.Object{
		headlessSvc("testns", "hdls", nil),
		slice("testns", "hdls-a", "hdls", discovery.AddressTypeIPv4, "", []pt{{"http", "TCP", 80}, {"dns", "UDP", 53}},
			ep{ip: "172.0.0.1", host: "web-0", target: "web-0", zone: "us-west-2a"},
			ep{ip: "172.0.0.2", host: "web-1", target: "web-1", zone: "us-west-2b"},
			ep{ip: "172.0.0.3", target: "hdls-pod-3", zone: "US-West-2B"},
			ep{ip: "172.0.0.9", host: "web-9", notReady: true}),
		slice("testns", "hdls-6", "hdls", discovery.AddressTypeIPv6, "", []pt{{"http", "TCP", 80}},
			ep{ip: "fd00::1", zone: "us-west-2a"},
			ep{ip: "fd00:0:0:2::", zone: "us-west-2b"}),
		// a selector-less headless Service: hand-written slices of another manager
		headlessSvc("testns", "ext", nil),
		slice("testns", "ext-1", "ext", discovery.AddressTypeIPv4, "example.com/manual", []pt{{"pg", "TCP", 5432}},
			ep{ip: "192.0.2.10", host: "primary"}),
		slice("testns", "ext-2", "ext", discovery.AddressTypeIPv4, "example.com/manual", []pt{{"pg", "TCP", 5432}},
			ep{ip: "192.0.2.11", host: "replica"}, ep{ip: "192.0.2.10", host: "primary"}),
		// a headless Service without ready endpoints
		headlessSvc("testns", "empty", nil),
		slice("testns", "empty-a", "empty", discovery.AddressTypeIPv4, "", http80, ep{ip: "172.0.1.1", notReady: true}),
		// a ClusterIP Service: its slice must never be served by headless
		clusterIPSvc("testns", "clstr", "10.0.0.10"),
		slice("testns", "clstr-a", "clstr", discovery.AddressTypeIPv4, "", http80, ep{ip: "172.0.2.1"}),
		// a headless Service with a slice without ports
		headlessSvc("other", "noports", nil),
		slice("other", "noports-a", "noports", discovery.AddressTypeIPv4, "", nil, ep{ip: "172.0.3.1"}),
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
	if cfg.ttl == 0 {
		cfg.ttl = defaultTTL
	}
	cfg.startupTimeout = 10 * time.Second
	h := newHeadless(zones, cfg)
	// the fake clientset filters lists by label but never watches: unfiltered watches
	h.newSource = func() (source, error) { return &apiSource{client: client}, nil }
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
