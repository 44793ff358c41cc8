package serve

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors. Label values are
// bounded: endpoint is a route pattern ("other" for none), model a served
// model's name or "".
type metrics struct {
	requests   *prometheus.CounterVec   // fovea_http_requests_total{endpoint, model, code}
	latency    *prometheus.HistogramVec // fovea_http_request_duration_seconds{endpoint, model}
	batchSize  *prometheus.HistogramVec // fovea_batch_size{model}
	inference  *prometheus.HistogramVec // fovea_inference_duration_seconds{model}
	queueDepth *prometheus.GaugeVec     // fovea_queue_depth{model}
	rejected   *prometheus.CounterVec   // fovea_rejected_total{model, reason}
	info       *prometheus.GaugeVec     // fovea_model_info{model, arch, input_shape, classes}
	// decodeBytes is the decode budget in use: fovea_decode_bytes_in_use.
	decodeBytes prometheus.Gauge
}

// newRegistry returns a registry with the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// newMetrics creates the collectors and registers them with reg.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fovea_http_requests_total",
			Help: "HTTP requests answered, by route, model and status code.",
		}, []string{"endpoint", "model", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fovea_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route and model.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"endpoint", "model"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fovea_batch_size",
			Help:    "Examples per batch run by a model's worker.",
			Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256},
		}, []string{"model"}),
		inference: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "fovea_inference_duration_seconds",
			Help:    "Time to run one batch through a model.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"model"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fovea_queue_depth",
			Help: "Requests waiting in a model's queue.",
		}, []string{"model"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "fovea_rejected_total",
			Help: "Inference requests not run: queue_full, cancelled (the client left or timed out before its batch ran), decode_too_large (an image over the decode budget) or decode_busy (no decode room within the timeout).",
		}, []string{"model", "reason"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "fovea_model_info",
			Help: "Served models (value 1), with architecture, input shape (C,H,W) and class count.",
		}, []string{"model", "arch", "input_shape", "classes"}),
		decodeBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "fovea_decode_bytes_in_use",
			Help: "Bytes of the decode budget held by image decodes in flight (estimated from their headers).",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.batchSize, m.inference, m.queueDepth, m.rejected, m.info, m.decodeBytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("serve: registering metrics: %v", err)
		}
	}
	return m, nil
}

// request records one answered request.
func (m *metrics) request(endpoint, model string, code int, d time.Duration) {
	m.requests.WithLabelValues(endpoint, model, strconv.Itoa(code)).Inc()
	m.latency.WithLabelValues(endpoint, model).Observe(d.Seconds())
}

// modelInfo sets the info gauge of sm and starts its queue gauge at 0.
func (m *metrics) modelInfo(sm *served) {
	s := sm.Meta.InputShape
	shape := strings.Join([]string{strconv.Itoa(s[0]), strconv.Itoa(s[1]), strconv.Itoa(s[2])}, ",")
	arch := sm.Meta.Model
	if arch == "" {
		arch = "unknown"
	}
	m.info.WithLabelValues(sm.Name, arch, shape, strconv.Itoa(sm.Meta.Options.NumClasses)).Set(1)
	m.queueDepth.WithLabelValues(sm.Name).Set(0)
}
