package explain

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// AddEDE adds edes to the OPT record of m, a reply to req (one is made for
// req's buffer size when m has none). m's sections are not written to (a
// cache may hold them): its OPT and its additional section are new, in one
// allocation for up to 3 additional records and 3 options.
func AddEDE(req, m *dns.Msg, edes ...dns.EDNS0) {
	c := &ednsParts{}
	extra := c.extra[:0]
	var opt *dns.OPT
	for _, rr := range m.Extra {
		if o, ok := rr.(*dns.OPT); ok && opt == nil {
			c.opt = *o
			opt = &c.opt
			opt.Option = append(append(c.opts[:0], o.Option...), edes...)
			rr = opt
		}
		extra = append(extra, rr)
	}
	if opt == nil {
		opt = &c.opt
		opt.Hdr = dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}
		opt.Option = append(c.opts[:0], edes...)
		size := uint16(dns.MinMsgSize)
		if o := req.IsEdns0(); o != nil {
			size = o.UDPSize()
		}
		opt.SetUDPSize(size)
		extra = append(extra, opt)
	}
	m.Extra = extra
}

// ednsParts are the parts AddEDE makes.
type ednsParts struct {
	opt   dns.OPT
	extra [3]dns.RR
	opts  [3]dns.EDNS0
}

// EDE is an Extended DNS Error made once and written into many replies:
// the option, and its bytes as they stand in an OPT record's data.
type EDE struct {
	Option *dns.EDNS0_EDE
	wire   []byte // option code, length, INFO-CODE, text
}

// NewEDE makes an EDE of INFO-CODE code with text.
func NewEDE(code uint16, text string) *EDE {
	wire := make([]byte, 6+len(text))
	binary.BigEndian.PutUint16(wire[0:], dns.EDNS0EDE)
	binary.BigEndian.PutUint16(wire[2:], uint16(2+len(text)))
	binary.BigEndian.PutUint16(wire[4:], code)
	copy(wire[6:], text)
	return &EDE{Option: &dns.EDNS0_EDE{InfoCode: code, ExtraText: text}, wire: wire}
}

// WriteWithEDE writes m, the reply to req, with ede in its OPT record, as
// CoreDNS's server writes a reply (request.ScrubWriter: the OPT mirrors
// req's, the reply cut to the client's buffer), but packed into a pooled
// buffer with the EDE's bytes appended to the packed OPT record and handed
// to w as bytes: the EDE is never packed anew, and the reply allocates no
// more than one without it. w is the writer the server gave the first
// plugin of the chain (the front step), which takes bytes as it takes
// messages. A reply of another shape (TSIG, the OPT not last, too big with
// the EDE) gets the EDE added and is written as a message.
func WriteWithEDE(w dns.ResponseWriter, req, m *dns.Msg, ede *EDE) error {
	if req.IsTsig() != nil || req.IsEdns0() == nil {
		AddEDE(req, m, ede.Option)
		return w.WriteMsg(m)
	}
	state := request.Request{Req: req, W: w}
	state.SizeAndDo(m)
	state.Scrub(m)
	var opt *dns.OPT
	if n := len(m.Extra); n > 0 {
		opt, _ = m.Extra[n-1].(*dns.OPT)
	}
	if opt == nil || opt.Hdr.Name != "." {
		AddEDE(req, m, ede.Option)
		return w.WriteMsg(m)
	}
	data := dns.Len(opt) - optHeaderLen // the OPT's options as packed
	bp := packBufs.Get().(*[]byte)
	defer func() { packBufs.Put(bp) }()
	b, err := m.PackBuffer(*bp)
	if err != nil {
		return err
	}
	at := len(b) - data - 2 // the OPT's RDLENGTH
	limit := dns.MaxMsgSize
	if state.Proto() == "udp" {
		limit = state.Size()
	}
	if at < 9 || b[at-9] != 0 || binary.BigEndian.Uint16(b[at-8:]) != dns.TypeOPT ||
		int(binary.BigEndian.Uint16(b[at:])) != data || len(b)+len(ede.wire) > limit {
		AddEDE(req, m, ede.Option)
		return w.WriteMsg(m)
	}
	binary.BigEndian.PutUint16(b[at:], uint16(data+len(ede.wire)))
	b = append(b, ede.wire...)
	if cap(b) <= maxPooledPack {
		*bp = b[:cap(b)]
	}
	_, err = w.Write(b)
	return err
}

// optHeaderLen is an OPT record's length without its data: the root name,
// type, class (the UDP size), TTL (flags) and RDLENGTH.
const optHeaderLen = 1 + 2 + 2 + 4 + 2

// maxPooledPack is the largest buffer WriteWithEDE keeps for the next reply.
const maxPooledPack = 4096

var packBufs = sync.Pool{New: func() any { b := make([]byte, 1232); return &b }}

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
