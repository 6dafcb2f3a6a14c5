// Package names is the name grammar of the plugin, in one place: what a
// forward name below a zone is (the Kubernetes DNS specification 1.1.0, with
// the spellings the stock plugin's parser accepts), and the address prefix a
// reverse name stands for. It allocates only for the rarer port spellings.
package names

import (
	"net/netip"
	"strconv"
	"strings"

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
// In a clusterset zone (the multicluster option; the MCS DNS specification
// 1.0.0) the same shapes, but for one: two labels below the Service of which
// neither starts with "_" are an imported endpoint, <hostname>.<clusterid>
// (as stock reads them there). One label is then no name (stock: NXDOMAIN),
// and <port>.<proto> must be spelled with an underscore on either label.
//
// Reverse names: the in-addr.arpa / ip6.arpa name of an address, or of a
// prefix above it (an empty non-terminal when some published address is in it).

// Kind is what a forward name is, by its shape alone.
type Kind int

const (
	Other     Kind = iota // not a name of this grammar: the next plugin's
	Apex                  // the zone itself
	NS                    // ns.dns.<zone>, the name the apex NS points to
	SvcLabel              // svc.<zone>
	Namespace             // <ns>.svc.<zone>
	Service               // <svc>.<ns>.svc.<zone> or a name below it
)

// Forward is a parsed forward name. Strings are slices of the (lowercase)
// query name: parsing allocates only for the rarer port spellings.
type Forward struct {
	Kind      Kind
	Namespace string
	Service   string // index key of the Service: <svc>.<ns>
	Prefix    string // key of the name below the Service: "" the Service itself, a host, index.PortKey(...)
	TopoZone  string // zone-scoped name: the topology zone (Prefix is then "")
	Prefer    bool   // zone-scoped name with the prefer directive
	TooLong   bool   // below the Service, but no shape of the grammar: NXDOMAIN
}

const (
	svcLabel  = "svc"
	zoneLabel = "_zone"
	NSName    = "ns.dns" // the name the apex NS points to, below the zone
)

// ParseForward parses name (lowercase FQDN) in a zone of zoneLen bytes.
// zonal enables zone-scoped names; clusterset reads the zone as a
// multi-cluster one (ParseClusterset).
func ParseForward(name string, zoneLen int, zonal, clusterset bool) Forward {
	base := strings.TrimSuffix(name[:len(name)-zoneLen], ".")
	if base == "" {
		return Forward{Kind: Apex}
	}
	if base == NSName {
		return Forward{Kind: NS}
	}
	// Walk labels from the right: svc, namespace, service, then the prefix.
	rest, last := cutLast(base)
	if last != svcLabel {
		return Forward{}
	}
	if rest == "" {
		return Forward{Kind: SvcLabel}
	}
	rest, ns := cutLast(rest)
	if rest == "" {
		return Forward{Kind: Namespace, Namespace: ns}
	}
	prefix, svc := cutLast(rest)
	// the Service key is "<svc>.<ns>": a slice of the name when no escape is in it
	key := base[len(base)-len(svc)-len(ns)-len(".svc")-1 : len(base)-len(".svc")]
	n := Forward{Kind: Service, Namespace: ns, Service: key}
	if prefix == "" {
		return n
	}
	switch labels := countLabels(prefix); {
	case labels == 1:
		n.Prefix = prefix
	case labels == 2:
		proto, port := cutFirst(prefix)
		if clusterset && !strings.HasPrefix(port, "_") && !strings.HasPrefix(proto, "_") {
			n.Prefix = prefix // <hostname>.<clusterid>: the key of an imported endpoint
			return n
		}
		port, proto = strings.TrimPrefix(port, "_"), strings.TrimPrefix(proto, "_")
		if len(port)+len(proto)+3 == len(prefix) {
			n.Prefix = prefix // already the canonical _port._proto
		} else {
			n.Prefix = index.PortKey(port, proto)
		}
	default:
		rest, z := cutLast(prefix)
		topo, directive := cutLast(rest)
		if !zonal || z != zoneLabel || (directive != "pin" && directive != "prefer") {
			n.TooLong = true
			return n
		}
		n.TopoZone, n.Prefer = topo, directive == "prefer"
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

// InZone reports whether name (FQDN) equals zone or is below it, by labels:
// `x\.cluster.local.` is not below cluster.local.
func InZone(name, zone string) bool {
	if zone == "." {
		return true
	}
	if !strings.HasSuffix(name, zone) {
		return false
	}
	n := len(name) - len(zone)
	return n == 0 || (name[n-1] == '.' && !escaped(name, n-1))
}

// IsReverse reports whether a lowercase FQDN is under in-addr.arpa or ip6.arpa.
func IsReverse(name string) bool {
	return InZone(name, "in-addr.arpa.") || InZone(name, "ip6.arpa.")
}

// ParseReverse returns the address prefix a reverse name stands for: a /32 or
// /128 for an address's own name, shorter for names above it. ok is false for
// names that are no prefix (bad labels, too many labels).
func ParseReverse(name string) (p netip.Prefix, ok bool) {
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
