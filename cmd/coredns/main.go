// Command coredns is a complete CoreDNS (every stock plugin) with the headless
// plugin placed immediately before kubernetes in the plugin chain.
package main

import (
	"fmt"
	"os"
	"slices"

	"github.com/coredns/coredns/core/dnsserver"
	_ "github.com/coredns/coredns/core/plugin" // every stock plugin
	"github.com/coredns/coredns/coremain"

	_ "github.com/headlessdns/headless"
)

// directives returns the stock directive order with headless inserted
// immediately before kubernetes.
func directives(stock []string) ([]string, error) {
	i := slices.Index(stock, "kubernetes")
	if i < 0 {
		return nil, fmt.Errorf("stock directive list has no kubernetes")
	}
	return slices.Insert(slices.Clone(stock), i, "headless"), nil
}

func main() {
	d, err := directives(dnsserver.Directives)
	if err == nil {
		err = dnsserver.SetDirectives(d)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	coremain.Run()
}
