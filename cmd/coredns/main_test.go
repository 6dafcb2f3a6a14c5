package main

import (
	"slices"
	"testing"

	"github.com/coredns/coredns/core/dnsserver"
)

func TestDirectivesHeadlessBeforeKubernetes(t *testing.T) {
	d, err := directives(dnsserver.Directives)
	if err != nil {
		t.Fatal(err)
	}
	h, k := slices.Index(d, "headless"), slices.Index(d, "kubernetes")
	if h < 0 || k != h+1 || len(d) != len(dnsserver.Directives)+1 {
		t.Fatalf("headless at %d, kubernetes at %d in %v", h, k, d)
	}
	if _, err := directives([]string{"log", "forward"}); err == nil {
		t.Fatal("no error for a list without kubernetes")
	}
}
