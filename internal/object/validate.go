package object

import (
	"net/netip"
	"strconv"
	"strings"
	"sync"

	clog "github.com/coredns/coredns/plugin/pkg/log"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Objects can reach the index without the API server's validation (manifests,
// or data an older API server accepted): these checks are the API server's
// own, through k8s.io/apimachinery's validation functions.

// validLabel returns why s is not a DNS-1123 label, or "". The common valid
// case is checked by hand (the validation package matches a regular
// expression: a large part of a slice event's cost); anything else gets the
// package's own verdict and message.
func validLabel(s string) string {
	if isDNS1123Label(s) {
		return ""
	}
	if errs := validation.IsDNS1123Label(s); len(errs) > 0 {
		return errs[0]
	}
	return ""
}

// isDNS1123Label is validation.IsDNS1123Label without the regular
// expression: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
func isDNS1123Label(s string) bool {
	if len(s) == 0 || len(s) > validation.DNS1123LabelMaxLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// validServiceName returns why a Service name or its namespace cannot be a
// Service's (DNS-1035 label, DNS-1123 label), or "".
func validServiceName(name, namespace string) string {
	if errs := validation.IsDNS1035Label(name); len(errs) > 0 {
		return "service name: " + errs[0]
	}
	if namespace == "" {
		return ""
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return "namespace: " + errs[0]
	}
	return ""
}

// validAddress parses an endpoint address of an IPv4 (family 4) or IPv6
// (family 6) slice as the API server validates it: the slice's family, no
// IPv4-mapped IPv6, no zone, and not an address an endpoint may not have
// (unspecified, loopback, link-local, multicast).
func validAddress(raw string, family int) (netip.Addr, string) {
	addr, err := netip.ParseAddr(raw)
	switch {
	case err != nil:
		return addr, "not an IP address"
	case addr.Zone() != "":
		return addr, "IP address with a zone"
	case addr.Is4In6():
		return addr, "IPv4-mapped IPv6 address"
	case family == 4 && !addr.Is4(), family == 6 && !addr.Is6():
		return addr, "address of the other family than the slice's"
	case addr.IsUnspecified(), addr.IsLoopback(), addr.IsLinkLocalUnicast(), addr.IsMulticast():
		return addr, "address an endpoint may not have (unspecified, loopback, link-local or multicast)"
	}
	return addr, ""
}

// invalidSeen remembers which object revisions were reported, so a relist
// does not repeat the log line. Bounded: cleared when it grows large.
var invalidSeen = struct {
	sync.Mutex
	m map[string]struct{}
}{m: map[string]struct{}{}}

// Counter is told of every skipped part of an object: its resource and
// reason (the plugin's metric). A nil Counter counts nothing.
type Counter func(resource, reason string)

// maxInvalidParts bounds the skipped parts one log line names.
const maxInvalidParts = 8

// invalidParts collects what was skipped of one object revision because the
// API server would have rejected it: every part is counted, and report
// logs them in one line, once per revision, naming each (up to
// maxInvalidParts, then how many more).
type invalidParts struct {
	resource, namespace, name, revision string
	parts                               []string
	more                                int
	count                               Counter
}

// add counts a skipped part (its metric reason) and names it: part says
// which ("endpoint 3 (hostname \"Web_0\")", "port \"http\""), problem why.
func (p *invalidParts) add(reason, part, problem string) {
	if p.count != nil {
		p.count(p.resource, reason)
	}
	if len(p.parts) < maxInvalidParts {
		p.parts = append(p.parts, part+": "+problem)
	} else {
		p.more++
	}
}

// report logs the skipped parts, if any, unless this revision was logged.
func (p *invalidParts) report() {
	if len(p.parts) == 0 {
		return
	}
	key := strings.Join([]string{p.resource, p.namespace, p.name, p.revision}, "/")
	invalidSeen.Lock()
	_, seen := invalidSeen.m[key]
	if !seen {
		if len(invalidSeen.m) >= 10000 {
			clear(invalidSeen.m)
		}
		invalidSeen.m[key] = struct{}{}
	}
	invalidSeen.Unlock()
	if seen {
		return
	}
	what := strings.Join(p.parts, "; ")
	if p.more > 0 {
		what += "; and " + strconv.Itoa(p.more) + " more"
	}
	n := len(p.parts) + p.more
	noun := "part"
	if n > 1 {
		noun = "parts"
	}
	log.Warningf("skipped %d invalid %s of %s %s/%s (revision %q): %s", n, noun, p.resource, p.namespace, p.name, p.revision, what)
}

var log = clog.NewWithPlugin("headless")
