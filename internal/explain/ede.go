package explain

import (
	"net"
	"sync"

	"github.com/miekg/dns"
)

// WithEDE returns a copy of m carrying edes in its OPT record (one is made
// for the requester's buffer size when m has none). m's sections are not
// written to: a cache may hold them.
func WithEDE(req, m *dns.Msg, edes ...dns.EDNS0) *dns.Msg {
	c := *m
	c.Extra = make([]dns.RR, 0, len(m.Extra)+1)
	var opt *dns.OPT
	for _, rr := range m.Extra {
		if o, ok := rr.(*dns.OPT); ok && opt == nil {
			oc := *o
			oc.Option = append(o.Option[:len(o.Option):len(o.Option)], edes...)
			opt = &oc
			rr = opt
		}
		c.Extra = append(c.Extra, rr)
	}
	if opt == nil {
		opt = &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}, Option: edes}
		size := uint16(dns.MinMsgSize)
		if o := req.IsEdns0(); o != nil {
			size = o.UDPSize()
		}
		opt.SetUDPSize(size)
		c.Extra = append(c.Extra, opt)
	}
	return &c
}

// logged remembers the last reason logged per name and type, bounded.
type logged struct {
	mu sync.Mutex
	m  map[string]string
}

// LogOnce logs a name's reason at debug level (the debug plugin shows it)
// once per change of that reason.
func (e *Explainer) LogOnce(key string, r Reason) {
	l := &e.logged
	l.mu.Lock()
	same := l.m[key] == r.Code+r.Message
	if !same {
		if l.m == nil || len(l.m) >= 10000 {
			l.m = map[string]string{}
		}
		l.m[key] = r.Code + r.Message
	}
	l.mu.Unlock()
	if !same {
		log.Debugf("%s: %s: %s", key, r.Code, r.Message)
	}
}

// Recorder is a ResponseWriter that keeps the reply: an HTTP
// explanation's question is resolved through it.
type Recorder struct {
	dns.ResponseWriter
	Msg *dns.Msg
}

func (r *Recorder) WriteMsg(m *dns.Msg) error { r.Msg = m; return nil }
func (r *Recorder) LocalAddr() net.Addr       { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }
func (r *Recorder) RemoteAddr() net.Addr      { return &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 53} }

func (r *Recorder) Write(b []byte) (int, error) {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return 0, err
	}
	r.Msg = m
	return len(b), nil
}
