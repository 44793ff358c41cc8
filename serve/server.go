// Package serve is Fovea's model server: an [http.Handler] that answers the
// KServe v2 (Open Inference Protocol) REST API, a simple image-upload
// endpoint, Prometheus metrics and health checks, over one or more loaded
// models.
//
// Endpoints (see docs/serve.md for examples):
//
//	GET  /v2/health/live, /v2/health/ready    liveness and readiness (no auth)
//	GET  /v2                                  server metadata
//	GET  /v2/models/{name}                    model metadata
//	GET  /v2/models/{name}/ready              model readiness
//	POST /v2/models/{name}/infer              inference: JSON or binary tensors
//	POST /v1/predict/{name}                   an image file → top-k labels (+ Grad-CAM)
//	GET  /metrics                             Prometheus metrics
//	GET  /debug/pprof/...                     profiles, only with Options.Pprof
//	GET  /                                    Options.Static, when set
//
// Each model has one worker goroutine that owns the model and its compiled
// engine plans (a [engine.Plan] is not safe for concurrent use). Requests
// for a model go through a bounded queue; the worker gathers those that
// arrive within Options.MaxDelay into one batch of at most Options.MaxBatch
// examples, runs it, and splits the output among the requests (dynamic
// batching). It waits only while more requests are likely — others for the
// model are still being read or decoded, or the batch holds fewer requests
// than the last one — so a single client's requests run at once, without
// the delay, and steady concurrent clients wait only for each other. A full queue answers 503 with Retry-After; a request whose
// context ends before its batch runs is dropped from the batch.
//
// Nothing in a request names a file: models are loaded by the caller (the
// fovea serve command) and handed to [New] as [Model] values.
package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/internal/version"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
)

// Version is reported by GET /v2 as the server's version: the Fovea
// release, the one fovea --version prints.
const Version = version.Version

// Model is one model to serve.
type Model struct {
	// Name is the model's name in URLs: /v2/models/{Name}. It must be
	// non-empty and URL-safe (letters, digits, '-', '_', '.').
	Name string
	// Layer is the network. [New] puts it in evaluation mode; the server
	// owns it from then on: nothing else may run it concurrently.
	Layer nn.Layer
	// Meta gives the input shape (C, H, W), normalization, class names and
	// softmax temperature, as [models.Load] returns them.
	Meta models.Meta
}

// Options configures a [Server]. The zero value of each field picks the
// default named in its comment.
type Options struct {
	// MaxBatch is the most examples run together (default 16); 1 turns
	// dynamic batching off.
	MaxBatch int
	// MaxDelay is how long a worker waits at most for more requests to
	// fill a batch after the first one arrives (default 2ms); it waits only
	// while others are being read or decoded or the batch holds fewer
	// requests than the last one.
	MaxDelay time.Duration
	// QueueSize bounds the requests waiting per model (default 256); more
	// are refused with 503 and Retry-After.
	QueueSize int
	// Timeout bounds each inference request, queueing included (default
	// 10s); an expired request is answered 504.
	Timeout time.Duration
	// MaxBody bounds request bodies in bytes (default 32 MiB); larger ones
	// are refused with 413.
	MaxBody int64
	// MaxPixels bounds the width×height an uploaded image header may
	// declare (default and upper bound [data.MaxImagePixels]); checked
	// before decoding.
	MaxPixels int64
	// DecodeBudget bounds the bytes of memory that the image decodes in
	// flight may hold together (default 256 MiB), each estimated from the
	// image's header, bytes per pixel included ([data.DecodeCost]): an
	// image that alone needs more is refused with 413 before decoding;
	// others wait for room (503 with Retry-After when Timeout passes).
	DecodeBudget int64
	// MaxDecodes bounds the image decodes (uploads and UINT8 tensors that
	// need resizing) that run at once (default GOMAXPROCS).
	MaxDecodes int
	// ExplainShare bounds the time Grad-CAM explanations (explain=true on
	// /v1/predict) take while other inference requests are in flight, as
	// a fraction of the wall-clock time (default 0.2; 1: no bound), so a
	// flood of explanations, each several times the cost of an inference,
	// cannot starve plain requests. Explanations run one at a time; after
	// one that took t, the next waits t·(1/ExplainShare − 1) if other
	// requests are in flight, and not at all otherwise.
	ExplainShare float64
	// MaxExamples bounds the batch size N of one request (default 256).
	MaxExamples int
	// Token, if set, is the bearer token every request except the health
	// checks and Static must carry: "Authorization: Bearer TOKEN".
	Token string
	// NoEngine runs models with eager Forward passes instead of compiled
	// engine plans (for debugging, and for models the engine runs wrong).
	NoEngine bool
	// Pprof mounts net/http/pprof under /debug/pprof/.
	Pprof bool
	// Logger receives one line per request (default slog.Default()).
	Logger *slog.Logger
	// Registry is where the metrics are registered and what /metrics
	// serves (default a new registry with the Go and process collectors).
	Registry *prometheus.Registry
	// Static, if set, serves GET / and any GET path outside /v1/ and /v2/
	// that no API route claims: the hook for the web page, e.g.
	// [WebUI]. It should answer unknown paths with a JSON 404 as WebUI
	// does (http.FileServerFS answers text).
	Static http.Handler
	// ShutdownTimeout is the grace period of [Server.Serve]'s shutdown: how
	// long it waits for in-flight requests after its context ends before it
	// closes the connections still open (default Timeout + 5s).
	ShutdownTimeout time.Duration
	// ReadHeaderTimeout bounds the time to read a request's headers
	// (default 10s), ReadTimeout the time to read a whole request, body
	// included (default 60s: a client whose body stalls is answered 408 and
	// disconnected), WriteTimeout the time to write a response once it has
	// begun (default 30s: a client that does not read it is disconnected),
	// and IdleTimeout how long a keep-alive connection may wait for its
	// next request (default 2m). [Server.Serve] applies them; a caller
	// serving the handler itself sets them on its own http.Server.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// AllowedHosts are the extra names, besides localhost, *.localhost and
	// IP addresses, that the Host header of a request arriving on a loopback
	// address may carry ("*": any). Without them a page on another site
	// whose DNS name has been rebound to 127.0.0.1 could call a server that
	// listens on loopback; such requests get 403.
	AllowedHosts []string
}

