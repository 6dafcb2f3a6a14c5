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
		{svc("PreferClose", nil), Policy{Traffic: TrafficSameZone, TTL: -1, MaxAnswers: -1}},
		{svc("PreferSameZone", nil), Policy{Traffic: TrafficSameZone, TTL: -1, MaxAnswers: -1}},
		{svc("PreferSameNode", nil), Policy{Traffic: TrafficSameNode, TTL: -1, MaxAnswers: -1}},
		{svc("SomethingNew", nil), DefaultPolicy},
		{svc("", map[string]string{AnnotationTTL: "30", AnnotationMaxAnswers: "8", AnnotationPublish: "serving"}), Policy{TTL: 30, MaxAnswers: 8, PublishServing: true}},
		{svc("", map[string]string{AnnotationTTL: "0", AnnotationMaxAnswers: "0", AnnotationPublish: "ready"}), Policy{TTL: 0, MaxAnswers: 0}},
		{svc("", map[string]string{AnnotationTTL: "3601", AnnotationMaxAnswers: "-1", AnnotationPublish: "all"}), DefaultPolicy},
		{svc("", map[string]string{AnnotationTTL: "5s", AnnotationMaxAnswers: "lots"}), DefaultPolicy},
	} {
		if got := policyOf(tc.svc); got != tc.want {
			t.Errorf("%v %v: Policy %+v, want %+v", tc.svc.Spec.TrafficDistribution, tc.svc.Annotations, got, tc.want)
		}
	}
}
