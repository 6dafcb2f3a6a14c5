package explain

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Source is what the HTTP endpoint asks: an explanation of one question,
// resolved as the plugin resolves it, and what the index holds for one
// Service.
type Source interface {
	Explain(name string, qtype uint16) Explanation
	Service(namespace, name string) *ServiceInfo
}

// Server serves GET /explain?name=NAME&type=TYPE and GET
// /explain/services/NS/NAME as JSON.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	wg   sync.WaitGroup
	once sync.Once
}

// Listen starts serving src on addr (host:port).
func Listen(addr string, src Source) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /explain", func(w http.ResponseWriter, r *http.Request) {
		name, ok := ParseName(r.URL.Query().Get("name"))
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "name: want a domain name"})
			return
		}
		qtype, ok := ParseType(r.URL.Query().Get("type"))
		if !ok {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "type: want a record type such as A, AAAA, SRV or PTR"})
			return
		}
		writeJSON(w, http.StatusOK, src.Explain(name, qtype))
	})
	mux.HandleFunc("GET /explain/services/{ns}/{name}", func(w http.ResponseWriter, r *http.Request) {
		info := src.Service(strings.ToLower(r.PathValue("ns")), strings.ToLower(r.PathValue("name")))
		if info == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "the index holds no headless Service of that name"})
			return
		}
		writeJSON(w, http.StatusOK, info)
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}, ln: ln}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops serving and waits for the server's goroutine.
func (s *Server) Close() {
	s.once.Do(func() {
		_ = s.srv.Close()
		s.wg.Wait()
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ParseName reads a query name as given in a URL: a domain name in
// presentation form, made a lowercase FQDN; false for anything else.
func ParseName(s string) (string, bool) {
	if s == "" || len(s) > 1024 {
		return "", false
	}
	if _, ok := dns.IsDomainName(s); !ok {
		return "", false
	}
	name := strings.ToLower(dns.Fqdn(s))
	// the name must survive packing: its wire form at most 255 bytes
	if _, err := dns.PackDomainName(name, make([]byte, 256), 0, nil, false); err != nil {
		return "", false
	}
	return name, true
}

// ParseType reads a record type name (A when empty).
func ParseType(s string) (uint16, bool) {
	if s == "" {
		return dns.TypeA, true
	}
	t, ok := dns.StringToType[strings.ToUpper(s)]
	return t, ok
}
