package explain

import (
	"bytes"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// captureWriter keeps what is written, as bytes or as a message.
type captureWriter struct {
	test.ResponseWriter
	raw []byte
	msg *dns.Msg
}

func (w *captureWriter) Write(b []byte) (int, error) {
	w.raw = append([]byte(nil), b...)
	return len(b), nil
}
func (w *captureWriter) WriteMsg(m *dns.Msg) error { w.msg = m; return nil }

// WriteWithEDE appends the EDE's bytes to the packed reply: the bytes are
// those of the reply with the EDE added and packed as the server's writer
// packs it; a reply of another shape is written as a message with the EDE
// added.
func TestWriteWithEDE(t *testing.T) {
	soa := test.SOA("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5")
	negative := func(req *dns.Msg, extra ...dns.RR) *dns.Msg {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeNameError)
		m.Authoritative = true
		m.Ns = []dns.RR{soa}
		m.Extra = extra
		return m
	}
	query := func(size uint16, do bool, opts ...dns.EDNS0) *dns.Msg {
		r := new(dns.Msg)
		r.SetQuestion("x.db.app.svc.cluster.local.", dns.TypeA)
		r.Id = 4242
		if size > 0 {
			r.SetEdns0(size, do)
			o := r.IsEdns0()
			o.Option = append(o.Option, opts...)
		}
		return r
	}
	cookie := &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "24a5ac1223bc1ad1"}
	upstreamOPT := func() *dns.OPT {
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(4096)
		o.Option = []dns.EDNS0{&dns.EDNS0_NSID{Code: dns.EDNS0NSID, Nsid: "6e73"}}
		return o
	}
	glue := test.A("ns.dns.cluster.local. 5 IN A 10.0.0.10")
	ede := NewEDE(dns.ExtendedErrorCodeOther, "headless: x.db.app: no endpoint of Service db has the name x")
	long := NewEDE(dns.ExtendedErrorCodeOther, "headless: "+strings.Repeat("x", 600))
	for _, tc := range []struct {
		name   string
		req    func() *dns.Msg
		reply  func(req *dns.Msg) *dns.Msg
		ede    *EDE
		tcp    bool
		packed bool // appended to the packed bytes (else written as a message)
	}{
		{"EDNS, no OPT in the reply", func() *dns.Msg { return query(1232, false) }, func(r *dns.Msg) *dns.Msg { return negative(r) }, ede, false, true},
		{"EDNS with a cookie and DO", func() *dns.Msg { return query(4096, true, cookie) }, func(r *dns.Msg) *dns.Msg { return negative(r) }, ede, false, true},
		{"an OPT with an option in the reply", func() *dns.Msg { return query(1232, false) }, func(r *dns.Msg) *dns.Msg { return negative(r, glue, upstreamOPT()) }, ede, false, true},
		{"over TCP", func() *dns.Msg { return query(512, false) }, func(r *dns.Msg) *dns.Msg { return negative(r) }, long, true, true},
		{"the OPT not last", func() *dns.Msg { return query(1232, false) }, func(r *dns.Msg) *dns.Msg { return negative(r, upstreamOPT(), glue) }, ede, false, false},
		{"too big for the client's buffer", func() *dns.Msg { return query(512, false) }, func(r *dns.Msg) *dns.Msg { return negative(r) }, long, false, false},
		{"TSIG", func() *dns.Msg { r := query(1232, false); r.SetTsig("key.", dns.HmacSHA256, 300, 0); return r }, func(r *dns.Msg) *dns.Msg { return negative(r) }, ede, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// what the server's writer makes of the reply with the EDE added
			wantReq := tc.req()
			want := tc.reply(wantReq)
			AddEDE(wantReq, want, tc.ede.Option)
			state := request.Request{Req: wantReq, W: &test.ResponseWriter{TCP: tc.tcp}}
			state.SizeAndDo(want)
			state.Scrub(want)
			wantBytes, err := want.Pack()
			if err != nil {
				t.Fatal(err)
			}

			req := tc.req()
			w := &captureWriter{ResponseWriter: test.ResponseWriter{TCP: tc.tcp}}
			if err := WriteWithEDE(w, req, tc.reply(req), tc.ede); err != nil {
				t.Fatal(err)
			}
			if (w.raw != nil) != tc.packed || (w.msg != nil) == tc.packed {
				t.Fatalf("written as bytes: %v, as a message: %v; want bytes: %v", w.raw != nil, w.msg != nil, tc.packed)
			}
			if !tc.packed {
				var found bool
				for _, o := range w.msg.IsEdns0().Option {
					found = found || o == tc.ede.Option
				}
				if !found {
					t.Errorf("written as a message without the EDE: %v", w.msg)
				}
				return
			}
			if !bytes.Equal(w.raw, wantBytes) {
				got := new(dns.Msg)
				err := got.Unpack(w.raw)
				t.Errorf("bytes differ from the reply packed with the EDE (%v):\ngot  %x\nwant %x\n%v", err, w.raw, wantBytes, got)
			}
		})
	}
}

// The EDE made once packs as miekg/dns packs the option.
func TestNewEDE(t *testing.T) {
	e := NewEDE(dns.ExtendedErrorCodeStaleAnswer, "headless: watch of services failing")
	o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}, Option: []dns.EDNS0{e.Option}}
	buf := make([]byte, 512)
	n, err := dns.PackRR(o, buf, 0, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf[optHeaderLen:n], e.wire) {
		t.Errorf("wire %x, miekg/dns packs %x", e.wire, buf[optHeaderLen:n])
	}
}
