package explain

import (
	"fmt"
	"strings"

	"github.com/headlessdns/headless/internal/object"
	"github.com/miekg/dns"
)

// published reports whether an endpoint is published under the names a
// query of kind k asks: the Service name and its ports list only the
// endpoints the policy fully publishes; an endpoint's own names and PTRs
// also those of the hostnames policy.
func published(k Kind, pub object.Publication) bool {
	return pub == object.Published || (pub == object.NameOnly && (k == Endpoint || k == Reverse))
}

// publication is how svc's policy publishes ep (the Corefile's
// publish_not_ready as the default).
func (e *Explainer) publication(svc *object.Service, ep *object.Endpoint) object.Publication {
	return svc.Policy.Publish(ep, e.o.Hostnames)
}

// readiness explains endpoints that exist (those of what): none published
// (not ready, terminating), or none of the asked family.
func (e *Explainer) readiness(q Query, svc *object.Service, eps []endpoint, what string) []Reason {
	var pub, terminating, notReady []endpoint
	nameOnly := 0
	for _, x := range eps {
		p := e.publication(svc, x.ep)
		switch {
		case published(q.Kind, p):
			pub = append(pub, x)
		case x.ep.Terminating:
			terminating = append(terminating, x)
		default:
			notReady = append(notReady, x)
			if p == object.NameOnly {
				nameOnly++
			}
		}
	}
	if len(pub) == 0 {
		var out []Reason
		if len(notReady) > 0 {
			fix := "a pod is published once ready; publishNotReadyAddresses: true on the Service publishes its pods before"
			msg := condition(notReady, "not ready")
			if nameOnly > 0 {
				msg += "; published by the hostnames policy under its own name only (the Service name and SRV list ready endpoints)"
				fix = "ask the endpoint's own name while it starts; the Service name lists it once ready"
			}
			out = append(out, Reason{Code: NotReady, Message: msg, Fix: fix})
		}
		if len(terminating) > 0 {
			out = append(out, Reason{Code: Terminating, Message: condition(terminating, "terminating"),
				Fix: "the annotation headless.dns/publish: serving keeps terminating endpoints that still serve"})
		}
		return out
	}
	unknown := unknownNow(what)
	switch q.Type {
	case dns.TypeA, dns.TypeAAAA:
		v4 := q.Type == dns.TypeA
		for _, x := range pub {
			for _, a := range x.ep.Addrs {
				if a.Is4() == v4 {
					return unknown
				}
			}
		}
		other := "IPv6"
		if !v4 {
			other = "IPv4"
		}
		return one(WrongFamily, "%s %s only %s addresses", what, has(len(pub)), other)
	case dns.TypeSRV, dns.TypePTR:
		return unknown
	}
	return one(WrongFamily, "%s %s addresses, not records of type %s", what, has(len(pub)), dns.TypeToString[q.Type])
}

// condition says which endpoints are in a state: "endpoint 10.244.1.12
// (pod db-2) not ready", "3 endpoints not ready: ...".
func condition(eps []endpoint, state string) string {
	if len(eps) == 1 {
		return "endpoint " + describe(eps, 1) + " " + state
	}
	return fmt.Sprintf("%d endpoints %s: %s", len(eps), state, describe(eps, 5))
}

func has(n int) string {
	if n == 1 {
		return "has"
	}
	return "have"
}

// describe names up to n endpoints: "10.244.1.12 (pod db-2)".
func describe(eps []endpoint, n int) string {
	var parts []string
	for i, x := range eps {
		if i == n {
			parts = append(parts, fmt.Sprintf("and %d more", len(eps)-n))
			break
		}
		d := "no address"
		if len(x.ep.Addrs) > 0 {
			d = x.ep.AddrString(0)
		}
		if x.ep.TargetName != "" {
			d += " (pod " + x.ep.TargetName + ")"
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, ", ")
}

func list(names []string, n int) string {
	if len(names) > n {
		return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
	}
	return strings.Join(names, ", ")
}
