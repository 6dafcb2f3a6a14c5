package node

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/headlessdns/headless/internal/testbed"
	meta "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestProbes: deploy/'s liveness (/health on 8080, after 60 s) and
// readiness (/ready on 8181) probes, as kubelet ran them: each CoreDNS pod
// has had both succeed, liveness never failed, and no container restarted. The
// counts are kubelet's own (prober_probe_total on /metrics/probes).
func TestProbes(t *testing.T) {
	n := clusterDNS(t)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	pods, err := n.Client.CoreV1().Pods("kube-system").List(bg, meta.ListOptions{LabelSelector: "k8s-app=kube-dns"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, probe := range []string{"Liveness", "Readiness"} {
			series := func(result string) string {
				return fmt.Sprintf(`prober_probe_total{container="coredns",namespace="kube-system",pod=%q,pod_uid=%q,probe_type=%q,result=%q}`, p.Name, p.UID, probe, result)
			}
			testbed.Eventually(t, 120*time.Second, probe+" of "+p.Name+" succeeded", func() error {
				resp, err := hc.Get("https://" + testbed.NodeIP + ":10250/metrics/probes")
				if err != nil {
					return err
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body := string(b)
				// readiness fails until the plugins have synced (/ready
				// is 503 before): only a liveness failure is one
				if v := value(body, series("failed")); v > 0 && probe == "Liveness" {
					t.Fatalf("%s probe of %s failed %v times", probe, p.Name, v)
				}
				if v := value(body, series("successful")); v < 1 {
					return fmt.Errorf("%s probe of %s: no success yet", probe, p.Name)
				}
				return nil
			})
		}
		cur, err := n.Client.CoreV1().Pods("kube-system").Get(bg, p.Name, meta.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range cur.Status.ContainerStatuses {
			if s.RestartCount != 0 {
				t.Errorf("%s/%s restarted %d times", p.Name, s.Name, s.RestartCount)
			}
		}
	}
}

func value(body, series string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, series+" ") {
			var v float64
			fmt.Sscanf(strings.TrimPrefix(l, series+" "), "%g", &v)
			return v
		}
	}
	return 0
}
