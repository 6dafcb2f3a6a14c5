package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	mcsv1beta1 "sigs.k8s.io/mcs-api/pkg/apis/v1beta1"
	mcsclient "sigs.k8s.io/mcs-api/pkg/client/clientset/versioned"
)

var (
	mcsImports = flag.Int("mcs-imports", 200, "mcs: imported headless Services (ServiceImports), each with a slice from each of two clusters")
	mcsEps     = flag.Int("mcs-eps", 5, "mcs: endpoints of each import in each cluster")
)

// mcsClusters are the source clusters of every import.
var mcsClusters = []string{"east", "west"}

// The MCS servers: ours serves clusterset.local (multicluster in the
// headless stanza, the kubernetes block without it and with noendpoints);
// stock serves it from its kubernetes block; stock-noendpoints is the
// stock block of a user who put noendpoints in it but kept multicluster
// there, next to ours (its MCS slice watch runs all the same).
var (
	corefileOursMCS = strings.NewReplacer(
		"headless cluster.local in-addr.arpa", "headless cluster.local clusterset.local in-addr.arpa",
		"startup_timeout 60s", "startup_timeout 60s\n        multicluster clusterset.local",
	).Replace(corefileOurs)
	corefileStockMCS = strings.NewReplacer(
		"kubernetes cluster.local in-addr.arpa", "kubernetes cluster.local clusterset.local in-addr.arpa",
		"kubeconfig %s", "kubeconfig %s\n        multicluster clusterset.local",
	).Replace(corefileStock)
	corefileStockMCSNoEndpoints = strings.Replace(corefileStockMCS, "multicluster clusterset.local", "multicluster clusterset.local\n        noendpoints", 1)
)

// mcsBench: QPS of a clusterset headless name, a pod name in it and its
// SRV, ours against stock's multicluster; then the watch events and bytes
// the API server sends one replica of each (and none, the baseline)
// during -updates updates of imported slices, in rounds.
func mcsBench(res *result, c *testbed.Cluster, cs *kubernetes.Clientset, fx *fixture, ours, stock string) {
	mcs := c.MCS(t, false)
	t.Logf("creating %d headless ServiceImports, each with %d endpoints in each of %v", *mcsImports, *mcsEps, mcsClusters)
	fx.namespace("mcs")
	fx.imports(mcs, "mcs", *mcsImports, *mcsEps)

	o, d1 := startServer("ours", ours, corefileOursMCS, c.Admin)
	s, d2 := startServer("stock", stock, corefileStockMCS, c.Admin)
	t.Logf("ready: ours %s, stock %s", d1, d2)
	servers := []*server{o, s}
	queries := []struct {
		key, q string
		qtype  uint16
		want   int
	}{
		{"mcs_qps_svc", "imp-0.mcs.svc.clusterset.local.", dns.TypeA, *mcsEps * len(mcsClusters)},
		{"mcs_qps_pod", "imp-0-1.west.imp-0.mcs.svc.clusterset.local.", dns.TypeA, 1},
		{"mcs_qps_srv", "_sql._tcp.imp-0.mcs.svc.clusterset.local.", dns.TypeSRV, *mcsEps * len(mcsClusters)},
	}
	for _, qq := range queries { // both answer alike before either is measured
		for _, sv := range servers {
			testbed.Eventually(t, time.Minute, sv.name+" answers "+qq.q, func() error {
				m := new(dns.Msg)
				m.SetQuestion(qq.q, qq.qtype)
				m.SetEdns0(4096, false)
				r, _, err := (&dns.Client{}).Exchange(m, sv.Addr)
				if err != nil {
					return err
				}
				if r.Rcode != dns.RcodeSuccess || len(r.Answer) != qq.want {
					return fmt.Errorf("%s %s: %d answers, want %d", dns.RcodeToString[r.Rcode], qq.q, len(r.Answer), qq.want)
				}
				return nil
			})
		}
	}
	for _, qq := range queries {
		file := filepath.Join(t.TempDir(), "q")
		os.WriteFile(file, []byte(qq.q+" "+dns.TypeToString[qq.qtype]+"\n"), 0o644)
		for r := 0; r < *runs; r++ {
			alternate(res, servers, r, qq.key, func(port int) float64 { return dnsperf(port, file, qq.qtype == dns.TypeSRV) })
		}
	}
	for _, sv := range servers {
		sv.Stop()
	}
	mcsWatchCost(res, c, cs, fx, ours, stock)
}

