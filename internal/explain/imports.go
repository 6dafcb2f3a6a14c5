package explain

import (
	"fmt"
	"slices"
	"strings"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// Reasons of names in a clusterset zone (the multicluster option).
const (
	NoImport         = "no-import"
	NoImportedSlices = "no-imported-slices"
	ClusterNotReady  = "cluster-not-ready"
	UnknownCluster   = "unknown-cluster"
)

func init() {
	fixes[NoImport] = "export the Service from a cluster of the clusterset (a ServiceExport of the same name and namespace there) and check that the MCS controller made the ServiceImport here: kubectl get serviceimport -n NAMESPACE"
	fixes[NoImportedSlices] = "the MCS controller writes the import's EndpointSlices here, labelled multicluster.kubernetes.io/service-name=NAME and multicluster.kubernetes.io/source-cluster=CLUSTER: check that it runs and that the exported Service has endpoints in its cluster"
	fixes[ClusterNotReady] = "an imported endpoint is published once its pod is ready in its own cluster (the MCS controller copies the condition): check the exported Service's pods in that cluster"
	fixes[UnknownCluster] = "ask <hostname>.<clusterid>.<service>.<namespace>.svc.<zone> with a cluster ID the import has slices from (their multicluster.kubernetes.io/source-cluster label)"
}

// Imports are what an Explainer reads of the multicluster option's
// clusterset zones.
type Imports struct {
	Zones []string // the clusterset zones, lowercase FQDNs
	Index Index    // the clusterset index: headless imports and their slices
	// ClusterSetIP is the ClusterSetIP import of a key ("name.namespace")
	// with clusterset IPs, or nil.
	ClusterSetIP func(key string) *object.Service
	Absent       func() bool   // the API server serves no ServiceImports
	Generation   func() uint64 // moves when ClusterSetIP imports or Absent change
}

// inClusterset reports whether zone is a clusterset zone.
func (e *Explainer) inClusterset(zone string) bool {
	return e.o.Imports != nil && slices.Contains(e.o.Imports.Zones, zone)
}

// importsExplainer is the explainer of the clusterset index: the local
// one's options over the imports.
func importsExplainer(o Options) *Explainer {
	io := o
	io.Index, io.Lookup, io.Stale = o.Imports.Index, nil, nil
	return &Explainer{o: io, set: o.Imports}
}

// whyImport explains a name in a clusterset zone.
func (e *Explainer) whyImport(q Query) []Reason {
	set := e.set
	switch q.Kind {
	case Other:
		return one(NotInZone, "%s is not a name of the MCS DNS schema (<service>.<namespace>.svc.<zone>)", q.Name)
	case TopoZone:
		return one(NotInZone, "zone-scoped names are not served in clusterset zones")
	}
	if r := e.filteredNS(q.Namespace); r != nil {
		return r
	}
	if set.Absent() {
		return []Reason{{Code: NoImport, Message: "the API server serves no ServiceImports (multicluster.x-k8s.io): the MCS CRDs are not installed",
			Fix: "install the MCS CRDs (sigs.k8s.io/mcs-api config/crd) and an MCS controller; the plugin looks for them every minute"}}
	}
	if q.Kind == Namespace {
		return one(NoImport, "no ServiceImport in namespace %s", q.Namespace)
	}
	key := index.ServiceKey(q.Service, q.Namespace)
	if v := set.ClusterSetIP(key); v != nil {
		return e.forClusterSetIP(q, v)
	}
	svc, sls := e.o.Index.TakenIn(key)
	if svc == nil {
		return one(NoImport, "no ServiceImport %s in namespace %s (a ClusterSetIP one without IPs has no records either)", q.Service, q.Namespace)
	}
	if len(endpointsOf(sls)) == 0 {
		return one(NoImportedSlices, "ServiceImport %s has no EndpointSlices from any cluster", q.Service)
	}
	switch q.Kind {
	case Endpoint:
		return e.forImportedHost(q, svc, sls)
	case Port:
		if r := noPort(q, sls); r != nil {
			return r
		}
	}
	if r := e.clustersNotReady(q.Kind, svc, sls, true); r != nil {
		return r
	}
	return e.readiness(q, svc, endpointsOf(sls), "the import's endpoints")
}

// forClusterSetIP explains a name of a ClusterSetIP import (§2.3).
func (e *Explainer) forClusterSetIP(q Query, v *object.Service) []Reason {
	switch q.Kind {
	case Endpoint:
		return one(NotHeadless, "ServiceImport %s is a ClusterSetIP one: it has no per-cluster or per-pod names (MCS DNS specification §2.3)", q.Service)
	case Port:
		var ports []string
		for _, p := range v.Import.Ports {
			if (q.PortName == "" || q.PortName == p.Name) && (q.Proto == "" || q.Proto == p.Protocol) {
				return unknownNow("ServiceImport " + q.Service)
			}
			ports = append(ports, fmt.Sprintf("%s/%s %d", p.Name, p.Protocol, p.Port))
		}
		return one(NoPort, "no port %s/%s; the import's ports: %s", orAny(q.PortName), orAny(q.Proto), strings.Join(ports, ", "))
	}
	if q.Type != dns.TypeA && q.Type != dns.TypeAAAA {
		return one(WrongFamily, "ServiceImport %s has clusterset IPs, not records of type %s", q.Service, dns.TypeToString[q.Type])
	}
	for _, a := range v.Import.IPs {
		if a.Is4() == (q.Type == dns.TypeA) {
			return unknownNow("ServiceImport " + q.Service)
		}
	}
	other := "IPv6"
	if q.Type == dns.TypeAAAA {
		other = "IPv4"
	}
	return one(WrongFamily, "ServiceImport %s has only %s clusterset IPs", q.Service, other)
}

func unknownNow(what string) []Reason {
	return []Reason{{Code: Unknown, Message: what + " has published records of this type now", Fix: fixes[Unknown]}}
}

// forImportedHost explains <hostname>.<clusterid> below an import.
func (e *Explainer) forImportedHost(q Query, svc *object.Service, sls []*object.Slice) []Reason {
	clusters := clustersOf(sls)
	host, cluster := cutLastLabel(q.Host)
	if cluster == "" {
		what := "names no cluster"
		if slices.Contains(clusters, host) {
			what = "is a cluster ID, and the specification has no name per cluster (§2.4)"
		}
		return []Reason{{Code: NoHostname, Message: fmt.Sprintf("an imported endpoint is named <hostname>.<clusterid>.%s: %s %s", svc.Name, host, what),
			Fix: "ask <hostname>.<clusterid>.<service>.<namespace>.svc.<zone>; the clusters of this import: " + list(clusters, 8)}}
	}
	var of []*object.Slice
	for _, s := range sls {
		if s.Cluster == cluster {
			of = append(of, s)
		}
	}
	if len(of) == 0 {
		return one(UnknownCluster, "no EndpointSlice of ServiceImport %s comes from cluster %s; its clusters: %s", svc.Name, cluster, list(clusters, 8))
	}
	rs := e.forHost(q, svc, of)
	for i := range rs {
		if rs[i].Code == NotReady {
			rs[i].Fix = fixes[ClusterNotReady]
		}
	}
	return rs
}

// clustersNotReady is a reason per cluster of svc none of whose endpoints
// the names of kind k publish; with all, only when that is every cluster.
func (e *Explainer) clustersNotReady(k Kind, svc *object.Service, sls []*object.Slice, all bool) []Reason {
	var out []Reason
	clusters := clustersOf(sls)
	for _, c := range clusters {
		var eps []endpoint
		some := false
		for _, x := range endpointsOf(sls) {
			if x.slice.Cluster != c {
				continue
			}
			eps = append(eps, x)
			some = some || published(k, e.publication(svc, x.ep))
		}
		if some {
			if all {
				return nil
			}
			continue
		}
		out = append(out, Reason{Code: ClusterNotReady, Message: "cluster " + c + ": " + condition(eps, "not ready"), Fix: fixes[ClusterNotReady]})
	}
	return out
}

// clustersOf are the clusters that sls come from, sorted.
func clustersOf(sls []*object.Slice) []string {
	var out []string
	for _, s := range sls {
		if !slices.Contains(out, s.Cluster) {
			out = append(out, s.Cluster)
		}
	}
	slices.Sort(out)
	return out
}

// cutLastLabel splits "a.b" into "a", "b"; one label is (it, "").
func cutLastLabel(s string) (string, string) {
	if i := strings.LastIndexByte(s, '.'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// clustersLeftOut are the clusters whose endpoints the answer of a headless
// import's name leaves out, none being ready (an answer from the others).
func (e *Explainer) clustersLeftOut(q Query) []Reason {
	if e.set.Absent() || e.set.ClusterSetIP(index.ServiceKey(q.Service, q.Namespace)) != nil {
		return nil
	}
	svc, sls := e.o.Index.TakenIn(index.ServiceKey(q.Service, q.Namespace))
	if svc == nil {
		return nil
	}
	return e.clustersNotReady(q.Kind, svc, sls, false)
}
