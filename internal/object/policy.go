package object

import (
	"strconv"
	"strings"

	core "k8s.io/api/core/v1"
)

// Annotations by which a headless Service sets its own DNS Policy.
const (
	AnnotationTTL        = "headless.dns/ttl"
	AnnotationMaxAnswers = "headless.dns/max-answers"
	AnnotationPublish    = "headless.dns/publish"
	AnnotationNotReady   = "headless.dns/publish-not-ready"
	AnnotationNegTTL     = "headless.dns/negative-ttl"
	MaxAnswers           = 4096 // the largest answer cap: more never fit a 64 KiB message
	MaxTTL               = 3600 // the largest TTL a Corefile or annotation may set
)

// TrafficMode is a Service's spec.trafficDistribution as topology order
// applies it.
type TrafficMode uint8

const (
	TrafficUnset    TrafficMode = iota // the Service asks nothing (the topology option's default applies)
	TrafficSameZone                    // PreferSameZone, or its old name PreferClose
	TrafficSameNode                    // PreferSameNode: same node, then same zone, then the rest
)

// ParseTraffic reads a trafficDistribution value; ok false for a value this
// plugin does not know (answered in stock order).
func ParseTraffic(v string) (TrafficMode, bool) {
	switch v {
	case core.ServiceTrafficDistributionPreferSameZone, core.ServiceTrafficDistributionPreferClose:
		return TrafficSameZone, true
	case core.ServiceTrafficDistributionPreferSameNode:
		return TrafficSameNode, true
	}
	return TrafficUnset, false
}

// NotReadyMode is what a Service publishes of its endpoints that are not
// ready (headless.dns/publish-not-ready, the Corefile's publish_not_ready).
type NotReadyMode uint8

const (
	NotReadyUnset     NotReadyMode = iota // the Service asks nothing: the Corefile's publish_not_ready
	NotReadyNone                          // not ready endpoints are not published (stock)
	NotReadyHostnames                     // their own names and PTRs are: the Service name and SRV keep the ready ones
)

// ParseNotReady reads a publish-not-ready value.
func ParseNotReady(v string) (NotReadyMode, bool) {
	switch v {
	case "none":
		return NotReadyNone, true
	case "hostnames":
		return NotReadyHostnames, true
	}
	return NotReadyUnset, false
}

// Policy is what a Service sets for its own answers. Comparable: a Service
// revision with the same Policy and labels answers alike.
type Policy struct {
	Traffic        TrafficMode
	TTL            int32        // seconds; -1: the Corefile's ttl
	MaxAnswers     int32        // -1: the Corefile's max_answers; 0: no cap
	PublishServing bool         // headless.dns/publish: serving (serving endpoints are published, not only ready ones)
	NotReady       NotReadyMode // headless.dns/publish-not-ready
	NegativeTTL    int32        // headless.dns/negative-ttl: seconds; -1: the Corefile's negative_ttl
}

// DefaultPolicy is the policy of a Service that sets none.
var DefaultPolicy = Policy{TTL: -1, MaxAnswers: -1, NegativeTTL: -1}

// Publication is how an endpoint is published under a Policy.
type Publication uint8

const (
	Unpublished Publication = iota
	Published               // under the Service name, its SRV, its own names and its PTRs
	NameOnly                // under its own names and PTRs only: not ready, published by the hostnames policy
)

// Publish says how ep is published under p; hostnames is the Corefile's
// publish_not_ready hostnames, for a Service that sets none. Ready
// endpoints are published, and with publish: serving the serving ones
// (terminating); with the hostnames policy, every other endpoint that is
// not terminating gets its own names.
func (p Policy) Publish(ep *Endpoint, hostnames bool) Publication {
	switch {
	case ep.Ready || (p.PublishServing && ep.Serving):
		return Published
	case ep.Terminating:
		return Unpublished
	case p.Hostnames(hostnames):
		return NameOnly
	}
	return Unpublished
}

// Hostnames reports whether p publishes the names of endpoints that are not
// ready; def is the Corefile's publish_not_ready hostnames.
func (p Policy) Hostnames(def bool) bool {
	return p.NotReady == NotReadyHostnames || (p.NotReady == NotReadyUnset && def)
}

// policyOf reads a Service's Policy. An invalid annotation is ignored (the
// Corefile's value applies) and filed among the Service's invalid parts
// (logged once per Service revision, counted).
func policyOf(s *core.Service, invalid *invalidParts) Policy {
	return policyFrom(s.Spec.TrafficDistribution, s.Annotations, invalid)
}

// policyFrom reads a Policy from a trafficDistribution (nil: none) and the
// headless.dns/* annotations of a Service or ServiceImport.
func policyFrom(traffic *string, annotations map[string]string, invalid *invalidParts) Policy {
	p := DefaultPolicy
	if traffic != nil {
		p.Traffic, _ = ParseTraffic(*traffic)
	}
	bad := func(annotation, problem string) {
		invalid.add("annotation", "annotation "+annotation, problem)
	}
	if v, ok := annotations[AnnotationTTL]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= MaxTTL {
			p.TTL = int32(n)
		} else {
			bad(AnnotationTTL, strconv.Quote(v)+" is not a number of seconds from 0 to "+strconv.Itoa(MaxTTL))
		}
	}
	if v, ok := annotations[AnnotationMaxAnswers]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= MaxAnswers {
			p.MaxAnswers = int32(n)
		} else {
			bad(AnnotationMaxAnswers, strconv.Quote(v)+" is not a number from 0 (no cap) to "+strconv.Itoa(MaxAnswers))
		}
	}
	if v, ok := annotations[AnnotationPublish]; ok {
		switch strings.TrimSpace(v) {
		case "ready":
		case "serving":
			p.PublishServing = true
		default:
			bad(AnnotationPublish, strconv.Quote(v)+" is neither ready nor serving")
		}
	}
	if v, ok := annotations[AnnotationNotReady]; ok {
		if m, ok := ParseNotReady(strings.TrimSpace(v)); ok {
			p.NotReady = m
		} else {
			bad(AnnotationNotReady, strconv.Quote(v)+" is neither none nor hostnames")
		}
	}
	if v, ok := annotations[AnnotationNegTTL]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= MaxTTL {
			p.NegativeTTL = int32(n)
		} else {
			bad(AnnotationNegTTL, strconv.Quote(v)+" is not a number of seconds from 0 to "+strconv.Itoa(MaxTTL))
		}
	}
	return p
}
