package object

import (
	"bytes"
	"fmt"
	golog "log"
	"os"
	"strings"
	"testing"

	core "k8s.io/api/core/v1"
	discovery "k8s.io/api/discovery/v1"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

func ptr[T any](v T) *T { return &v }

func TestIsDNS1123Label(t *testing.T) {
	cases := []string{"", "a", "web-0", "-a", "a-", "A", "a.b", "a_b", "0", "a--b", strings.Repeat("a", 63), strings.Repeat("a", 64), "é", "a b", "9-9"}
	for _, s := range cases {
		want := len(validation.IsDNS1123Label(s)) == 0
		if got := isDNS1123Label(s); got != want {
			t.Errorf("%q: %v, validation package says %v", s, got, want)
		}
		if got := validLabel(s) == ""; got != want {
			t.Errorf("validLabel(%q) valid %v, want %v", s, got, want)
		}
	}
}

// captureLog returns what f logged.
func captureLog(f func()) string {
	var buf bytes.Buffer
	golog.SetOutput(&buf)
	defer golog.SetOutput(os.Stderr)
	f()
	return buf.String()
}

// Every skipped part of a slice is named in one line, once per revision and
// bounded; each is counted.
func TestInvalidPartsNamed(t *testing.T) {
	counted := map[string]int{}
	count := Counter(func(resource, reason string) { counted[resource+"/"+reason]++ })
	mk := func(rv string, hosts ...string) *discovery.EndpointSlice {
		s := &discovery.EndpointSlice{ObjectMeta: meta.ObjectMeta{Namespace: "ns", Name: "bad-" + t.Name(), ResourceVersion: rv,
			Labels: map[string]string{LabelServiceName: "db"}}, AddressType: discovery.AddressTypeIPv4,
			Ports: []discovery.EndpointPort{{Name: ptr("Http"), Port: ptr(int32(80))}, {Port: ptr(int32(70000))}, {Name: ptr("ok"), Port: ptr(int32(81))}}}
		for i, h := range hosts {
			s.Endpoints = append(s.Endpoints, discovery.Endpoint{Hostname: ptr(h), Addresses: []string{fmt.Sprintf("10.0.0.%d", i+1)}})
		}
		s.Endpoints = append(s.Endpoints, discovery.Endpoint{Addresses: []string{"10.0.0.200", "127.0.0.1", "fd00::1"}})
		return s
	}
	bad := []string{"Web_0", "web-1", "-web2", "WEB3", "web.4", "web 5"}
	out := captureLog(func() { count.SliceFromAPI(mk("1", bad...)) })
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one line, got %d:\n%s", len(lines), out)
	}
	for _, want := range []string{"skipped 9 invalid parts of endpointslices ns/bad-", `(revision "1")`,
		`port "Http": `, `port 1: port number out of 1-65535`,
		`endpoint 0 (hostname "Web_0"): `, `endpoint 2 (hostname "-web2")`, `endpoint 3 (hostname "WEB3")`, `endpoint 4 (hostname "web.4")`,
		`endpoint 5 (hostname "web 5")`, `endpoint 6 address "127.0.0.1": address an endpoint may not have`,
		"; and 1 more"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("log line lacks %q:\n%s", want, lines[0])
		}
	}
	if strings.Contains(lines[0], `"web-1"`) {
		t.Errorf("a valid hostname named: %s", lines[0])
	}
	if counted["endpointslices/hostname"] != 5 || counted["endpointslices/port"] != 2 || counted["endpointslices/address"] != 2 {
		t.Errorf("counted %v", counted)
	}
	if out := captureLog(func() { count.SliceFromAPI(mk("1", bad...)) }); out != "" {
		t.Errorf("the same revision logged again: %s", out)
	}
	if out := captureLog(func() { count.SliceFromAPI(mk("2", "Web_0")) }); !strings.Contains(out, `revision "2"`) || !strings.Contains(out, "skipped 5 invalid parts") {
		t.Errorf("a new revision: %q", out)
	}
	if out := captureLog(func() { count.SliceFromAPI(mk("3", "web-0")) }); !strings.Contains(out, "skipped 4 invalid parts") {
		t.Errorf("ports and addresses alone: %q", out)
	}
}

// A Service's invalid annotations are each named, in one line.
func TestInvalidAnnotationsNamed(t *testing.T) {
	s := &core.Service{ObjectMeta: meta.ObjectMeta{Namespace: "ns", Name: "svc", ResourceVersion: "9", Annotations: map[string]string{
		AnnotationTTL: "5s", AnnotationNotReady: "all", AnnotationNegTTL: "-1"}}, Spec: core.ServiceSpec{ClusterIP: core.ClusterIPNone}}
	out := captureLog(func() { _, _ = TransformService(s) })
	for _, want := range []string{"skipped 3 invalid parts of services ns/svc", "annotation " + AnnotationTTL + `: "5s" is not`,
		"annotation " + AnnotationNotReady + `: "all" is neither`, "annotation " + AnnotationNegTTL + `: "-1" is not`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q: %s", want, out)
		}
	}
}
