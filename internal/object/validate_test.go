package object

import (
	"strings"
	"testing"

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