// withDefaults fills the zero fields of o.
func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 16
	}
	if o.MaxDelay < 0 {
		o.MaxDelay = 0
	} else if o.MaxDelay == 0 {
		o.MaxDelay = 2 * time.Millisecond
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 256
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 32 << 20
	}
	if o.MaxPixels <= 0 || o.MaxPixels > maxImagePixels {
		o.MaxPixels = maxImagePixels
	}
	if o.MaxExamples <= 0 {
		o.MaxExamples = 256
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = o.Timeout + 5*time.Second
	}
	if o.DecodeBudget <= 0 {
		o.DecodeBudget = 256 << 20
	}
	if o.MaxDecodes <= 0 {
		o.MaxDecodes = runtime.GOMAXPROCS(0)
	}
	if !(o.ExplainShare > 0 && o.ExplainShare <= 1) {
		o.ExplainShare = 0.2
	}
	if o.ReadHeaderTimeout <= 0 {
		o.ReadHeaderTimeout = 10 * time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 60 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 30 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	return o
}

// bodyDrainGrace is how long a request whose body is still arriving when
// shutdown begins has to finish sending it before its read is cut.
const bodyDrainGrace = time.Second

// Server serves a fixed set of models. Create one with [New]; it is an
// [http.Handler]. [Server.Serve] runs it on a listener until its context
// ends; [Server.Close] stops the model workers.
type Server struct {
	opt      Options
	models   map[string]*served
	order    []string // model names in the order given
	mux      *http.ServeMux
	handler  http.Handler
	metrics  *metrics
	draining atomic.Bool
	closeMu  sync.Once
	decode   *decodeBudget
	// explainGate runs one explanation at a time (see
	// Options.ExplainShare); plain counts the other inference requests in
	// flight.
	explainGate chan struct{}
	plain       atomic.Int64
	// bodies are the request bodies being read, which a shutdown cuts
	// when they do not arrive within bodyDrainGrace.
	bodiesMu sync.Mutex
	bodies   map[*inflightBody]struct{}
}

// served is a model with its preprocessing and its batcher.
type served struct {
	Model
	prep classify.Preprocessing // the invert mode is each request's
	b    *batcher
}

// newServed checks m's metadata and puts its network in evaluation mode.
func newServed(m Model) (*served, error) {
	prep, err := classify.NewPreprocessing(m.Meta, classify.Options{})
	if err != nil {
		return nil, fmt.Errorf("serve: model %q: %v", m.Name, err)
	}
	if m.Layer != nil {
		nn.SetTraining(m.Layer, false)
	}
	return &served{Model: m, prep: prep}, nil
}

