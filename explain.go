package headless

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/headlessdns/headless/internal/explain"
	"github.com/headlessdns/headless/internal/watch"
	"github.com/miekg/dns"
)

// The explain option: why a name is missing, in the reply (an Extended DNS
// Error, RFC 8914, added by the front step so that replies from cache carry
// it too) and over HTTP. The reasons come from internal/explain; this file
// wires them to the plugin.

// explainWait bounds how long an HTTP explanation waits to learn of a
// Service the watches do not bring.
const explainWait = 2 * time.Second

// explaining is the explain option's running state.
type explaining struct {
	ex     *explain.Explainer
	lookup *explain.Lookup
	srv    *explain.Server
}

// startExplain makes the explainer over src and, with an address, starts
// its HTTP endpoint.
func (h *Headless) startExplain(src watch.Source) error {
	if !h.cfg.Explain {
		return nil
	}
	lk := explain.NewLookup(src.Service)
	o := explain.Options{Index: h.index, Namespaces: h.cfg.Namespaces, NSLabels: h.cfg.NSLabels, Labels: h.cfg.Labels, Selector: h.cfg.Selector, Hostnames: h.cfg.Hostnames,
		PodNames: h.cfg.PodNames, Lookup: lk, Stale: h.staleWatch}
	if c := h.mc; c != nil {
		o.Imports = &explain.Imports{Zones: c.zones, Index: c.index, ClusterSetIP: c.clusterSetIP, Absent: c.absent.Load, Generation: c.generation}
	}
	h.explain = &explaining{lookup: lk, ex: explain.New(o)}
	return h.listenExplain()
}

func (h *Headless) listenExplain() error {
	if h.explain == nil || h.cfg.ExplainAddr == "" || h.explain.srv != nil {
		return nil
	}
	srv, err := explain.Listen(h.cfg.ExplainAddr, explainSource{h})
	if err != nil {
		return err
	}
	h.explain.srv = srv
	return nil
}

// closeExplainServer frees the HTTP endpoint's address (before a reload's
// new instance takes it).
func (h *Headless) closeExplainServer() error {
	if h.explain != nil && h.explain.srv != nil {
		h.explain.srv.Close()
		h.explain.srv = nil
	}
	return nil
}

func (h *Headless) stopExplain() {
	if h.explain == nil {
		return
	}
	_ = h.closeExplainServer()
	h.explain.lookup.Close()
}

// staleWatch is the first watch failing past the freshness threshold:
// the cluster zones' watches, then the clusterset zones'.
func (h *Headless) staleWatch() (string, time.Time, bool) {
	return h.staleFor(nil)
}

// staleFor is staleWatch of the watches that feed zone z's answers: a
// cluster zone's own, a clusterset zone's own, a reverse zone's (or
// nil's) either.
func (h *Headless) staleFor(z *zone) (string, time.Time, bool) {
	if h.health != nil && (z == nil || !z.set) {
		if w, ok := h.health.Stale(); ok {
			return w.Name, w.FailingSince, true
		}
	}
	if h.mc != nil && (z == nil || z.set || z.reverse) {
		if w, ok := h.mc.stale(); ok {
			return w.Name, w.FailingSince, true
		}
	}
	return "", time.Time{}, false
}

// explainWriter wraps w in fq's explain writer when the reply may need an
// EDE: explain is on and the query has EDNS.
func (fq *frontQuery) explainWriter(h *Headless, w dns.ResponseWriter) dns.ResponseWriter {
	if h.explain == nil || fq.req.IsEdns0() == nil {
		return w
	}
	fq.ew = explainWriter{ResponseWriter: w, h: h, fq: fq}
	return &fq.ew
}

// explainWriter adds the EDEs to a reply on its way out: the reason of a
// negative answer in our zones, and the stale codes while a watch is
// failing. Positive answers pass untouched otherwise.
type explainWriter struct {
	dns.ResponseWriter
	h  *Headless
	fq *frontQuery
}

