package topology

import (
	"net"
	"net/netip"

	"github.com/miekg/dns"
)

// UDPSize is the reply size the client can take over UDP, less the room
// for the OPT record the server adds: 512 without EDNS, else the size it
// advertises (at least 512).
func UDPSize(req *dns.Msg) int {
	opt := req.IsEdns0()
	if opt == nil {
		return dns.MinMsgSize
	}
	return max(int(opt.UDPSize()), dns.MinMsgSize) - max(dns.Len(opt), 11)
}

// ClientAddr is a client's address (UDP or TCP; IPv4-mapped unmapped).
func ClientAddr(a net.Addr) netip.Addr {
	if ap, ok := a.(interface{ AddrPort() netip.AddrPort }); ok {
		return ap.AddrPort().Addr().WithZone("").Unmap()
	}
	return netip.Addr{}
}
