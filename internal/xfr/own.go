package xfr

import (
	"net"

	"github.com/miekg/dns"
)

// Own writes a zone that is ours alone into ch and closes ch: its SOA, the
// apex's other records (batches as given), every Service of ours, the SOA
// again. A request with the current serial gets the SOA alone.
func Own(ch chan<- []dns.RR, serial uint32, soa *dns.SOA, apex [][]dns.RR, ours Ours) {
	defer close(ch)
	if serial != 0 && soa.Serial == serial {
		ch <- []dns.RR{soa}
		return
	}
	ch <- []dns.RR{soa}
	for _, b := range apex {
		if len(b) > 0 {
			ch <- b
		}
	}
	emit := func(rrs []dns.RR) { ch <- rrs }
	for _, key := range ours.Keys() {
		ours.Write(key, emit)
	}
	ch <- []dns.RR{soa}
}

// HostAddrs are the A and AAAA records of host at ips.
func HostAddrs(host string, ips []net.IP) []dns.RR {
	var rrs []dns.RR
	for _, ip := range ips {
		if ip4 := ip.To4(); ip4 != nil {
			rrs = append(rrs, &dns.A{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeA, Class: dns.ClassINET}, A: ip4})
		} else {
			rrs = append(rrs, &dns.AAAA{Hdr: dns.RR_Header{Name: host, Rrtype: dns.TypeAAAA, Class: dns.ClassINET}, AAAA: ip})
		}
	}
	return rrs
}

// BoundIPs are the non-loopback addresses a server block listens on, or
// every interface's when it binds none: the NS host's addresses in a zone
// of ours alone, as stock finds them.
func BoundIPs(hosts []string) []net.IP {
	if len(hosts) == 0 || hosts[0] == "" {
		hosts = nil
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return nil
		}
		for _, a := range addrs {
			hosts = append(hosts, a.String())
		}
	}
	var ips []net.IP
	for _, host := range hosts {
		ip, _, err := net.ParseCIDR(host) // as stock: a bound address alone (no CIDR) is none
		if err != nil || ip.IsLoopback() {
			continue
		}
		ips = append(ips, ip)
	}
	return ips
}
