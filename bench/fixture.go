package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// fixture writes Services and EndpointSlices shaped as the endpointslice
// controller writes them (same labels, at most 100 endpoints per slice). The
// Services have no selector, so the controller leaves the slices alone.
type fixture struct {
	cs  *kubernetes.Clientset
	ip  atomic.Uint32
	gen atomic.Uint32
}

func (f *fixture) namespace(ns string) {
	_, err := f.cs.CoreV1().Namespaces().Create(context.Background(), &core.Namespace{ObjectMeta: meta.ObjectMeta{Name: ns}}, meta.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) nextIP() string {
	n := f.ip.Add(1)
	return fmt.Sprintf("10.%d.%d.%d", 128+(n>>16)&63, (n>>8)&255, n&255)
}

func (f *fixture) services(ns, prefix string, n, eps int, headless bool) {
	parallel(n, 16, func(i int) { f.service(ns, fmt.Sprintf("%s-%d", prefix, i), eps, headless) })
}

func (f *fixture) service(ns, name string, eps int, headless bool) {
	ctx := context.Background()
	svc := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"bench": "yes"}},
		Spec: core.ServiceSpec{Ports: []core.ServicePort{testbed.ServicePort("http", 80)}}}
	if headless {
		svc.Spec.ClusterIP = core.ClusterIPNone
	}
	if _, err := f.cs.CoreV1().Services(ns).Create(ctx, svc, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for s := 0; s*100 < eps; s++ {
		sl := f.slice(ns, name, fmt.Sprintf("%s-%d", name, s), headless)
		for i := s * 100; i < eps && i < (s+1)*100; i++ {
			sl.Endpoints = append(sl.Endpoints, f.endpoint(ns, name, i, headless))
		}
		if _, err := f.cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, sl, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

func (f *fixture) slice(ns, svc, name string, headless bool) *discovery.EndpointSlice {
	lbls := map[string]string{discovery.LabelServiceName: svc, discovery.LabelManagedBy: "endpointslice-controller.k8s.io", "bench": "yes"}
	if headless {
		lbls["service.kubernetes.io/headless"] = ""
	}
	port, pname, proto := int32(80), "http", core.ProtocolTCP
	return &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name, Labels: lbls},
		AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
}

func (f *fixture) endpoint(ns, svc string, i int, headless bool) discovery.Endpoint {
	t, fl := true, false
	zone, node := fmt.Sprintf("zone-%d", i%3), fmt.Sprintf("node-%d", i%50)
	e := discovery.Endpoint{Addresses: []string{f.nextIP()}, Conditions: discovery.EndpointConditions{Ready: &t, Serving: &t, Terminating: &fl},
		Zone: &zone, NodeName: &node, TargetRef: &core.ObjectReference{Kind: "Pod", Namespace: ns, Name: fmt.Sprintf("%s-%d", svc, i)}}
	if headless {
		h := fmt.Sprintf("%s-%d", svc, i)
		e.Hostname = &h
	}
	return e
}

// churn updates ClusterIP slices round-robin, flipping one endpoint's ready condition.
func (f *fixture) churn(ns, prefix string, nsvc, n int) {
	f.churnSlices(ns, n, func(i int) string { return fmt.Sprintf("%s-%d-0", prefix, i%nsvc) })
}

// churnSlices makes n updates, update i to the slice name(i), each
// flipping its first endpoint's ready condition; 16 writers, never two on
// one slice at once (each update succeeds once: exactly n events).
func (f *fixture) churnSlices(ns string, n int, name func(i int) string) {
	ctx := context.Background()
	var mu sync.Mutex
	cache := map[string]*discovery.EndpointSlice{}
	locks := map[string]*sync.Mutex{}
	parallel(n, 16, func(i int) {
		name := name(i)
		mu.Lock()
		sl := cache[name]
		l := locks[name]
		if l == nil {
			l = new(sync.Mutex)
			locks[name] = l
		}
		mu.Unlock()
		l.Lock()
		defer l.Unlock()
		if sl != nil { // the cache may have moved on while we waited
			mu.Lock()
			sl = cache[name]
			mu.Unlock()
		}
		var err error
		for attempt := 0; attempt < 5; attempt++ {
			if sl == nil {
				if sl, err = f.cs.DiscoveryV1().EndpointSlices(ns).Get(ctx, name, meta.GetOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			sl = sl.DeepCopy()
			r := !*sl.Endpoints[0].Conditions.Ready
			sl.Endpoints[0].Conditions.Ready = &r
			if sl, err = f.cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, sl, meta.UpdateOptions{}); err == nil {
				break
			}
			sl = nil
		}
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		cache[name] = sl
		mu.Unlock()
	})
}

// freshness writes a new address into the 2-endpoint Service's slice and
// polls every server until it answers with it; returns milliseconds per server.
func (f *fixture) freshness(ns, svc string, servers []*server, n int) map[string][]float64 {
	ctx := context.Background()
	out := map[string][]float64{}
	sl, err := f.cs.DiscoveryV1().EndpointSlices(ns).Get(ctx, svc+"-0", meta.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	name := svc + "-1." + svc + "." + ns + ".svc.cluster.local."
	for i := 0; i < n; i++ {
		ip := f.nextIP()
		sl = sl.DeepCopy()
		sl.Endpoints[1].Addresses = []string{ip}
		start := time.Now()
		if sl, err = f.cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, sl, meta.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, sv := range servers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c := &dns.Client{Timeout: time.Second}
				m := new(dns.Msg)
				m.SetQuestion(name, dns.TypeA)
				for time.Since(start) < 10*time.Second {
					r, _, err := c.Exchange(m, sv.Addr)
					if err == nil && len(r.Answer) == 1 && r.Answer[0].(*dns.A).A.String() == ip {
						mu.Lock()
						out[sv.name] = append(out[sv.name], float64(time.Since(start).Microseconds())/1000)
						mu.Unlock()
						return
					}
					time.Sleep(200 * time.Microsecond)
				}
				t.Fatalf("%s did not serve %s within 10s", sv.name, ip)
			}()
		}
		wg.Wait()
		time.Sleep(20 * time.Millisecond)
	}
	return out
}