// New checks the models and options, starts one worker per model, and
// returns the server. Call [Server.Close] (or let [Server.Serve] return)
// to stop the workers.
func New(ms []Model, opt Options) (*Server, error) {
	opt = opt.withDefaults()
	if len(ms) == 0 {
		return nil, errors.New("serve: no models")
	}
	s := &Server{opt: opt, models: map[string]*served{}}
	reg := opt.Registry
	if reg == nil {
		reg = newRegistry()
		s.opt.Registry = reg
	}
	met, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	s.metrics = met
	s.decode = newDecodeBudget(opt.DecodeBudget, opt.MaxDecodes, met.decodeBytes.Set)
	s.bodies = map[*inflightBody]struct{}{}
	s.explainGate = make(chan struct{}, 1)
	for _, m := range ms {
		if !validName(m.Name) {
			return nil, fmt.Errorf("serve: model name %q: use letters, digits, '-', '_' and '.'", m.Name)
		}
		if m.Layer == nil {
			return nil, fmt.Errorf("serve: model %q has no network", m.Name)
		}
		if _, dup := s.models[m.Name]; dup {
			return nil, fmt.Errorf("serve: model %q given twice", m.Name)
		}
		sm, err := newServed(m)
		if err != nil {
			return nil, err
		}
		s.models[m.Name] = sm
		s.order = append(s.order, m.Name)
	}
	for _, name := range s.order {
		sm := s.models[name]
		k, err := sm.numClasses(s)
		if err != nil {
			s.Close()
			return nil, err
		}
		sm.Meta.Options.NumClasses = k
		met.modelInfo(sm)
	}
	s.routes()
	return s, nil
}

// numClasses returns the model's number of outputs K, from its class names
// or, failing that, by running it once.
func (m *served) numClasses(s *Server) (int, error) {
	if m.b == nil {
		m.b = newBatcher(s, m)
	}
	if len(m.Meta.Classes) > 0 {
		return len(m.Meta.Classes), nil
	}
	c, h, w := m.Meta.InputShape[0], m.Meta.InputShape[1], m.Meta.InputShape[2]
	out, k, err := m.b.infer(context.Background(), make([]float32, c*h*w), 1, nil)
	if err != nil {
		return 0, fmt.Errorf("serve: model %q: %v", m.Name, err)
	}
	if len(out) != k || k < 1 {
		return 0, fmt.Errorf("serve: model %q: output is not (N, K) logits", m.Name)
	}
	return k, nil
}

// validName reports whether name may appear as a model name in a URL.
func validName(name string) bool {
	if name == "" || len(name) > 128 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return name != "." && name != ".."
}

// routes builds the handler chain.
func (s *Server) routes() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/health/live", s.handleLive)
	mux.HandleFunc("GET /v2/health/ready", s.handleReady)
	mux.HandleFunc("GET /v2", s.handleServerMetadata)
	mux.HandleFunc("GET /v2/models/{name}", s.handleModelMetadata)
	mux.HandleFunc("GET /v2/models/{name}/ready", s.handleModelReady)
	mux.HandleFunc("POST /v2/models/{name}/infer", s.handleInfer)
	mux.HandleFunc("POST /v1/predict/{name}", s.handlePredict)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.opt.Registry, promhttp.HandlerOpts{}))
	if s.opt.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if s.opt.Static != nil {
		mux.Handle("GET /", s.opt.Static)
	}
	// The API's own prefixes never reach Static: a GET there that no
	// route claims is answered like any other unknown API path.
	for _, p := range fallbackPatterns {
		mux.HandleFunc(p, s.handleNotFound)
	}
	s.mux = mux
	s.handler = s.middleware(mux)
}

// fallbackPatterns are the routes of handleNotFound.
var fallbackPatterns = []string{"/", "GET /v1/", "GET /v2/"}

// handleNotFound answers a request no route claims, with a JSON error: 405
// with Allow when the path exists for other methods, else 404.
func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		r2 := r.Clone(r.Context())
		r2.Method = method
		if _, pattern := s.mux.Handler(r2); pattern != "" && pattern != "GET /" && !slices.Contains(fallbackPatterns, pattern) {
			allow = append(allow, method)
		}
	}
	path := clip(r.URL.Path, maxEcho)
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeError(w, http.StatusMethodNotAllowed, "%s %s: method not allowed (use %s)", clip(r.Method, 16), path, strings.Join(allow, " or "))
		return
	}
	writeError(w, http.StatusNotFound, "no endpoint %s %s", clip(r.Method, 16), path)
}

