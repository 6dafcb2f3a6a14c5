package integration

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rawReply sends name's question and returns the reply's bytes as they came.
func rawReply(addr, name string, qtype uint16, tr transport) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 4242
	if tr == udpEDNS {
		m.SetEdns0(4096, false)
	}
	q, err := m.Pack()
	if err != nil {
		return nil, err
	}
	network := "udp"
	if tr == tcp {
		network = "tcp"
	}
	c, err := net.DialTimeout(network, addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if tr != tcp {
		if _, err := c.Write(q); err != nil {
			return nil, err
		}
		buf := make([]byte, 65535)
		n, err := c.Read(buf)
		return buf[:n], err
	}
	if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(q))), q...)); err != nil {
		return nil, err
	}
	var l [2]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	buf := make([]byte, binary.BigEndian.Uint16(l[:]))
	_, err = io.ReadFull(c, buf)
	return buf, err
}

// withoutSerial is a reply's bytes with its SOA serials zeroed (each
// instance stamps its own index's changes), repacked as it came when there
// is none.
func withoutSerial(b []byte) ([]byte, *dns.Msg, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return nil, nil, err
	}
	found := false
	for _, rr := range slices.Concat(m.Answer, m.Ns, m.Extra) {
		if s, ok := rr.(*dns.SOA); ok {
			s.Serial, found = 0, true
		}
	}
	if !found {
		return b, m, nil
	}
	p, err := m.Pack()
	return p, m, err
}

// edeCount removes the EDE options of a reply and says how many it had.
func edeCount(m *dns.Msg) int {
	o := m.IsEdns0()
	if o == nil {
		return 0
	}
	n := 0
	o.Option = slices.DeleteFunc(o.Option, func(e dns.EDNS0) bool {
		_, ede := e.(*dns.EDNS0_EDE)
		if ede {
			n++
		}
		return ede
	})
	return n
}

// explainChangesOnlyEDE compares the replies of two of ours on one cluster,
// explain off (off) and on (on), for every parity name over every
// transport: without EDNS and for every positive answer the bytes are the
// same (SOA serials aside), so a client that did not ask for EDNS gets no
// OPT; a negative answer over EDNS differs only by its EDE.
func explainChangesOnlyEDE(t *testing.T, off, on string) {
	t.Helper()
	same, withEDE := 0, 0
	for _, x := range parityNames() {
		for _, tr := range []transport{udp512, udpEDNS, tcp} {
			what := fmt.Sprintf("%s %s over %s", x.name, dns.TypeToString[x.qtype], tr)
			a, errA := rawReply(off, x.name, x.qtype, tr)
			b, errB := rawReply(on, x.name, x.qtype, tr)
			if errA != nil || errB != nil {
				t.Fatalf("%s: %v, %v", what, errA, errB)
			}
			a, ma, errA := withoutSerial(a)
			b, mb, errB := withoutSerial(b)
			if errA != nil || errB != nil {
				t.Fatalf("%s: %v, %v", what, errA, errB)
			}
			if bytes.Equal(a, b) {
				same++
				continue
			}
			negative := mb.Rcode == dns.RcodeNameError || (mb.Rcode == dns.RcodeSuccess && len(mb.Answer) == 0)
			if tr != udpEDNS || !negative {
				t.Errorf("%s: explain changed a reply that must stay byte-identical:\noff: %v\non:  %v", what, ma, mb)
				continue
			}
			if n := edeCount(mb); n == 0 || ma.String() != mb.String() {
				t.Errorf("%s: explain changed more than the EDE (%d EDEs):\noff: %v\non:  %v", what, n, ma, mb)
				continue
			}
			withEDE++
		}
	}
	if same == 0 || withEDE == 0 {
		t.Errorf("explain on and off: %d replies byte-identical, %d differ by an EDE; want some of each", same, withEDE)
	}
	t.Logf("explain on and off: %d replies byte-identical (every non-EDNS and every positive one), %d differ only by the EDE of a negative answer", same, withEDE)
}
