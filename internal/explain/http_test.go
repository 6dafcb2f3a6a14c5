package explain

import (
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzExplainName: the HTTP endpoint's name parsing takes any string, and
// what it accepts is a lowercase FQDN that packs.
func FuzzExplainName(f *testing.F) {
	for _, s := range []string{"web-0.web.ns.svc.cluster.local", "a..b", ".", "x\\.y.svc.", "\\000.a", strings.Repeat("a.", 130), "É.local", "1.0.0.10.in-addr.arpa."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, ok := ParseName(s)
		if !ok {
			return
		}
		if name != strings.ToLower(name) || !dns.IsFqdn(name) {
			t.Fatalf("%q -> %q", s, name)
		}
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		if _, err := m.Pack(); err != nil {
			t.Fatalf("%q -> %q does not pack: %v", s, name, err)
		}
	})
}
