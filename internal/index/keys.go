package index

import (
	"strings"

	"github.com/headlessdns/headless/internal/object"
)

// The keys records are filed under, and the names records are written with.
// The root package's name grammar (names.go) parses a query into these keys.

// ServiceKey is the index key of a Service: name.namespace.
func ServiceKey(name, namespace string) string { return name + "." + namespace }

// PortKey is the key of a port name and protocol below a Service
// (lowercase, without underscores); "" is any. Every spelling of a port
// name maps to one key.
func PortKey(port, proto string) string { return "_" + port + "._" + proto }

// isPortKey tells a port key from a host key (hosts are DNS labels: no "_").
func isPortKey(k string) bool { return strings.HasPrefix(k, "_") }

// JoinName joins a relative name and a zone (FQDN, possibly the root).
func JoinName(rel, zone string) string {
	if zone == "." {
		return rel + "."
	}
	return rel + "." + zone
}

// EndpointName is the stock plugin's name for an endpoint address: its
// hostname, else (endpoint_pod_names) its target's name, else the dashed
// address as written in the slice.
func EndpointName(ep *object.Endpoint, addr string, podNames bool) string {
	if ep.Hostname != "" {
		return ep.Hostname
	}
	if podNames && ep.TargetName != "" {
		return ep.TargetName
	}
	if strings.Contains(addr, ".") {
		return strings.ReplaceAll(addr, ".", "-")
	}
	h := strings.ReplaceAll(addr, ":", "-")
	if strings.HasSuffix(h, "-") {
		h += "0"
	}
	return h
}