// maxEcho bounds how much of a client's string (a path, a model name) an
// error message or log line repeats.
const maxEcho = 128

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Registry returns the registry /metrics serves.
func (s *Server) Registry() *prometheus.Registry { return s.opt.Registry }

// Serve answers requests on ln until ctx ends, then shuts down gracefully:
// it stops accepting connections, reports not ready, gives requests whose
// bodies are still arriving bodyDrainGrace to finish sending them (503
// after that), waits for the other in-flight requests, whose queued
// batches still run, for at most Options.ShutdownTimeout, closes the
// connections still open after that, and stops the model workers. It
// returns nil after a shutdown, graceful or not, and the listener's error
// otherwise.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var open sync.Map // net.Conn → struct{}, the connections not closed
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: s.opt.ReadHeaderTimeout,
		ReadTimeout:       s.opt.ReadTimeout,
		IdleTimeout:       s.opt.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.opt.Logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				open.Store(c, struct{}{})
			case http.StateClosed, http.StateHijacked:
				open.Delete(c)
			}
		},
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.opt.Logger.Info("shutting down: draining in-flight requests", "grace", s.opt.ShutdownTimeout.String())
	s.cutBodies()
	sctx, cancel := context.WithTimeout(context.Background(), s.opt.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		n := 0
		open.Range(func(any, any) bool { n++; return true })
		s.opt.Logger.Warn("shutdown grace period over: closing the connections still open", "connections", n, "grace", s.opt.ShutdownTimeout.String())
		hs.Close()
	}
	<-errc // http.ErrServerClosed
	s.Close()
	return nil
}

// ListenAndServe listens on the TCP address addr and calls [Server.Serve].
// ready, if not nil, is called with the bound address once listening.
func (s *Server) ListenAndServe(ctx context.Context, addr string, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if ready != nil {
		ready(ln.Addr())
	}
	return s.Serve(ctx, ln)
}

// Close stops the model workers after they finish the requests already
// queued. Later inference requests are answered 503. It is safe to call
// more than once.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		s.draining.Store(true)
		for _, name := range s.order {
			if b := s.models[name].b; b != nil {
				b.close()
			}
		}
	})
}

// model returns the served model name, or writes a 404.
func (s *Server) model(w http.ResponseWriter, r *http.Request) *served {
	name := r.PathValue("name")
	m, ok := s.models[name]
	if !ok {
		writeError(w, http.StatusNotFound, "unknown model %q; this server has %s", clip(name, maxEcho), strings.Join(s.order, ", "))
		return nil
	}
	return m
}

// errorBody is the KServe error response.
type errorBody struct {
	Error string `json:"error"`
}

// writeError writes a KServe-style {"error": "..."} body with status code.
func writeError(w http.ResponseWriter, code int, format string, args ...any) {
	writeJSON(w, code, errorBody{Error: fmt.Sprintf(format, args...)})
}

// writeJSON writes v as a JSON body with status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(b)+1))
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

// statusWriter records the status and size of a response, and sets the
// connection's write deadline when the response begins.
type statusWriter struct {
	http.ResponseWriter
	rc           *http.ResponseController
	writeTimeout time.Duration
	status       int
	n            int64
}

// begin notes the status of a response that starts now and gives its
// writing writeTimeout to finish: a client that does not read it is
// disconnected then. (A ResponseWriter without deadlines, such as
// httptest's recorder, has none.)
func (w *statusWriter) begin(code int) {
	if w.status != 0 {
		return
	}
	w.status = code
	if w.rc != nil && w.writeTimeout > 0 {
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.writeTimeout))
	}
}

