package headless

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/headlessdns/headless/internal/explain"
	"github.com/headlessdns/headless/internal/index"
)

// The name grammar, in one place. Forward names (Kubernetes DNS spec 1.1.0,
// and the spellings the stock plugin's parser accepts):
//
//	<zone>                                    apex: SOA, NS
//	svc.<zone>, <ns>.svc.<zone>               empty non-terminals
//	<svc>.<ns>.svc.<zone>                     the Service
//	<host>.<svc>.<ns>.svc.<zone>              an endpoint (hostname, pod name or dashed IP)
//	<port>.<proto>.<svc>.<ns>.svc.<zone>      a port: each label with or without its
//	                                          leading underscore; an empty one ("_") is any
//	<topozone>.pin|prefer._zone.<svc>...      zone-scoped names (the zonal option)
//
// Reverse names: the in-addr.arpa / ip6.arpa name of an address, or of a
// prefix above it (an empty non-terminal when some published address is in it).

// nameKind is what a forward name is, by its shape alone.
type nameKind int

const (
	nameOther     nameKind = iota // not a name of this grammar: the next plugin's
	nameApex                      // the zone itself
	nameNS                        // ns.dns.<zone>, the name the apex NS points to
	nameSvcLabel                  // svc.<zone>
	nameNamespace                 // <ns>.svc.<zone>
	nameService                   // <svc>.<ns>.svc.<zone> or a name below it
)

// forwardName is a parsed forward name. Strings are slices of the (lowercase)
// query name: parsing allocates only for the rarer port spellings.
type forwardName struct {
	kind      nameKind
	namespace string
	service   string // index key of the Service: <svc>.<ns>
	prefix    string // key of the name below the Service: "" the Service itself, a host, index.PortKey(...)
	topoZone  string // zone-scoped name: the topology zone (prefix is then "")
	prefer    bool   // zone-scoped name with the prefer directive
	tooLong   bool   // below the Service, but no shape of the grammar: NXDOMAIN
}

const (
	svcLabel  = "svc"
	zoneLabel = "_zone"
	nsName    = "ns.dns"
)

// parseForward parses name (lowercase FQDN) in a zone of zoneLen bytes.
// zonal enables zone-scoped names.
func parseForward(name string, zoneLen int, zonal bool) forwardName {
	base := strings.TrimSuffix(name[:len(name)-zoneLen], ".")
	if base == "" {
		return forwardName{kind: nameApex}
	}
	if base == nsName {
		return forwardName{kind: nameNS}
	}
	// Walk labels from the right: svc, namespace, service, then the prefix.
	rest, last := cutLast(base)
	if last != svcLabel {
		return forwardName{}
	}
	if rest == "" {
		return forwardName{kind: nameSvcLabel}
	}
	rest, ns := cutLast(rest)
	if rest == "" {
		return forwardName{kind: nameNamespace, namespace: ns}
	}
	prefix, svc := cutLast(rest)
	// the Service key is "<svc>.<ns>": a slice of the name when no escape is in it
	key := base[len(base)-len(svc)-len(ns)-len(".svc")-1 : len(base)-len(".svc")]
	n := forwardName{kind: nameService, namespace: ns, service: key}
	if prefix == "" {
		return n
	}
	switch labels := countLabels(prefix); {
	case labels == 1:
		n.prefix = prefix
	case labels == 2:
		proto, port := cutFirst(prefix)
		port, proto = strings.TrimPrefix(port, "_"), strings.TrimPrefix(proto, "_")
		if len(port)+len(proto)+3 == len(prefix) {
			n.prefix = prefix // already the canonical _port._proto
		} else {
			n.prefix = index.PortKey(port, proto)
		}
	default:
		rest, z := cutLast(prefix)
		topo, directive := cutLast(rest)
		if !zonal || z != zoneLabel || (directive != "pin" && directive != "prefer") {
			n.tooLong = true
			return n
		}
		n.topoZone, n.prefer = topo, directive == "prefer"
	}
	return n
}

// cutLast splits s at its last unescaped dot: (left, last label).
func cutLast(s string) (string, string) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' && !escaped(s, i) {
			return s[:i], s[i+1:]
		}
	}
	return "", s
}

// cutFirst splits s at its first unescaped dot: (rest, first label).
func cutFirst(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			return s[i+1:], s[:i]
		}
	}
	return "", s
}

