package headless

import (
	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

var (
	watchEvents = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "watch_events_total",
		Help: "Watch events received, by resource (services, endpointslices).",
	}, []string{"resource"})
	indexServices = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "services",
		Help: "Headless Services with published records.",
	})
	indexAddresses = promauto.NewGauge(prometheus.GaugeOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "addresses",
		Help: "Distinct ready endpoint addresses published.",
	})
	indexBuildSeconds = promauto.NewHistogram(prometheus.HistogramOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "index_build_duration_seconds",
		Help:    "Time to build and publish one batch of changed Services.",
		Buckets: prometheus.ExponentialBuckets(0.00005, 4, 10),
	})
	requests = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace, Subsystem: pluginName, Name: "requests_total",
		Help: "Queries in the plugin's zones, by outcome (answer, nodata, nxdomain, servfail, pass).",
	}, []string{"outcome"})
	reqAnswer   = requests.WithLabelValues("answer")
	reqNodata   = requests.WithLabelValues("nodata")
	reqNXDomain = requests.WithLabelValues("nxdomain")
	reqServfail = requests.WithLabelValues("servfail")
	reqPass     = requests.WithLabelValues("pass")
)
