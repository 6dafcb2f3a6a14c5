package watch

import (
	"net/http"

	"k8s.io/client-go/rest"
)

// Client is how to reach an API server: the Corefile's kubeconfig, context,
// endpoint, compression, tls and apiserver_ options. 0 or "" is client-go's
// default, as in stock.
type Client struct {
	Kubeconfig, Context, Endpoint string
	Compression                   bool   // ask for gzip-compressed lists and watches
	Agent                         string // the User-Agent's product, e.g. "CoreDNS/1.15.0"

	CertFile, KeyFile, CAFile string // tls CERT KEY CACERT
	QPS                       float32
	Burst                     int
	MaxInflight               int
}

// apply sets the limits and TLS files on a client config, as stock does:
// tls replaces the config's certificate, key and CA; 0 leaves client-go's
// default.
func (l Client) apply(rc *rest.Config) {
	if l.CertFile != "" {
		rc.TLSClientConfig.CertFile, rc.TLSClientConfig.KeyFile, rc.TLSClientConfig.CAFile = l.CertFile, l.KeyFile, l.CAFile
		rc.TLSClientConfig.CertData, rc.TLSClientConfig.KeyData, rc.TLSClientConfig.CAData = nil, nil, nil
	}
	if l.QPS > 0 {
		rc.QPS = l.QPS
	}
	if l.Burst > 0 {
		rc.Burst = l.Burst
	}
	if l.MaxInflight > 0 {
		wrap := rc.WrapTransport
		rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			if wrap != nil {
				rt = wrap(rt)
			}
			return &inflightLimit{next: rt, slots: make(chan struct{}, l.MaxInflight)}
		}
	}
}

// inflightLimit lets at most cap(slots) requests wait for their response
// headers at once. A watch holds its slot only until the API server
// answers, not while it streams: as in stock.
type inflightLimit struct {
	next  http.RoundTripper
	slots chan struct{}
}

func (l *inflightLimit) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case l.slots <- struct{}{}:
		defer func() { <-l.slots }()
		return l.next.RoundTrip(r)
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
}