func (w *explainWriter) WriteMsg(m *dns.Msg) error {
	negative := m.Rcode == dns.RcodeNameError || (m.Rcode == dns.RcodeSuccess && len(m.Answer) == 0)
	what, since, stale := w.h.staleWatch()
	if !negative && !stale {
		return w.ResponseWriter.WriteMsg(m)
	}
	if req := w.fq.req; negative && !stale && w.fq.unread { // a name asked before: its EDE without reading the question
		if ede := w.h.explain.ex.RememberedEDE(req.Question[0].Name, req.Question[0].Qtype); ede != nil {
			return explain.WriteWithEDE(w.ResponseWriter, req, m, ede)
		}
	}
	q := w.fq.question(w.h)
	if q.z == nil {
		return w.ResponseWriter.WriteMsg(m)
	}
	if stale { // the watches of this zone's answers only
		what, since, stale = w.h.staleFor(q.z)
		if !negative && !stale {
			return w.ResponseWriter.WriteMsg(m)
		}
	}
	var edes []dns.EDNS0
	if negative {
		ede := w.h.explain.ex.ReplyEDE(q.name, q.qtype, q.z.name, &q.fwd)
		if !stale { // every negative reply, also from cache: its EDE made once
			return explain.WriteWithEDE(w.ResponseWriter, w.fq.req, m, ede)
		}
		edes = append(edes, ede.Option)
	}
	code := dns.ExtendedErrorCodeStaleAnswer
	if m.Rcode == dns.RcodeNameError {
		code = dns.ExtendedErrorCodeStaleNXDOMAINAnswer
	}
	edes = append(edes, &dns.EDNS0_EDE{InfoCode: code, ExtraText: "headless: watch of " + what + " failing since " + since.UTC().Format(time.RFC3339)})
	explain.AddEDE(w.fq.req, m, edes...)
	return w.ResponseWriter.WriteMsg(m)
}

// explainSource answers the HTTP endpoint: the question resolved as the
// plugin resolves it (without cache), and its reasons.
type explainSource struct{ h *Headless }

func (s explainSource) Explain(name string, qtype uint16) explain.Explanation {
	h := s.h
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	rec := &explain.Recorder{}
	rc, _ := h.ServeDNS(context.Background(), rec, m)
	ex := explain.Explanation{Name: name, Type: dns.TypeToString[qtype], Rcode: dns.RcodeToString[rc]}
	answered := false
	if rec.Msg != nil {
		ex.Rcode, ex.Answers = dns.RcodeToString[rec.Msg.Rcode], len(rec.Msg.Answer)
		answered = rec.Msg.Rcode == dns.RcodeSuccess && len(rec.Msg.Answer) > 0
	}
	asked := h.ask(strings.ToLower(name), qtype)
	q := h.explainQuery(asked)
	ex.Reasons = h.explain.ex.Reasons(q, answered, explainWait)
	if q.Clusterset {
		if q.Service != "" {
			ex.Service = h.explain.ex.Import(q.Namespace, q.Service, asked.z.name)
		}
	} else if q.Service != "" {
		ex.Service = h.explain.ex.Service(q.Namespace, q.Service, h.firstForwardZone(), explainWait)
	}
	if q.Kind == explain.Reverse && h.cfg.SinglePTR {
		ex.SinglePTR = h.ptrChoice(q.Addr)
	}
	return ex
}

// ptrChoice is single_ptr's choice for an address several Services
// publish; nil for one Service or none.
func (h *Headless) ptrChoice(a netip.Addr) *explain.PTRChoice {
	ptr := h.index.PTR(a)
	if ptr == nil {
		return nil
	}
	return explain.PTRChoiceOf(ptr.Contributions(), ptr.Single().ServiceKey())
}

func (s explainSource) Service(namespace, name string) *explain.ServiceInfo {
	return s.h.explain.ex.Service(namespace, name, s.h.firstForwardZone(), explainWait)
}

func (h *Headless) firstForwardZone() string {
	for _, z := range h.zones {
		if !z.reverse {
			return z.name
		}
	}
	return "."
}

// explainQuery is a question as the grammar reads it, for the explain
// option's reasons.
func (h *Headless) explainQuery(q *question) explain.Query {
	if q.z == nil {
		return explain.Query{Name: q.name, Type: q.qtype} // explain.OutOfZone
	}
	eq := explain.QueryOf(q.name, q.qtype, q.fwd)
	eq.Clusterset = q.z.set
	return eq
}