// imports writes n headless v1beta1 ServiceImports imp-<i>, port sql 5432,
// and for each a slice from each cluster (imp-<i>-<cluster>) of eps ready
// endpoints imp-<i>-<j>, labelled as MCS controllers label them.
func (f *fixture) imports(mcs mcsclient.Interface, ns string, n, eps int) {
	ctx := context.Background()
	parallel(n, 16, func(i int) {
		name := fmt.Sprintf("imp-%d", i)
		if _, err := mcs.MulticlusterV1beta1().ServiceImports(ns).Create(ctx, &mcsv1beta1.ServiceImport{ObjectMeta: meta.ObjectMeta{Name: name},
			Spec: mcsv1beta1.ServiceImportSpec{Type: mcsv1beta1.Headless,
				Ports: []mcsv1beta1.ServicePort{{Name: "sql", Protocol: core.ProtocolTCP, Port: 5432}}}}, meta.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, cluster := range mcsClusters {
			port, pname, proto := int32(5432), "sql", core.ProtocolTCP
			sl := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: ns, Name: name + "-" + cluster, Labels: map[string]string{
				discovery.LabelManagedBy:      "mcs-controller.example.com",
				mcsv1beta1.LabelServiceName:   name,
				mcsv1beta1.LabelSourceCluster: cluster,
			}}, AddressType: discovery.AddressTypeIPv4, Ports: []discovery.EndpointPort{{Name: &pname, Port: &port, Protocol: &proto}}}
			for j := 0; j < eps; j++ {
				yes, no := true, false
				h := fmt.Sprintf("%s-%d", name, j)
				sl.Endpoints = append(sl.Endpoints, discovery.Endpoint{Addresses: []string{f.nextIP()}, Hostname: &h,
					Conditions: discovery.EndpointConditions{Ready: &yes, Serving: &yes, Terminating: &no}})
			}
			if _, err := f.cs.DiscoveryV1().EndpointSlices(ns).Create(ctx, sl, meta.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// mcsWatchCost runs the groups (none, one replica of ours, of stock, of
// stock with noendpoints) in a new random order each round, each through
// -updates updates of imported slices (round-robin over every import and
// cluster), and records the API server's EndpointSlice watch events and
// bytes, less nothing: the report subtracts the group of none.
func mcsWatchCost(res *result, c *testbed.Cluster, cs *kubernetes.Clientset, fx *fixture, ours, stock string) {
	type group struct{ key, bin, corefile string }
	groups := []group{{key: "none"}, {"ours", ours, corefileOursMCS}, {"stock", stock, corefileStockMCS}, {"stock_noendpoints", stock, corefileStockMCSNoEndpoints}}
	seed := *replicaSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	nslices := *mcsImports * len(mcsClusters)
	sliceName := func(i int) string {
		s := i % nslices
		return fmt.Sprintf("imp-%d-%s", s/len(mcsClusters), mcsClusters[s%len(mcsClusters)])
	}
	for round := 0; round < *replicaRounds; round++ {
		order := slices.Clone(groups)
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var names []string
		for _, g := range order {
			names = append(names, g.key)
		}
		res.Notes = append(res.Notes, fmt.Sprintf("mcs round %d (seed %d): %s", round+1, seed, strings.Join(names, ", ")))
		t.Logf("mcs round %d: groups in the order %s", round+1, strings.Join(names, ", "))
		for _, g := range order {
			var sv *server
			if g.bin != "" {
				sv, _ = startServerOn("1", g.key, g.bin, g.corefile, c.Admin)
			}
			settle(c, cs, g.key+" started")
			ev0, by0 := apiWatchStatsOf(cs, "endpointslices")
			var own0 float64
			if g.key == "ours" {
				own0 = testbed.Metric(t, sv.metrics, `coredns_headless_watch_events_total{resource="endpointslices"}`)
			}
			start := time.Now()
			fx.churnSlices("mcs", *updates, sliceName)
			took := time.Since(start)
			settle(c, cs, g.key+" after the updates")
			ev1, by1 := apiWatchStatsOf(cs, "endpointslices")
			res.add("mcs_watch_events/"+g.key, ev1-ev0)
			res.add("mcs_watch_mib/"+g.key, (by1-by0)/(1<<20))
			res.add("mcs_updates_s/"+g.key, took.Seconds())
			msg := ""
			if g.key == "ours" {
				own := testbed.Metric(t, sv.metrics, `coredns_headless_watch_events_total{resource="endpointslices"}`) - own0
				res.add("mcs_own_events/ours", own)
				msg = fmt.Sprintf("; ours counted %.0f slice events itself", own)
			}
			t.Logf("mcs %s, round %d: %d updates in %s; EndpointSlice watch events sent %.0f (%.2f MiB)%s",
				g.key, round+1, *updates, took.Round(time.Millisecond), ev1-ev0, (by1-by0)/(1<<20), msg)
			if sv != nil {
				sv.Stop()
			}
			settle(c, cs, g.key+" stopped")
		}
	}
}

func mcsRows(r *result, row func(figure, target, unit string, ours, stock float64, better string) string) string {
	f := r.Figures
	var b strings.Builder
	n := *mcsEps * len(mcsClusters)
	b.WriteString(row(fmt.Sprintf("QPS, clusterset headless A, %d endpoints from 2 clusters", n), "> stock", "", f["mcs_qps_svc/ours"], f["mcs_qps_svc/stock"], fmt.Sprintf("%d imports in all", *mcsImports)))
	b.WriteString(row("QPS, clusterset pod name A (`<hostname>.<clusterid>.<svc>`)", "> stock", "", f["mcs_qps_pod/ours"], f["mcs_qps_pod/stock"], ""))
	b.WriteString(row(fmt.Sprintf("QPS, clusterset SRV, %d records with glue (EDNS 4096)", n), "> stock", "", f["mcs_qps_srv/ours"], f["mcs_qps_srv/stock"], ""))
	ev := func(k string) float64 { return f["mcs_watch_events/"+k] - f["mcs_watch_events/none"] }
	mib := func(k string) float64 { return f["mcs_watch_mib/"+k] - f["mcs_watch_mib/none"] }
	b.WriteString(row(fmt.Sprintf("EndpointSlice watch events to one replica, %d imported-slice updates", *updates), "= updates (ours)", "", ev("ours"), ev("stock"),
		fmt.Sprintf("less the API server's other watchers (%.0f events); ours counted %.0f itself; stock with `noendpoints` and `multicluster`: %.0f", f["mcs_watch_events/none"], f["mcs_own_events/ours"], ev("stock_noendpoints"))))
	b.WriteString(row("EndpointSlice watch bytes to one replica, same updates", "≤ stock", "MiB", mib("ours"), mib("stock"),
		fmt.Sprintf("stock with `noendpoints` and `multicluster`: %s", value(mib("stock_noendpoints"), "MiB"))))
	b.WriteString("\nGroups ran one at a time, each after the API server was quiet, in a new random order each round:\n\n")
	for _, n := range r.Notes {
		if strings.HasPrefix(n, "mcs round ") {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}
