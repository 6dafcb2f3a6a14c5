package index

import (
	"net/netip"
	"testing"

	"github.com/headlessdns/headless/internal/object"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func vipImport(name, ns string, headless bool, ips ...string) *object.Service {
	s := &object.Service{ObjectMeta: meta.ObjectMeta{Name: name, Namespace: ns}, Headless: headless, Import: &object.Import{
		Ports: []object.Port{{Name: "http", Protocol: "TCP", Port: 80}}}}
	for _, ip := range ips {
		s.Import.IPs = append(s.Import.IPs, netip.MustParseAddr(ip))
	}
	return s
}

// TestVIPs: ClusterSetIP imports get records, headless ones none; an
// address two imports claim answers for the first until it lets go; a
// namespace has imports while one is published there.
func TestVIPs(t *testing.T) {
	vs := NewVIPs(Options{Zones: []string{"clusterset.local."}, TTL: 5})
	vs.Update(vipImport("web", "shop", false, "10.96.0.5", "fd00::5"), false)
	vs.Update(vipImport("db", "shop", true), false)
	vs.Update(vipImport("late", "other", false, "10.96.0.5"), false)

	if vs.Get(ServiceKey("web", "shop")) == nil || vs.Get(ServiceKey("db", "shop")) != nil {
		t.Fatalf("Get: web %v, db %v; want records for the ClusterSetIP import only", vs.Get(ServiceKey("web", "shop")), vs.Get(ServiceKey("db", "shop")))
	}
	if p := vs.PTR(netip.MustParseAddr("10.96.0.5")); p == nil || p.ServiceKey() != ServiceKey("web", "shop") {
		t.Fatalf("PTR 10.96.0.5 = %v, want the first claimant web.shop", p)
	}
	for ns, want := range map[string]bool{"shop": true, "other": true, "sho": false, "hop": false, "": false} {
		if got := vs.HasNamespace(ns); got != want {
			t.Errorf("HasNamespace(%q) = %v, want %v", ns, got, want)
		}
	}

	vs.Update(vipImport("web", "shop", false, "10.96.0.5", "fd00::5"), true)
	if p := vs.PTR(netip.MustParseAddr("10.96.0.5")); p == nil || p.ServiceKey() != ServiceKey("late", "other") {
		t.Fatalf("PTR 10.96.0.5 after web's deletion = %v, want late.other", p)
	}
	if vs.PTR(netip.MustParseAddr("fd00::5")) != nil || vs.HasNamespace("shop") || vs.Len() != 1 {
		t.Errorf("after web's deletion: PTR fd00::5 %v, shop has imports %v, %d published; want none, false, 1",
			vs.PTR(netip.MustParseAddr("fd00::5")), vs.HasNamespace("shop"), vs.Len())
	}
}