func (w *statusWriter) WriteHeader(code int) {
	w.begin(code)
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.begin(http.StatusOK)
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// statusClientGone is logged (never sent) for requests whose client left.
const statusClientGone = 499

// middleware wraps h with panic recovery, the body limit, auth, metrics and
// the request log.
func (s *Server) middleware(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rc := http.NewResponseController(w)
		sw := &statusWriter{ResponseWriter: w, rc: rc, writeTimeout: s.opt.WriteTimeout}
		defer func() {
			p := recover()
			if p == http.ErrAbortHandler {
				panic(p)
			}
			if p != nil {
				s.opt.Logger.Error("handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(p))
				if sw.status == 0 {
					writeError(sw, http.StatusInternalServerError, "internal error")
				}
			}
			status := sw.status
			if status == 0 {
				status = http.StatusOK
				if r.Context().Err() != nil {
					status = statusClientGone
				}
			}
			model := ""
			if _, ok := s.models[r.PathValue("name")]; ok {
				model = r.PathValue("name")
			}
			endpoint := r.Pattern
			if endpoint == "" {
				endpoint = "other"
			}
			d := time.Since(start)
			s.metrics.request(endpoint, model, status, d)
			s.opt.Logger.Info("request", "method", clip(r.Method, 16), "path", clip(r.URL.Path, maxEcho), "status", status,
				"duration_ms", float64(d.Microseconds())/1000, "model", model, "bytes", sw.n)
		}()
		if !s.hostAllowed(r) {
			writeError(sw, http.StatusForbidden, "Host %q is not a name of this server: a server listening on loopback answers only localhost, *.localhost and IP addresses (fovea serve --allow-host NAME accepts another)", clip(r.Host, maxEcho))
			return
		}
		if r.ContentLength > s.opt.MaxBody {
			writeError(sw, http.StatusRequestEntityTooLarge, "request body of %d bytes is over the limit of %d bytes", r.ContentLength, s.opt.MaxBody)
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			b := s.trackBody(r.Body, rc)
			defer s.untrackBody(b)
			r.Body = b
		}
		r.Body = http.MaxBytesReader(sw, r.Body, s.opt.MaxBody)
		if s.opt.Token != "" && !s.exempt(r) && !s.authorized(r) {
			sw.Header().Set("WWW-Authenticate", `Bearer realm="fovea"`)
			writeError(sw, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h.ServeHTTP(sw, r)
	})
}

// exempt reports whether r needs no token: the health checks and the
// static page.
func (s *Server) exempt(r *http.Request) bool {
	switch r.URL.Path {
	case "/v2/health/live", "/v2/health/ready":
		return true
	}
	if s.opt.Static == nil || r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	_, pattern := s.mux.Handler(r)
	return pattern == "GET /"
}

// authorized compares r's bearer token with the configured one in
// constant time.
func (s *Server) authorized(r *http.Request) bool { return bearerOK(r, s.opt.Token) }

// hostAllowed reports whether r's Host header may be answered: always on a
// connection to a non-loopback address; on a loopback one only for
// localhost, *.localhost, an IP address or one of Options.AllowedHosts.
// A page whose DNS name an attacker has rebound to 127.0.0.1 sends its own
// name and is refused.
func (s *Server) hostAllowed(r *http.Request) bool {
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if ta, ok := la.(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		return true
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(strings.Trim(host, "[]"), "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || net.ParseIP(host) != nil {
		return true
	}
	for _, a := range s.opt.AllowedHosts {
		if a == "*" || strings.EqualFold(strings.TrimSuffix(a, "."), host) {
			return true
		}
	}
	return false
}

// inflightBody is a request body being read. A shutdown cuts the read of
// one that has not arrived in full (cut), and its reader then fails with
// errShuttingDown.
type inflightBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	mu   sync.Mutex
	done bool // read to its end, or failed
	cut  bool // the shutdown set a read deadline
}

func (b *inflightBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.mu.Lock()
		b.done = true
		cut := b.cut
		b.mu.Unlock()
		if cut && err != io.EOF {
			err = fmt.Errorf("%w: %v", errShuttingDown, err)
		}
	}
	return n, err
}

// cutAfter gives the body d to arrive: its connection's read deadline,
// unless it has been read already.
func (b *inflightBody) cutAfter(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.cut = true
		_ = b.rc.SetReadDeadline(time.Now().Add(d))
	}
}

// trackBody registers body as being read, for cutBodies; a body that
// starts after the shutdown has begun gets bodyDrainGrace at once.
func (s *Server) trackBody(body io.ReadCloser, rc *http.ResponseController) *inflightBody {
	b := &inflightBody{ReadCloser: body, rc: rc}
	s.bodiesMu.Lock()
	s.bodies[b] = struct{}{}
	s.bodiesMu.Unlock()
	if s.draining.Load() {
		b.cutAfter(bodyDrainGrace)
	}
	return b
}

// untrackBody forgets b when its request is answered.
func (s *Server) untrackBody(b *inflightBody) {
	s.bodiesMu.Lock()
	delete(s.bodies, b)
	s.bodiesMu.Unlock()
}

// cutBodies gives every request body still arriving bodyDrainGrace to
// finish: the first step of a shutdown, so that a client that stalls while
// sending cannot hold it up.
func (s *Server) cutBodies() {
	s.bodiesMu.Lock()
	defer s.bodiesMu.Unlock()
	for b := range s.bodies {
		b.cutAfter(bodyDrainGrace)
	}
}
