package e2e

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// explainEDE asks name (A, EDNS) and returns the reply and its EDE texts.
func explainEDE(t *testing.T, addr, name string) (*dns.Msg, []string) {
	t.Helper()
	r, err := testbed.ExchangeFrom("127.0.0.1", addr, name, dns.TypeA, false, 1232)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	if o := r.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if ede, ok := e.(*dns.EDNS0_EDE); ok {
				out = append(out, ede.ExtraText)
			}
		}
	}
	return r, out
}

// explainStatus is the HTTP status of an explanation from port (0: nothing
// answers there).
func explainStatus(port int) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/explain?name=web-9.web.default.svc.cluster.local.&type=A", port))
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// listening reports whether something accepts TCP connections on port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// The explain listener across Corefile reloads: it survives a reload that
// keeps its address, moves when the address changes (the old one freed),
// closes when the option loses its address, and with the option gone no
// reply carries an EDE. Each state is checked on the ports it claims.
func TestExplainListenerReload(t *testing.T) {
	bin := testbed.OurCoreDNS(t)
	p1, p2 := testbed.FreePort(t), testbed.FreePort(t)
	c := testbed.StartCoreDNS(t, bin, sampleCorefile(""))
	corefile := filepath.Join(c.Dir, "Corefile")
	write := func(explain string) {
		cf := fmt.Sprintf(".:%d {\n    bind 127.0.0.1\n    errors\n    headless cluster.local in-addr.arpa ip6.arpa {\n        manifests %s\n        %s\n    }\n}\n",
			c.Port, filepath.Join(testbed.ModuleRoot(), "sample", "cluster.yaml"), explain)
		if err := os.WriteFile(corefile, []byte(cf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const missing = "web-9.web.default.svc.cluster.local."
	state := func(what string, ede bool, want1, want2 int) {
		t.Helper()
		testbed.Eventually(t, 10*time.Second, what, func() error {
			_, got := explainEDE(t, c.Addr, missing)
			if hasEDE := len(got) == 1 && strings.Contains(got[0], "headless: web-9.web.default"); hasEDE != ede {
				return fmt.Errorf("EDE %q, want one: %v", got, ede)
			}
			if s1, s2 := explainStatus(p1), explainStatus(p2); s1 != want1 || s2 != want2 {
				return fmt.Errorf("HTTP status on %d: %d, on %d: %d; want %d, %d (0: nothing listens)", p1, s1, p2, s2, want1, want2)
			}
			return nil
		})
	}
	state("explain off at start", false, 0, 0)

	write(fmt.Sprintf("explain 127.0.0.1:%d", p1))
	testbed.Reload(t, c.Proc, 1)
	state("explain on at the first address", true, http.StatusOK, 0)
	testbed.Reload(t, c.Proc, 2)
	state("the same address after two reloads", true, http.StatusOK, 0)

	write(fmt.Sprintf("explain 127.0.0.1:%d", p2))
	testbed.Reload(t, c.Proc, 1)
	state("moved to the second address", true, 0, http.StatusOK)
	if listening(p1) {
		t.Errorf("the first address %d still listens after the move", p1)
	}

	write("explain")
	testbed.Reload(t, c.Proc, 1)
	state("explain without an address", true, 0, 0)

	write("")
	testbed.Reload(t, c.Proc, 1)
	state("explain off again", false, 0, 0)
	if listening(p1) || listening(p2) {
		t.Errorf("an explain port listens with explain off")
	}
}
