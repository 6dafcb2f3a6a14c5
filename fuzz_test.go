package headless

import (
	"context"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

// FuzzServeDNS: any message gets a well-formed reply (same ID and question,
// packable) or is passed on; nothing panics.
func FuzzServeDNS(f *testing.F) {
	for _, tc := range append(append(baseCases, zonalCases...), noZonalCases...) {
		b, err := tc.Msg().Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	fuzzPlugin, _ := start(f, config{zonal: true}, fixture()...)
	fuzzPlugin.Next = test.NextHandler(nextRcode, nil)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(dns.Msg)
		if err := r.Unpack(data); err != nil {
			return // the server drops what it cannot parse before plugins see it
		}
		w := dnstest.NewRecorder(&test.ResponseWriter{})
		rcode, err := fuzzPlugin.ServeDNS(context.Background(), w, r)
		if err != nil {
			t.Fatalf("error %v", err)
		}
		if w.Msg == nil {
			if rcode != nextRcode {
				t.Fatalf("no reply and not passed on: rcode %d", rcode)
			}
			return
		}
		if w.Msg.Id != r.Id || len(w.Msg.Question) != len(r.Question) || !w.Msg.Response {
			t.Fatalf("reply does not match query: %v", w.Msg)
		}
		if _, err := w.Msg.Pack(); err != nil {
			t.Fatalf("reply does not pack: %v", err)
		}
	})
}

// FuzzParse: any Corefile text is accepted or refused with an error; nothing panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"headless", "headless cluster.local 10.0.0.0/8 {\n ttl 30\n zonal\n}",
		"headless {\n labels app in (a, b)\n namespaces x y\n startup_timeout 1s\n}",
		"headless {\n endpoint https://127.0.0.1:6443\n endpoint_pod_names\n}",
		"headless {\n ttl\n}", "headless {\n manifests x\n}", "headless\nheadless",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		c := caddy.NewTestController("dns", input)
		c.ServerBlockKeys = []string{"cluster.local."}
		h, err := parse(c)
		if err == nil && h == nil {
			t.Fatal("no plugin and no error")
		}
	})
}
