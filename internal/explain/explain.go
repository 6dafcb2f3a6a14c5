package explain

import (
	"sync"

	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
	core "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

var log = clog.NewWithPlugin("headless")

// Reason codes: stable, documented in the README with their fixes.
const (
	NoService   = "no-service"
	NotHeadless = "not-headless"
	NoEndpoints = "no-endpoints"
	NotReady    = "not-ready"
	Terminating = "terminating"
	NoHostname  = "no-hostname"
	NoPort      = "no-port"
	WrongFamily = "wrong-family"
	Filtered    = "filtered"
	NotInZone   = "not-in-zone"
	Stale       = "stale"
	Unknown     = "unknown"
)

// Reason is one cause of a missing answer.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`       // one short line: what an EDE carries
	Fix     string `json:"fix,omitempty"` // what to change
}

// Kind is what a query name is, by the plugin's name grammar.
type Kind int

const (
	OutOfZone    Kind = iota // not in the plugin's zones
	Other                    // in a zone, not a name of the Kubernetes DNS schema
	Namespace                // <ns>.svc.<zone>
	Service                  // <svc>.<ns>.svc.<zone>
	Endpoint                 // <host>.<svc>.<ns>.svc.<zone>
	Port                     // _<port>._<proto>.<svc>.<ns>.svc.<zone>
	TopoZone                 // <zone>.pin|prefer._zone.<svc>...
	Reverse                  // the reverse name of one address
	ReverseAbove             // a reverse name above addresses
)

// Query is a question as the plugin's grammar parsed it.
type Query struct {
	Name      string // as asked, lowercase FQDN
	Type      uint16
	Kind      Kind
	Namespace string
	Service   string // the Service's name
	Host      string // Endpoint: the endpoint name
	PortName  string // Port: "" any
	Proto     string // Port: "" any
	Addr      netip.Addr
	// Clusterset: the name is in a clusterset zone (the multicluster
	// option), read against the imports.
	Clusterset bool
}

// Index is what an Explainer reads of the plugin's index (internal/index):
// what it has taken in, under its lock, and when that changed.
type Index interface {
	TakenIn(key string) (*object.Service, []*object.Slice)
	HoldersOf(a netip.Addr) []index.Holder
	Generation() uint64
	InScope(ns string) bool // with namespace_labels, whether the namespace's Services are published
}

// Options are what an Explainer reads.
type Options struct {
	Index      Index
	Namespaces []string        // the stanza's namespaces; none: all
	NSLabels   string          // the stanza's namespace_labels, as written; "": none
	Labels     string          // the stanza's labels, as written
	Selector   labels.Selector // the same, parsed; nil: all
	PodNames   bool            // endpoint_pod_names
	Hostnames  bool            // publish_not_ready hostnames: the default of the annotation
	Lookup     *Lookup         // learns of Services not watched; nil: none
	// Stale reports the first watch failing past the freshness threshold.
	Stale   func() (watch string, since time.Time, ok bool)
	Imports *Imports // the clusterset zones; nil: no multicluster option
}

// Explainer tells why a name has no answer, from what the index holds.
type Explainer struct {
	o      Options
	imp    *Explainer // of the clusterset zones' imports; nil without
	set    *Imports   // set in imp: it explains imports
	logged logged
	lim    *rate.Limiter // reasons computed a second for replies (memo misses)

	mu   sync.Mutex
	memo map[memoKey]memoEntry // a reply's EDE, while nothing its reason read changed
}

// New returns an explainer.
func New(o Options) *Explainer {
	e := &Explainer{o: o, lim: rate.NewLimiter(1000, 1000), memo: map[memoKey]memoEntry{}}
	if o.Imports != nil {
		e.imp = importsExplainer(o)
	}
	return e
}

// generation moves whenever what the reasons read changes (the indexes,
// the clusterset IPs): each part only grows, so their sum does too.
func (e *Explainer) generation() uint64 {
	g := e.o.Index.Generation()
	if i := e.o.Imports; i != nil {
		g += i.Index.Generation() + i.Generation()
	}
	return g
}

func (e *Explainer) lookupGen() uint64 {
	if e.o.Lookup == nil {
		return 0
	}
	return e.o.Lookup.gen.Load()
}

// Reasons are why q got no records (answered false), plus stale when a
// watch has been failing: empty for a name that answers from current
// state. Lookups of unwatched Services wait at most wait (0: only what is
// known already is used).
func (e *Explainer) Reasons(q Query, answered bool, wait time.Duration) []Reason {
	out := []Reason{}
	if !answered {
		out = append(out, e.why(q, wait)...)
	} else if q.Clusterset && q.Kind == Service && e.imp != nil { // the clusters left out of the answer
		out = append(out, e.imp.clustersLeftOut(q)...)
	}
	if e.o.Stale != nil {
		if what, since, ok := e.o.Stale(); ok {
			out = append(out, Reason{Code: Stale, Message: fmt.Sprintf("the watch of %s has been failing since %s: answers come from the last known state",
				what, since.UTC().Format(time.RFC3339)), Fix: "check the API server and the plugin's RBAC; coredns_headless_watch_up shows which watch"})
		}
	}
	return out
}

