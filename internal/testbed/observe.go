package testbed

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Eventually polls f every 20 ms until it returns nil, failing the test
// after within; it returns how long that took.
func Eventually(t TB, within time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	var err error
	for time.Since(start) < within {
		if err = f(); err == nil {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s: %v", what, within, err)
	return 0
}

// Metric reads a Prometheus text metric: series is either a full series
// ("name{labels}"), or a bare name, whose samples over every label set are
// summed. 0 when absent.
func Metric(t TB, url, series string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	pattern := `(?m)^` + regexp.QuoteMeta(series) + ` ([0-9.e+-]+)$`
	if !strings.Contains(series, "{") {
		pattern = `(?m)^` + regexp.QuoteMeta(series) + `(?:\{[^}]*\})? ([0-9.e+-]+)$`
	}
	sum := 0.0
	for _, m := range regexp.MustCompile(pattern).FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += v
	}
	return sum
}

// Reload sends SIGUSR1 to a CoreDNS n times, waiting for each reload to
// complete.
func Reload(t TB, p *Proc, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		before := strings.Count(p.Log(), "Reloading complete")
		if err := p.Signal(syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 30*time.Second, fmt.Sprintf("reload %d", i+1), func() error {
			if strings.Count(p.Log(), "Reloading complete") == before {
				return fmt.Errorf("not yet")
			}
			return nil
		})
	}
}

// Settled polls read until two reads 300 ms apart agree (goroutines winding
// down after a reload), and returns that value.
func Settled(t TB, within time.Duration, what string, read func() float64) float64 {
	t.Helper()
	last := read()
	var v float64
	Eventually(t, within, what+" settled", func() error {
		time.Sleep(300 * time.Millisecond)
		v = read()
		if v != last {
			last = v
			return fmt.Errorf("still moving: %v", v)
		}
		return nil
	})
	return v
}
