// Package integration runs the custom CoreDNS binary against a real
// kube-apiserver, etcd and kube-controller-manager on loopback, next to a
// stock CoreDNS v1.15.0 on the same cluster.
package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	"github.com/miekg/dns"
)

// ourCorefile is what we tell users to deploy: headless ahead of kubernetes{noendpoints}.
func ourCorefile(kubeconfig string, metricsPort, readyPort int, extra, headlessExtra string) string {
	return fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d
    %s
    headless cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        %s
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
        noendpoints
    }
}
`, metricsPort, readyPort, extra, kubeconfig, headlessExtra, kubeconfig)
}

// stockCorefile is the baseline a user has today: the kubernetes plugin alone.
func stockCorefile(kubeconfig string) string {
	return fmt.Sprintf(`.:{PORT} {
    bind 127.0.0.1
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig %s
    }
}
`, kubeconfig)
}

type dut struct {
	*testbed.CoreDNS
	metrics string
	ready   string
}

func startOurs(t *testing.T, kubeconfig, extra string) *dut {
	return startOursWith(t, kubeconfig, extra, "startup_timeout 10s")
}

func startOursWith(t *testing.T, kubeconfig, extra, headlessExtra string) *dut {
	t.Helper()
	mp, rp := testbed.FreePort(t), testbed.FreePort(t)
	c := testbed.StartCoreDNS(t, testbed.OurCoreDNS(t), ourCorefile(kubeconfig, mp, rp, extra, headlessExtra))
	return &dut{CoreDNS: c, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", mp), ready: fmt.Sprintf("http://127.0.0.1:%d/ready", rp)}
}

func startStock(t *testing.T, kubeconfig string) *testbed.CoreDNS {
	t.Helper()
	return testbed.StartCoreDNS(t, testbed.StockCoreDNS(t), stockCorefile(kubeconfig))
}

// answer is a reply reduced to what must match: rcode, answer and additional
// records (sorted; SOA serials and TTLs of negative answers left out).
func answer(t testing.TB, addr, name string, qtype uint16, tcp bool) string {
	t.Helper()
	r, err := testbed.Exchange(addr, name, qtype, tcp)
	if err != nil {
		return "error: " + err.Error()
	}
	rcode, rrs := testbed.Answers(r)
	var extra []string
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr.String())
		}
	}
	sort.Strings(extra)
	s := strings.TrimSpace(rcode + " " + strings.Join(rrs, " | "))
	if len(extra) > 0 {
		s += " || " + strings.Join(extra, " | ")
	}
	return s
}

// eventually polls f until it returns nil, failing after within.
func eventually(t testing.TB, within time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	return testbed.Eventually(t, within, what, f)
}

// expect waits until name answers want over UDP and TCP.
func expect(t testing.TB, addr, name string, qtype uint16, want string) time.Duration {
	t.Helper()
	d := eventually(t, 30*time.Second, name+" "+dns.TypeToString[qtype], func() error {
		for _, tcp := range []bool{false, true} {
			if got := answer(t, addr, name, qtype, tcp); got != want {
				return fmt.Errorf("tcp=%v got %q want %q", tcp, got, want)
			}
		}
		return nil
	})
	return d
}

// sameAsStock waits until ours and stock give the same whole reply for each
// query (fullReply: rcode, AA, TC and every section, as TestParity
// compares them) over plain UDP, UDP with EDNS and TCP, and ours' answer
// starts with want.
func sameAsStock(t testing.TB, ours, stock string, qs ...q) {
	t.Helper()
	for _, x := range qs {
		eventually(t, 30*time.Second, "same as stock: "+x.name+" "+dns.TypeToString[x.qtype], func() error {
			for _, tr := range []transport{udp512, udpEDNS, tcp} {
				if a, b := fullReply(ours, x.name, x.qtype, tr), fullReply(stock, x.name, x.qtype, tr); a != b {
					return fmt.Errorf("over %s: ours\n%s\nstock\n%s", tr, a, b)
				}
			}
			if a := answer(t, ours, x.name, x.qtype, true); x.want != "" && !strings.HasPrefix(a, x.want) {
				return fmt.Errorf("both %q, want prefix %q", a, x.want)
			}
			return nil
		})
	}
}

type q struct {
	name  string
	qtype uint16
	want  string // expected prefix, e.g. "NOERROR A"
}

// metric reads a metric: a full series, or a bare name summed over its labels.
func metric(t testing.TB, url, series string) float64 {
	t.Helper()
	return testbed.Metric(t, url, series)
}

// httpGet is a GET's status and body (0: no answer).
func httpGet(url string) (int, string) {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func httpStatus(url string) int {
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

var bg = context.Background()

// querier asks names in a loop and records every reply that is not the
// expected one.
type querier struct {
	stop  chan struct{}
	done  chan struct{}
	n     int
	bad   []string
	names map[string]string // name -> expected answer()
}

func startQuerier(t *testing.T, addr string, want map[string]string) *querier {
	qr := &querier{stop: make(chan struct{}), done: make(chan struct{}), names: want}
	go func() {
		defer close(qr.done)
		for {
			for name, w := range qr.names {
				select {
				case <-qr.stop:
					return
				default:
				}
				got := answer(t, addr, name, dns.TypeA, false)
				qr.n++
				if got != w && len(qr.bad) < 20 {
					qr.bad = append(qr.bad, fmt.Sprintf("%s: %s", name, got))
				}
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	return qr
}

// finish stops the querier and fails the test on any unexpected reply.
func (qr *querier) finish(t *testing.T, during string) {
	t.Helper()
	close(qr.stop)
	<-qr.done
	t.Logf("%s: %d queries, %d not the last known answer", during, qr.n, len(qr.bad))
	if qr.n == 0 || len(qr.bad) > 0 {
		t.Errorf("%s: %d queries; unexpected replies: %v", during, qr.n, qr.bad)
	}
}
