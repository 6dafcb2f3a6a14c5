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

// Policy is what a Service sets for its own answers. Comparable: a Service
// revision with the same Policy and labels answers alike.
type Policy struct {
	Traffic        TrafficMode
	TTL            int32 // seconds; -1: the Corefile's ttl
	MaxAnswers     int32 // -1: the Corefile's max_answers; 0: no cap
	PublishServing bool  // headless.dns/publish: serving (serving endpoints are published, not only ready ones)
}

// DefaultPolicy is the policy of a Service that sets none.
var DefaultPolicy = Policy{TTL: -1, MaxAnswers: -1}

// policyOf reads a Service's Policy. An invalid annotation is ignored (the
// Corefile's value applies), logged once per Service revision and counted.
func policyOf(s *core.Service) Policy {
	p := DefaultPolicy
	if s.Spec.TrafficDistribution != nil {
		p.Traffic, _ = ParseTraffic(*s.Spec.TrafficDistribution)
	}
	bad := func(annotation, problem string) {
		reportInvalid("services", s.Namespace, s.Name, s.ResourceVersion, "annotation", annotation+": "+problem)
	}
	if v, ok := s.Annotations[AnnotationTTL]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= MaxTTL {
			p.TTL = int32(n)
		} else {
			bad(AnnotationTTL, strconv.Quote(v)+" is not a number of seconds from 0 to "+strconv.Itoa(MaxTTL))
		}
	}
	if v, ok := s.Annotations[AnnotationMaxAnswers]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= MaxAnswers {
			p.MaxAnswers = int32(n)
		} else {
			bad(AnnotationMaxAnswers, strconv.Quote(v)+" is not a number from 0 (no cap) to "+strconv.Itoa(MaxAnswers))
		}
	}
	if v, ok := s.Annotations[AnnotationPublish]; ok {
		switch strings.TrimSpace(v) {
		case "ready":
		case "serving":
			p.PublishServing = true
		default:
			bad(AnnotationPublish, strconv.Quote(v)+" is neither ready nor serving")
		}
	}
	return p
}
