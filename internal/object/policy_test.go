package object

import (
	"testing"

	core "k8s.io/api/core/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPolicyOf(t *testing.T) {
	svc := func(td string, ann map[string]string) *core.Service {
		s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "ns", Name: "svc", Annotations: ann}}
		if td != "" {
			s.Spec.TrafficDistribution = &td
		}
		return s
	}
	for _, tc := range []struct {
		svc  *core.Service
		want Policy
	}{
		{svc("", nil), DefaultPolicy},
		{svc("PreferClose", nil), Policy{Traffic: TrafficSameZone, TTL: -1, MaxAnswers: -1, NegativeTTL: -1}},
		{svc("PreferSameZone", nil), Policy{Traffic: TrafficSameZone, TTL: -1, MaxAnswers: -1, NegativeTTL: -1}},
		{svc("PreferSameNode", nil), Policy{Traffic: TrafficSameNode, TTL: -1, MaxAnswers: -1, NegativeTTL: -1}},
		{svc("SomethingNew", nil), DefaultPolicy},
		{svc("", map[string]string{AnnotationTTL: "30", AnnotationMaxAnswers: "8", AnnotationPublish: "serving"}), Policy{TTL: 30, MaxAnswers: 8, PublishServing: true, NegativeTTL: -1}},
		{svc("", map[string]string{AnnotationTTL: "0", AnnotationMaxAnswers: "0", AnnotationPublish: "ready"}), Policy{TTL: 0, MaxAnswers: 0, NegativeTTL: -1}},
		{svc("", map[string]string{AnnotationTTL: "3601", AnnotationMaxAnswers: "-1", AnnotationPublish: "all"}), DefaultPolicy},
		{svc("", map[string]string{AnnotationTTL: "5s", AnnotationMaxAnswers: "lots"}), DefaultPolicy},
		{svc("", map[string]string{AnnotationNotReady: "hostnames", AnnotationNegTTL: "0"}), Policy{TTL: -1, MaxAnswers: -1, NotReady: NotReadyHostnames, NegativeTTL: 0}},
		{svc("", map[string]string{AnnotationNotReady: " none ", AnnotationNegTTL: "3600"}), Policy{TTL: -1, MaxAnswers: -1, NotReady: NotReadyNone, NegativeTTL: 3600}},
		{svc("", map[string]string{AnnotationNotReady: "all", AnnotationNegTTL: "3601"}), DefaultPolicy},
		{svc("", map[string]string{AnnotationNotReady: "Hostnames", AnnotationNegTTL: "-1"}), DefaultPolicy},
		{svc("", map[string]string{AnnotationNegTTL: "5s"}), DefaultPolicy},
	} {
		if got := policyOf(tc.svc, &invalidParts{}); got != tc.want {
			t.Errorf("%v %v: Policy %+v, want %+v", tc.svc.Spec.TrafficDistribution, tc.svc.Annotations, got, tc.want)
		}
	}
}

func TestPolicyPublish(t *testing.T) {
	ready := Endpoint{Ready: true, Serving: true}
	starting := Endpoint{}
	terminatingServing := Endpoint{Serving: true, Terminating: true}
	terminated := Endpoint{Terminating: true}
	hostnames := Policy{NotReady: NotReadyHostnames}
	none := Policy{NotReady: NotReadyNone}
	serving := Policy{PublishServing: true}
	for _, tc := range []struct {
		name string
		p    Policy
		def  bool // the Corefile's publish_not_ready hostnames
		ep   Endpoint
		want Publication
	}{
		{"ready", DefaultPolicy, false, ready, Published},
		{"starting, default", DefaultPolicy, false, starting, Unpublished},
		{"starting, Corefile hostnames", DefaultPolicy, true, starting, NameOnly},
		{"starting, annotation hostnames", hostnames, false, starting, NameOnly},
		{"starting, annotation none beats the Corefile", none, true, starting, Unpublished},
		{"terminating never by hostnames", hostnames, true, terminatingServing, Unpublished},
		{"terminated", hostnames, true, terminated, Unpublished},
		{"terminating serving with publish: serving", serving, false, terminatingServing, Published},
		{"starting with publish: serving only", serving, false, starting, Unpublished},
	} {
		if got := tc.p.Publish(&tc.ep, tc.def); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