func (e *Explainer) why(q Query, wait time.Duration) []Reason {
	if q.Clusterset && e.imp != nil {
		return e.imp.whyImport(q)
	}
	switch q.Kind {
	case OutOfZone:
		return one(NotInZone, "%s is not in the zones this plugin answers", q.Name)
	case Other:
		return one(NotInZone, "%s is not a Service name of the Kubernetes DNS schema (<service>.<namespace>.svc.<zone>)", q.Name)
	case Namespace:
		if r := e.filteredNS(q.Namespace); r != nil {
			return r
		}
		return one(NoService, "no headless Service in namespace %s", q.Namespace)
	case Reverse:
		return e.reverse(q)
	case ReverseAbove:
		return one(NoService, "no published endpoint address is below %s", q.Name)
	}
	return e.forService(q, wait)
}

func one(code, format string, args ...any) []Reason {
	return []Reason{{Code: code, Message: fmt.Sprintf(format, args...), Fix: fixes[code]}}
}

// fixes are the usual remedy of each reason.
var fixes = map[string]string{
	NoService:   "check the Service's name and namespace (kubectl get service -n NAMESPACE)",
	NotHeadless: "per-pod names need a headless Service: spec.clusterIP: None",
	NoEndpoints: "make the Service's selector match the pods' labels, or write Endpoints or EndpointSlices for a Service without selector",
	NoHostname:  "set the pod's hostname and subdomain (subdomain = the Service's name), or the StatefulSet's serviceName to the Service's name",
	NoPort:      "name the port in the Service's spec.ports (SRV asks _<port name>._<protocol>)",
	WrongFamily: "ask for the other record type, or give the Service the other IP family (ipFamilyPolicy)",
	Filtered:    "the Corefile's namespaces or labels option leaves it out",
	NotInZone:   "ask <service>.<namespace>.svc.<zone> in one of the plugin's zones",
	Unknown:     "ask again: the state changed since the answer was made",
}

func (e *Explainer) filteredNS(ns string) []Reason {
	if len(e.o.Namespaces) > 0 && !slices.Contains(e.o.Namespaces, ns) {
		return one(Filtered, "namespace %s is not among the stanza's namespaces (%s)", ns, strings.Join(e.o.Namespaces, " "))
	}
	if e.o.NSLabels != "" && !e.o.Index.InScope(ns) {
		return one(Filtered, "namespace %s does not exist or its labels do not match namespace_labels (%s)", ns, e.o.NSLabels)
	}
	return nil
}

// forService explains a name below a Service.
func (e *Explainer) forService(q Query, wait time.Duration) []Reason {
	if r := e.filteredNS(q.Namespace); r != nil {
		return r
	}
	svc, sls := e.o.Index.TakenIn(index.ServiceKey(q.Service, q.Namespace))
	if svc == nil {
		return e.notTakenIn(q, wait)
	}
	all := endpointsOf(sls)
	if len(all) == 0 {
		return e.noEndpoints(svc, wait)
	}
	switch q.Kind {
	case Endpoint:
		return e.forHost(q, svc, sls)
	case Port:
		if r := noPort(q, sls); r != nil {
			return r
		}
	}
	return e.readiness(q, svc, all, "the Service's endpoints")
}

// notTakenIn explains a Service name the index does not hold.
func (e *Explainer) notTakenIn(q Query, wait time.Duration) []Reason {
	if e.o.Lookup == nil {
		return one(NoService, "no headless Service %s in namespace %s", q.Service, q.Namespace)
	}
	s, known := e.o.Lookup.Service(q.Namespace, q.Service, wait)
	switch {
	case !known:
		return one(NoService, "no headless Service %s in namespace %s (whether another Service of that name exists is being looked up)", q.Service, q.Namespace)
	case s == nil:
		return one(NoService, "no Service %s in namespace %s", q.Service, q.Namespace)
	case s.Spec.Type == core.ServiceTypeExternalName:
		return one(NotHeadless, "Service %s is of type ExternalName (%s): its name is the next plugin's, with no per-pod names", q.Service, s.Spec.ExternalName)
	case s.Spec.ClusterIP != core.ClusterIPNone:
		return one(NotHeadless, "Service %s has cluster IP %s: its name resolves to that IP through the next plugin, and it has no per-pod names (set clusterIP: None for those)", q.Service, s.Spec.ClusterIP)
	case e.o.Selector != nil && !e.o.Selector.Matches(labels.Set(s.Labels)):
		return one(Filtered, "Service %s does not match the stanza's labels (%s)", q.Service, e.o.Labels)
	}
	return one(NoService, "headless Service %s is not taken in yet", q.Service)
}