func countLabels(s string) int {
	n := 1
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '.':
			n++
		}
	}
	return n
}

// escaped reports whether the byte at i is escaped by an odd run of backslashes.
func escaped(s string, i int) bool {
	n := 0
	for j := i - 1; j >= 0 && s[j] == '\\'; j-- {
		n++
	}
	return n%2 == 1
}

// inZone reports whether name (FQDN) equals zone or is below it, by labels:
// `x\.cluster.local.` is not below cluster.local.
func inZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	n := len(name) - len(zone)
	return n == 0 || (name[n-1] == '.' && !escaped(name, n-1))
}

// isReverse reports whether a lowercase FQDN is under in-addr.arpa or ip6.arpa.
func isReverse(name string) bool {
	return inZone(name, "in-addr.arpa.") || inZone(name, "ip6.arpa.")
}

// parseReverse returns the address prefix a reverse name stands for: a /32 or
// /128 for an address's own name, shorter for names above it. ok is false for
// names that are no prefix (bad labels, too many labels).
func parseReverse(name string) (p netip.Prefix, ok bool) {
	if base, found := reverseBase(name, "in-addr.arpa."); found {
		b, n, ok := reverseLabels(base, 4, parseOctet)
		if !ok {
			return p, false
		}
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[:4])), n*8), true
	}
	if base, found := reverseBase(name, "ip6.arpa."); found {
		b, n, ok := reverseLabels(base, 32, parseNibble)
		if !ok {
			return p, false
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), n*4), true
	}
	return p, false
}

// reverseBase returns the labels of name left of zone ("" for zone itself).
func reverseBase(name, zone string) (string, bool) {
	if name == zone {
		return "", true
	}
	return strings.CutSuffix(name, "."+zone)
}

// reverseLabels reads the labels of a reverse name right to left into the
// bytes of an address: octets (IPv4, at most 4) or nibbles (IPv6, at most
// 32), n of them.
func reverseLabels(base string, most int, parse func(string) (byte, bool)) (b [16]byte, n int, ok bool) {
	for base != "" {
		if n == most {
			return b, 0, false
		}
		var label string
		base, label = cutLast(base)
		v, ok := parse(label)
		switch {
		case !ok:
			return b, 0, false
		case most == 4:
			b[n] = v
		case n%2 == 0:
			b[n/2] = v << 4
		default:
			b[n/2] |= v
		}
		n++
	}
	return b, n, true
}

func parseOctet(label string) (byte, bool) {
	v, err := strconv.ParseUint(label, 10, 8)
	return byte(v), err == nil && (len(label) == 1 || label[0] != '0')
}

func parseNibble(label string) (byte, bool) {
	if len(label) != 1 {
		return 0, false
	}
	v, err := strconv.ParseUint(label, 16, 8)
	return byte(v), err == nil
}

// explainQuery is a question as the grammar reads it, for the explain
// option's reasons.
func (h *Headless) explainQuery(name string, qtype uint16) explain.Query {
	q := explain.Query{Name: name, Type: qtype}
	z := h.matchZone(name)
	if z == nil {
		return q // explain.OutOfZone
	}
	if isReverse(name) {
		p, ok := parseReverse(name)
		switch {
		case ok && p.IsSingleIP():
			q.Kind, q.Addr = explain.Reverse, p.Addr()
		case ok:
			q.Kind = explain.ReverseAbove
		default:
			q.Kind = explain.Other
		}
		return q
	}
	n := parseForward(name, len(z.name), h.index.Zonal())
	switch n.kind {
	case nameNamespace:
		q.Kind, q.Namespace = explain.Namespace, n.namespace
		return q
	case nameService:
	default:
		q.Kind = explain.Other
		return q
	}
	q.Namespace, q.Service = n.namespace, n.service[:len(n.service)-len(n.namespace)-1]
	switch {
	case n.tooLong:
		q.Kind = explain.Other
	case n.topoZone != "":
		q.Kind = explain.TopoZone
	case n.prefix == "":
		q.Kind = explain.Service
	case strings.HasPrefix(n.prefix, "_"):
		q.Kind = explain.Port
		q.PortName, q.Proto, _ = strings.Cut(n.prefix[1:], "._")
	default:
		q.Kind, q.Host = explain.Endpoint, n.prefix
	}
	return q
}
