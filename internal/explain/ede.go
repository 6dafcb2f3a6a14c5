package explain

import (
	"encoding/binary"
	"net"
	"sync"

	"github.com/coredns/coredns/request"
	"github.com/headlessdns/headless/internal/names"
	"github.com/miekg/dns"
)

// ReplyEDE is the EDE of a negative reply to name (lowercase FQDN, in
// zone; fwd is the name parsed when it is a forward name) of type qtype:
// INFO-CODE 0 (Other), "headless: NAME: REASON". It is one option per name
// and type while the index takes no change in and the lookup learns
// nothing, shared by every reply (never written to); reasons are computed
// anew at most 1,000 times a second, a reply over that rate says "not
// explained". A new reason is logged at debug level.
func (e *Explainer) ReplyEDE(name string, qtype uint16, zone string, fwd *names.Forward) *EDE {
	if ede := e.RememberedEDE(name, qtype); ede != nil {
		return ede
	}
	k := memoKey{name, qtype}
	gen, lgen := e.generation(), e.lookupGen()
	text := "headless: " + ShortName(name, zone) + ": "
	if !e.lim.Allow() {
		return NewEDE(dns.ExtendedErrorCodeOther, text+"not explained (too many new negative answers a second)")
	}
	q := QueryOf(name, qtype, *fwd)
	q.Clusterset = e.inClusterset(zone)
	if rs := e.why(q, 0); len(rs) > 0 {
		text += rs[0].Message
		e.LogOnce(name+" "+dns.TypeToString[qtype], rs[0])
	}
	ede := NewEDE(dns.ExtendedErrorCodeOther, text)
	e.mu.Lock()
	if len(e.memo) >= memoMax {
		clear(e.memo)
	}
	e.memo[k] = memoEntry{gen: gen, lgen: lgen, ede: ede}
	e.mu.Unlock()
	return ede
}

// RememberedEDE is the EDE ReplyEDE made for name (as ReplyEDE takes it)
// and qtype, while it is current; nil otherwise. A name in a question is
// looked up as it came: one whose spelling has capitals is not found, and
// is read and lowercased for ReplyEDE.
func (e *Explainer) RememberedEDE(name string, qtype uint16) *EDE {
	gen, lgen := e.generation(), e.lookupGen()
	e.mu.Lock()
	m, ok := e.memo[memoKey{name, qtype}]
	e.mu.Unlock()
	if ok && m.gen == gen && m.lgen == lgen {
		return m.ede
	}
	return nil
}

type memoKey struct {
	name  string
	qtype uint16
}

type memoEntry struct {
	gen, lgen uint64 // the index's and the lookup's generations it was computed at
	ede       *EDE
}

const memoMax = 8192

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
	defer packBufs.Put(bp)
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