// noEndpoints explains a Service without any endpoint.
func (e *Explainer) noEndpoints(svc *object.Service, wait time.Duration) []Reason {
	if !svc.Selector {
		return one(NoEndpoints, "Service %s has no selector, and no Endpoints or EndpointSlices were written for it", svc.Name)
	}
	sel := ""
	if e.o.Lookup != nil {
		if s, _ := e.o.Lookup.Service(svc.Namespace, svc.Name, wait); s != nil {
			sel = " (" + labels.SelectorFromSet(s.Spec.Selector).String() + ")"
		}
	}
	return one(NoEndpoints, "Service %s has no endpoints: its selector%s matches no pod", svc.Name, sel)
}

// endpoint is one endpoint of a slice taken in.
type endpoint struct {
	ep    *object.Endpoint
	slice *object.Slice
}

func endpointsOf(sls []*object.Slice) []endpoint {
	var out []endpoint
	for _, s := range sls {
		for i := range s.Endpoints {
			out = append(out, endpoint{&s.Endpoints[i], s})
		}
	}
	return out
}

// forHost explains an endpoint name.
func (e *Explainer) forHost(q Query, svc *object.Service, sls []*object.Slice) []Reason {
	var named, nameless []endpoint
	var hostnames []string
	for _, x := range endpointsOf(sls) {
		if x.ep.Hostname == "" {
			nameless = append(nameless, x)
		} else if !slices.Contains(hostnames, x.ep.Hostname) {
			hostnames = append(hostnames, x.ep.Hostname)
		}
		for i := range x.ep.Addrs {
			if importedName(strings.ToLower(index.EndpointName(x.ep, x.ep.AddrString(i), e.o.PodNames)), x.slice) == q.Host {
				named = append(named, x)
				break
			}
		}
	}
	if len(named) > 0 {
		return e.readiness(q, svc, named, "endpoint "+q.Host)
	}
	msg := fmt.Sprintf("no endpoint of %s %s has the name %s", e.noun(), svc.Name, q.Host)
	if len(nameless) > 0 {
		msg += "; endpoints without a hostname: " + describe(nameless, 5)
	} else {
		slices.Sort(hostnames)
		msg += "; its hostnames: " + list(hostnames, 8)
	}
	return []Reason{{Code: NoHostname, Message: msg, Fix: fixes[NoHostname]}}
}

// noPort explains an SRV port name or protocol the Service lacks.
func noPort(q Query, sls []*object.Slice) []Reason {
	var ports []string
	for _, s := range sls {
		for _, p := range s.Ports {
			if p.Port == -1 && p.Name == "" {
				continue
			}
			if (q.PortName == "" || q.PortName == p.Name) && (q.Proto == "" || q.Proto == p.Protocol) {
				return nil
			}
			d := fmt.Sprintf("%s/%s %d", p.Name, p.Protocol, p.Port)
			if !slices.Contains(ports, d) {
				ports = append(ports, d)
			}
		}
	}
	want := orAny(q.PortName) + "/" + orAny(q.Proto)
	if len(ports) == 0 {
		return one(NoPort, "no port %s: the Service's endpoints have no ports", want)
	}
	slices.Sort(ports)
	return one(NoPort, "no port %s; the Service's ports: %s", want, strings.Join(ports, ", "))
}

// noun is what the explainer's Services are.
func (e *Explainer) noun() string {
	if e.set != nil {
		return "ServiceImport"
	}
	return "Service"
}

// importedName is an endpoint's name below its Service: below an import,
// <name>.<clusterid>.
func importedName(name string, s *object.Slice) string {
	if s.Imported && s.Cluster != "" {
		return name + "." + s.Cluster
	}
	return name
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// reverse explains a reverse name of one address.
func (e *Explainer) reverse(q Query) []Reason {
	holders := e.o.Index.HoldersOf(q.Addr)
	if len(holders) == 0 && e.imp != nil && len(e.imp.o.Index.HoldersOf(q.Addr)) > 0 {
		return e.imp.reverse(q) // an imported endpoint's address (its PTR is in the clusterset zone)
	}
	if len(holders) == 0 {
		return one(NoService, "no endpoint of a headless Service we serve has address %s", q.Addr)
	}
	var out []Reason
	for _, h := range holders {
		svc, _ := e.o.Index.TakenIn(h.Key)
		if svc == nil {
			continue
		}
		var eps []endpoint
		for i := range h.Slice.Endpoints {
			if slices.Contains(h.Slice.Endpoints[i].Addrs, q.Addr) {
				eps = append(eps, endpoint{&h.Slice.Endpoints[i], h.Slice})
			}
		}
		out = append(out, e.readiness(Query{Kind: Reverse, Type: dns.TypePTR}, svc, eps, "address "+q.Addr.String()+" of "+e.noun()+" "+svc.Name)...)
	}
	if len(out) == 0 {
		return one(NoService, "address %s belongs to no headless Service we serve", q.Addr)
	}
	return out
}
