package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// outageCatchUp: kube-apiserver stopped *outageSeconds, restarted, and an
// EndpointSlice written the moment /readyz answers; each server is polled
// every 10 ms until it answers the new address. Three runs; seconds from
// /readyz to the answer, per server.
func outageCatchUp(res *result, c *testbed.Cluster, servers []*server) {
	ctx := context.Background()
	c.Service(t, "bench", "catch", core.ClusterIPNone, nil, false, testbed.ServicePort("http", 80))
	port, pname, proto := int32(80), "http", core.ProtocolTCP
	sl := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: "bench", Name: "catch-manual", Labels: map[string]string{
		discovery.LabelServiceName: "catch", discovery.LabelManagedBy: "bench.example.com"}},
		AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}},
		Endpoints: []discovery.Endpoint{{Addresses: []string{"192.0.2.100"}}}}
	if _, err := c.Client.DiscoveryV1().EndpointSlices("bench").Create(ctx, sl, meta.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	name := "catch.bench.svc.cluster.local."
	for r := 0; r < *runs; r++ {
		want := fmt.Sprintf("192.0.2.%d", 101+r)
		c.APIServer.Stop()
		time.Sleep(time.Duration(*outageSeconds) * time.Second)
		c.StartAPIServer()
		ready := time.Now()
		cur, err := c.Client.DiscoveryV1().EndpointSlices("bench").Get(ctx, sl.Name, meta.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Endpoints = []discovery.Endpoint{{Addresses: []string{want}}}
		if _, err := c.Client.DiscoveryV1().EndpointSlices("bench").Update(ctx, cur, meta.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{}, len(servers))
		for _, sv := range servers {
			go func() {
				defer func() { done <- struct{}{} }()
				for time.Since(ready) < 3*time.Minute {
					if m, err := testbed.Exchange(sv.Addr, name, dns.TypeA, false); err == nil && len(m.Answer) == 1 && m.Answer[0].(*dns.A).A.String() == want {
						d := time.Since(ready).Seconds()
						res.add("catchup_s/"+sv.name, d)
						t.Logf("outage %d s, run %d: %s served the change %.2f s after /readyz", *outageSeconds, r+1, sv.name, d)
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
				t.Fatalf("%s did not serve the change within 3 minutes of /readyz", sv.name)
			}()
		}
		for range servers {
			<-done
		}
	}
}

// programmingLatency reads ours' dns_programming_duration_seconds histogram
// (sum and count over both service kinds) from its /metrics.
func programmingLatency(metricsURL string) (sum, count float64) {
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, m := range regexp.MustCompile(`(?m)^coredns_headless_dns_programming_duration_seconds_(sum|count)\{[^}]*\} ([0-9.e+-]+)$`).FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[2]), 64)
		if string(m[1]) == "sum" {
			sum += v
		} else {
			count += v
		}
	}
	return sum, count
}

// sliceEvents reads ours' endpointslice watch event counter from its /metrics.
func sliceEvents(metricsURL string) float64 {
	resp, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^coredns_headless_watch_events_total\{resource="endpointslices"\} ([0-9.e+-]+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseFloat(string(m[1]), 64)
	return v
}
