package explain

import (
	"strings"

	"github.com/headlessdns/headless/internal/names"
)

// QueryOf is a question in one of the plugin's zones as the name grammar
// reads it: name (lowercase FQDN), and fwd, the name parsed when it is a
// forward name.
func QueryOf(name string, qtype uint16, fwd names.Forward) Query {
	q := Query{Name: name, Type: qtype}
	if names.IsReverse(name) {
		p, ok := names.ParseReverse(name)
		switch {
		case ok && p.IsSingleIP():
			q.Kind, q.Addr = Reverse, p.Addr()
		case ok:
			q.Kind = ReverseAbove
		default:
			q.Kind = Other
		}
		return q
	}
	n := fwd
	switch n.Kind {
	case names.Namespace:
		q.Kind, q.Namespace = Namespace, n.Namespace
		return q
	case names.Service:
	default:
		q.Kind = Other
		return q
	}
	q.Namespace, q.Service = n.Namespace, n.Service[:len(n.Service)-len(n.Namespace)-1]
	switch {
	case n.TooLong:
		q.Kind = Other
	case n.TopoZone != "":
		q.Kind = TopoZone
	case n.Prefix == "":
		q.Kind = Service
	case strings.HasPrefix(n.Prefix, "_"):
		q.Kind = Port
		q.PortName, q.Proto, _ = strings.Cut(n.Prefix[1:], "._")
	default:
		q.Kind, q.Host = Endpoint, n.Prefix
	}
	return q
}

// ShortName is a name without its zone (lowercase FQDN, "" for none) and
// svc label, as a reason names it; a reverse name of one address is that
// address.
func ShortName(name, zone string) string {
	if p, ok := names.ParseReverse(name); ok && p.IsSingleIP() {
		return p.Addr().String()
	}
	if zone != "" && len(name) > len(zone) && zone != "." {
		name = strings.TrimSuffix(name[:len(name)-len(zone)], ".")
	} else {
		name = strings.TrimSuffix(name, ".")
	}
	return strings.TrimSuffix(name, ".svc")
}

// PTRChoiceOf is single_ptr's choice among the Services (keys "name.ns")
// that publish an address, won the one answered; nil for fewer than two.
func PTRChoiceOf(all []string, won string) *PTRChoice {
	if len(all) < 2 {
		return nil
	}
	slash := func(key string) string { name, ns, _ := strings.Cut(key, "."); return ns + "/" + name }
	c := &PTRChoice{Answered: slash(won)}
	for _, k := range all {
		if k != won {
			c.LeftOut = append(c.LeftOut, slash(k))
		}
	}
	return c
}
