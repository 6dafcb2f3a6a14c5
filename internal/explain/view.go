package explain

import (
	"slices"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/index"
	"github.com/headlessdns/headless/internal/object"
)

// Explanation is the answer of GET /explain (fields documented in the
// README, "Why is my name missing?").
type Explanation struct {
	Name    string       `json:"name"`
	Type    string       `json:"type"`
	Rcode   string       `json:"rcode"`
	Answers int          `json:"answers"`
	Service *ServiceInfo `json:"service"`
	Reasons []Reason     `json:"reasons"`
	// SinglePTR, for the reverse name of an address several headless
	// Services publish while single_ptr is on: the Service whose PTR is
	// answered and those left out (namespace/name).
	SinglePTR *PTRChoice `json:"singlePTR,omitempty"`
}

// PTRChoice is single_ptr's choice among the Services that publish one
// address.
type PTRChoice struct {
	Answered string   `json:"answered"`
	LeftOut  []string `json:"leftOut"`
}

// ServiceInfo is what the index holds for a Service.
type ServiceInfo struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Selector  map[string]string `json:"selector"` // null: none, or not known
	// NotReady is what the Service publishes of endpoints that are not
	// ready: "none" or "hostnames" (headless.dns/publish-not-ready, else
	// the Corefile's publish_not_ready).
	NotReady string `json:"publishNotReady"`
	// NegativeTTL is the most seconds its negative answers may be held
	// (headless.dns/negative-ttl); null: the Corefile's negative_ttl.
	NegativeTTL *int32         `json:"negativeTTL"`
	Ports       []PortInfo     `json:"ports"`
	Endpoints   []EndpointInfo `json:"endpoints"`
}

// PortInfo is one port of the Service's slices.
type PortInfo struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"`
	Port     int32  `json:"port"`
}

// EndpointInfo is one endpoint as the index holds it.
type EndpointInfo struct {
	Addresses      []string `json:"addresses"`
	Hostname       string   `json:"hostname"`
	Pod            string   `json:"pod"`
	Node           string   `json:"node"`
	Zone           string   `json:"zone"`
	Ready          bool     `json:"ready"`
	Serving        bool     `json:"serving"`
	Terminating    bool     `json:"terminating"`
	Publication    string   `json:"publication"` // "service" (every name), "own-names" (the hostnames policy), "none"
	PublishedNames []string `json:"publishedNames"`
}

// Import is what the clusterset index holds for the headless import
// namespace/name, or nil (and nil without the multicluster option).
func (e *Explainer) Import(namespace, name string, zone string) *ServiceInfo {
	if e.imp == nil {
		return nil
	}
	return e.imp.Service(namespace, name, zone, 0)
}

// Service is what the index holds for namespace/name, or nil (waiting at
// most wait to learn its selector).
func (e *Explainer) Service(namespace, name string, zone string, wait time.Duration) *ServiceInfo {
	svc, sls := e.o.Index.TakenIn(index.ServiceKey(name, namespace))
	if svc == nil {
		return nil
	}
	info := &ServiceInfo{Namespace: namespace, Name: name, Ports: []PortInfo{}, Endpoints: []EndpointInfo{}, NotReady: "none"}
	if svc.Policy.Hostnames(e.o.Hostnames) {
		info.NotReady = "hostnames"
	}
	if n := svc.Policy.NegativeTTL; n >= 0 {
		info.NegativeTTL = &n
	}
	if svc.Selector && e.o.Lookup != nil {
		if s, _ := e.o.Lookup.Service(namespace, name, wait); s != nil {
			info.Selector = s.Spec.Selector
		}
	}
	for _, s := range sls {
		for _, p := range s.Ports {
			if p.Port == -1 && p.Name == "" {
				continue
			}
			pi := PortInfo{Name: p.Name, Protocol: strings.ToUpper(p.Protocol), Port: p.Port}
			if !slices.Contains(info.Ports, pi) {
				info.Ports = append(info.Ports, pi)
			}
		}
		for i := range s.Endpoints {
			info.Endpoints = append(info.Endpoints, e.endpointInfo(svc, s, &s.Endpoints[i], zone))
		}
	}
	return info
}

func (e *Explainer) endpointInfo(svc *object.Service, s *object.Slice, ep *object.Endpoint, zone string) EndpointInfo {
	ei := EndpointInfo{Hostname: ep.Hostname, Pod: ep.TargetName, Node: ep.Loc.Node, Zone: ep.Loc.Zone,
		Ready: ep.Ready, Serving: ep.Serving, Terminating: ep.Terminating, Addresses: []string{}, PublishedNames: []string{}}
	pub := e.publication(svc, ep)
	switch pub {
	case object.Published:
		ei.Publication = "service"
	case object.NameOnly:
		ei.Publication = "own-names"
	default:
		ei.Publication = "none"
	}
	for i := range ep.Addrs {
		ei.Addresses = append(ei.Addresses, ep.AddrString(i))
		if published(Endpoint, pub) {
			host := importedName(strings.ToLower(index.EndpointName(ep, ep.AddrString(i), e.o.PodNames)), s)
			ei.PublishedNames = append(ei.PublishedNames, index.JoinName(host+"."+svc.Name+"."+svc.Namespace+".svc", zone))
		}
	}
	return ei
}
