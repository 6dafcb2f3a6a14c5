package corefile

import (
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin"
	"github.com/headlessdns/headless/internal/names"
	"k8s.io/apimachinery/pkg/util/validation"
)

// multicluster ZONE... [{ cluster ID }]: the stanza's zones that are
// clusterset zones (the MCS DNS specification), and this cluster's ID.
func parseMulticluster(c *caddy.Controller, args []string, cfg *Config) error {
	if len(args) == 0 {
		return c.Errf("multicluster: name the clusterset zone, e.g. 'multicluster clusterset.local'")
	}
	for _, z := range plugin.OriginsFromArgsOrServerBlock(args, nil) {
		z = strings.ToLower(z)
		if names.IsReverse(z) || z == "." {
			return c.Errf("multicluster: '%s' is not a forward zone", z)
		}
		if slices.Contains(cfg.Multicluster, z) {
			return c.Errf("multicluster: '%s' given twice", z)
		}
		cfg.Multicluster = append(cfg.Multicluster, z)
	}
	// an optional block on the same line: { cluster ID }
	if !c.NextArg() {
		return nil
	}
	if c.Val() != "{" {
		return c.ArgErr()
	}
	for c.Next() {
		switch c.Val() {
		case "}":
			return nil
		case "cluster":
			id := c.RemainingArgs()
			closed := len(id) > 0 && id[len(id)-1] == "}" // the block on one line
			if closed {
				id = id[:len(id)-1]
			}
			if len(id) != 1 {
				return c.Errf("multicluster: cluster takes one cluster ID")
			}
			if errs := validation.IsDNS1123Label(id[0]); len(errs) > 0 {
				return c.Errf("multicluster: cluster '%s': %s", id[0], errs[0])
			}
			cfg.ClusterID = id[0]
			if closed {
				return nil
			}
		default:
			return c.Errf("multicluster: unknown property '%s'", c.Val())
		}
	}
	return c.EOFErr()
}

// checkMulticluster refuses a clusterset zone that is not a zone of the
// stanza (as stock does).
func checkMulticluster(cfg *Config, zones []string, atLine func(opt, msg string) error) error {
	for _, z := range cfg.Multicluster {
		if !slices.ContainsFunc(zones, func(s string) bool { return strings.EqualFold(s, z) }) {
			return atLine("multicluster", "multicluster zone "+z+" is not a zone of the stanza "+strings.Join(zones, " "))
		}
	}
	return nil
}
