package headless

import (
	"strconv"
	"strings"

	core "k8s.io/api/core/v1"
)

// Annotations by which a headless Service sets its own DNS policy.
const (
	annotationTTL        = "headless.dns/ttl"
	annotationMaxAnswers = "headless.dns/max-answers"
	annotationPublish    = "headless.dns/publish"
	maxAnswersLimit      = 4096 // more never fit a 64 KiB message
)

// trafficMode is a Service's spec.trafficDistribution as topology order
// applies it.
type trafficMode uint8

const (
	trafficUnset    trafficMode = iota // the Service asks nothing (the topology option's default applies)
	trafficSameZone                    // PreferSameZone, or its old name PreferClose
	trafficSameNode                    // PreferSameNode: same node, then same zone, then the rest
)

// parseTraffic reads a trafficDistribution value; ok false for a value this
// plugin does not know (answered in stock order).
func parseTraffic(v string) (trafficMode, bool) {
	switch v {
	case core.ServiceTrafficDistributionPreferSameZone, core.ServiceTrafficDistributionPreferClose:
		return trafficSameZone, true
	case core.ServiceTrafficDistributionPreferSameNode:
		return trafficSameNode, true
	}
	return trafficUnset, false
}

// policy is what a Service sets for its own answers. Comparable: a Service
// revision with the same policy and labels answers alike.
type policy struct {
	traffic    trafficMode
	ttl        int32 // seconds; -1: the Corefile's ttl
	maxAnswers int32 // -1: the Corefile's max_answers; 0: no cap
	serving    bool  // headless.dns/publish: serving
}

var defaultPolicy = policy{ttl: -1, maxAnswers: -1}

// policyOf reads a Service's policy. An invalid annotation is ignored (the
// Corefile's value applies), logged once per Service revision and counted.
func policyOf(s *core.Service) policy {
	p := defaultPolicy
	if s.Spec.TrafficDistribution != nil {
		p.traffic, _ = parseTraffic(*s.Spec.TrafficDistribution)
	}
	bad := func(annotation, problem string) {
		reportInvalid("services", s.Namespace, s.Name, s.ResourceVersion, "annotation", annotation+": "+problem)
	}
	if v, ok := s.Annotations[annotationTTL]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= maxTTL {
			p.ttl = int32(n)
		} else {
			bad(annotationTTL, strconv.Quote(v)+" is not a number of seconds from 0 to "+strconv.Itoa(maxTTL))
		}
	}
	if v, ok := s.Annotations[annotationMaxAnswers]; ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= maxAnswersLimit {
			p.maxAnswers = int32(n)
		} else {
			bad(annotationMaxAnswers, strconv.Quote(v)+" is not a number from 0 (no cap) to "+strconv.Itoa(maxAnswersLimit))
		}
	}
	if v, ok := s.Annotations[annotationPublish]; ok {
		switch strings.TrimSpace(v) {
		case "ready":
		case "serving":
			p.serving = true
		default:
			bad(annotationPublish, strconv.Quote(v)+" is neither ready nor serving")
		}
	}
	return p
}

// hintsOf returns an endpoint's topology hints as comma-separated lists
// (zones lowercase, as zones are compared).
func hintsOf(forZones, forNodes []string) (zones, nodes string) {
	switch len(forZones) {
	case 0:
	case 1: // the usual case: no list to build
		zones = strings.ToLower(forZones[0])
	default:
		z := make([]string, len(forZones))
		for i, f := range forZones {
			z[i] = strings.ToLower(f)
		}
		zones = strings.Join(z, ",")
	}
	return zones, strings.Join(forNodes, ",")
}

// hasHint reports whether the comma-separated list holds v.
func hasHint(list, v string) bool {
	for list != "" {
		i := strings.IndexByte(list, ',')
		if i < 0 {
			return list == v
		}
		if list[:i] == v {
			return true
		}
		list = list[i+1:]
	}
	return false
}
