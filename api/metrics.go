package api

import (
	"gshare/api/router"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, in a registry of its own
// (never the global default).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	transfer *prometheus.HistogramVec
	bytesIn  prometheus.Counter
	bytesOut prometheus.Counter
	// integrity counts integrity failures by route and by whether they
	// were answered (502 before the headers) or cut the connection after
	// them, so an alert need not know which statuses mean what.
	integrity *prometheus.CounterVec
}

func newMetrics(s *Server, reg *prometheus.Registry) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gshare_http_requests_total",
			Help: "HTTP requests by route, method and status."}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gshare_http_request_duration_seconds",
			Help: "Time to answer a request, by route.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"route"}),
		transfer: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "gshare_transfer_duration_seconds",
			Help: "Duration of document uploads and downloads.", Buckets: prometheus.ExponentialBuckets(0.01, 4, 10)}, []string{"kind"}),
		bytesIn:  prometheus.NewCounter(prometheus.CounterOpts{Name: "gshare_bytes_in_total", Help: "Request body bytes received."}),
		bytesOut: prometheus.NewCounter(prometheus.CounterOpts{Name: "gshare_bytes_out_total", Help: "Response body bytes sent."}),
		integrity: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "gshare_integrity_errors_total",
			Help: "Requests that failed because stored data failed its integrity check, by route and when (before_headers: answered 502; after_headers: connection cut)."},
			[]string{"route", "when"}),
	}
	reg.MustRegister(m.requests, m.duration, m.transfer, m.bytesIn, m.bytesOut, m.integrity,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gshare_uploads_active", Help: "tus requests being served."},
			func() float64 {
				if s.tus == nil {
					return 0
				}
				return float64(s.tus.Running())
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gshare_requests_in_flight", Help: "Requests being served."},
			func() float64 { return float64(s.active.Load()) }))
	if p, ok := s.d.AuditLog.(interface{ Pending() int }); ok {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "gshare_audit_pending_entries",
			Help: "Audit entries recorded but not yet written (audit lag)."}, func() float64 { return float64(p.Pending()) }))
	}
	return m
}

// observe counts a finished request. status is the one finish settled on:
// for a response cut after its headers, the status of what cut it (502 for
// an integrity failure), not the 200 the headers said; code is the error
// code, if any.
func (m *metrics) observe(rq *router.Request, status int, code string, cut bool, in, out int64, took time.Duration) {
	route := rq.RouteName()
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
	m.bytesIn.Add(float64(in))
	m.bytesOut.Add(float64(out))
	if code == "integrity_error" {
		when := "before_headers"
		if cut {
			when = "after_headers"
		}
		m.integrity.WithLabelValues(route, when).Inc()
	}
	if rq.Route != nil {
		switch rq.Route.Action {
		case "file.write", "upload.write":
			m.transfer.WithLabelValues("upload").Observe(took.Seconds())
		case "file.read", "share.download":
			m.transfer.WithLabelValues("download").Observe(took.Seconds())
		}
	}
}

// isUpload reports whether an audit action brings document bytes in; its
// entry's bytes are the bytes stored, set by the handler.
func isUpload(action string) bool {
	return action == "file.write" || action == "upload.write" || action == "upload.create"
}

func (s *Server) metricsHandler(w http.ResponseWriter, r *http.Request, rq *router.Request) error {
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}
