package serve

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"sync/atomic"
	"unicode/utf8"

	"golang.org/x/sync/semaphore"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/readn"
)

// Limits on what one request may hold, beyond Options.MaxBody.
const (
	// maxImagePixels is the largest image header accepted at all.
	maxImagePixels = data.MaxImagePixels
	// maxJSONDepth bounds the nesting of a JSON request body.
	maxJSONDepth = 32
	// maxTensorRank bounds the rank of an input tensor.
	maxTensorRank = 8
	// maxMultipartParts bounds the parts read from a multipart upload.
	maxMultipartParts = 16
)

// httpError is an error with the status code to answer it with.
type httpError struct {
	code  int
	msg   string
	retry bool // answer with Retry-After: 1
}

func (e *httpError) Error() string { return e.msg }

// errorf returns an *httpError.
func errorf(code int, format string, args ...any) error {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeErr answers err: its own status for an *httpError, 413 for a body
// over the limit, 400 otherwise.
func writeErr(w http.ResponseWriter, err error) {
	var he *httpError
	var mb *http.MaxBytesError
	switch {
	case errors.As(err, &he):
		if he.retry {
			w.Header().Set("Retry-After", "1")
		}
		writeError(w, he.code, "%s", he.msg)
	case errors.As(err, &mb):
		writeError(w, http.StatusRequestEntityTooLarge, "request body is over the limit of %d bytes", mb.Limit)
	default:
		writeError(w, http.StatusBadRequest, "%v", err)
	}
}

// readBody reads all of r's body (already bounded by http.MaxBytesReader).
// Its buffer grows with the bytes that arrive, up to the declared length,
// so a client that declares a large body and sends little costs little.
func readBody(r *http.Request) ([]byte, error) {
	n := r.ContentLength
	if n < 0 { // not declared: up to the limit MaxBytesReader enforces
		n = math.MaxInt
	}
	b, err := readn.Read(r.Body, int(n))
	if err == nil && int64(len(b)) < r.ContentLength {
		err = fmt.Errorf("body ended after %d of the %d bytes its Content-Length declares", len(b), r.ContentLength)
	}
	if err != nil {
		return nil, bodyError(err)
	}
	return b, nil
}

// bodyError turns an error reading a request body into the answer: 413
// for a body over the limit, 503 for a read cut by the server's shutdown,
// 408 for a client too slow to send it within the read timeout, else 400.
func bodyError(err error) error {
	var mb *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.As(err, &mb):
		return err
	case errors.Is(err, errShuttingDown):
		return &httpError{code: http.StatusServiceUnavailable, msg: "the server is shutting down and the request body had not arrived; retry", retry: true}
	case errors.As(err, &ne) && ne.Timeout():
		return errorf(http.StatusRequestTimeout, "the request body did not arrive within the read timeout")
	}
	return errorf(http.StatusBadRequest, "reading the request body: %v", err)
}

// checkJSONDepth rejects JSON text nested deeper than max arrays and
// objects, before it is decoded. It does not otherwise validate b.
func checkJSONDepth(b []byte, max int) error {
	depth := 0
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			depth++
			if depth > max {
				return errorf(http.StatusBadRequest, "malformed JSON: nested deeper than %d levels", max)
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

// decodeBudget bounds the image decodes in flight: how many run at once and
// how many bytes of decoded pixels they may hold together, as estimated
// from each image's header ([data.DecodeCost]) before it is decoded. A
// request whose image alone needs more than the whole budget is refused
// (413); others wait, in arrival order, until the budget has room or their
// deadline passes (503).
type decodeBudget struct {
	limit int64
	bytes *semaphore.Weighted
	slots *semaphore.Weighted
	inUse atomic.Int64 // bytes held now
	peak  atomic.Int64 // most bytes held at once
	gauge func(float64)
}

// newDecodeBudget returns a budget of limit bytes and slots concurrent
// decodes; gauge, if not nil, is told the bytes in use on every change.
func newDecodeBudget(limit int64, slots int, gauge func(float64)) *decodeBudget {
	return &decodeBudget{limit: limit, bytes: semaphore.NewWeighted(limit), slots: semaphore.NewWeighted(int64(slots)), gauge: gauge}
}

// acquire reserves a decode slot and n bytes for what, and returns the
// function that gives them back. It fails with 413 when n is over the
// whole budget, and with 503 (or ctx's error, for a client that left) when
// ctx ends before there is room.
func (d *decodeBudget) acquire(ctx context.Context, n int64, what string) (release func(), err error) {
	if n > d.limit {
		return nil, errorf(http.StatusRequestEntityTooLarge, "%s needs about %s of memory to decode, over the server's decode budget of %s", what, mib(n), mib(d.limit))
	}
	if err := d.slots.Acquire(ctx, 1); err != nil {
		return nil, d.busy(ctx, err)
	}
	if err := d.bytes.Acquire(ctx, n); err != nil {
		d.slots.Release(1)
		return nil, d.busy(ctx, err)
	}
	now := d.inUse.Add(n)
	for p := d.peak.Load(); now > p && !d.peak.CompareAndSwap(p, now); p = d.peak.Load() {
	}
	if d.gauge != nil {
		d.gauge(float64(now))
	}
	var once atomic.Bool
	return func() {
		if once.Swap(true) {
			return
		}
		now := d.inUse.Add(-n)
		d.bytes.Release(n)
		d.slots.Release(1)
		if d.gauge != nil {
			d.gauge(float64(now))
		}
	}, nil
}

// busy is the error for a wait for decode room that ctx ended: the
// context's own error when the client left, else 503.
func (d *decodeBudget) busy(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return &httpError{code: http.StatusServiceUnavailable, msg: "the server is busy decoding other images; retry", retry: true}
}

// mib formats a byte count in MiB.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// checkImageHeader reads the header of the encoded image raw and returns
// what decoding it into an h×w input will cost in bytes. It refuses, before
// any pixel is decoded, an image that is not of a known format (400) or
// declares more than maxPixels pixels (413).
func checkImageHeader(raw []byte, h, w int, maxPixels int64) (int64, error) {
	cfg, format, cost, err := data.DecodeCost(raw, h, w)
	if err != nil {
		return 0, errorf(http.StatusBadRequest, "not a PNG, JPEG, GIF, BMP, WebP, PPM or PGM image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return 0, errorf(http.StatusBadRequest, "%s image of %dx%d pixels", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return 0, errorf(http.StatusRequestEntityTooLarge, "%s image of %dx%d pixels is over the limit of %d pixels", format, cfg.Width, cfg.Height, maxPixels)
	}
	return cost, nil
}

// clip returns s cut to at most n bytes (at a rune boundary) with "…" for
// what was cut, for echoing what a client sent in errors and logs.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + fmt.Sprintf("…(%d bytes)", len(s))
}

// errShuttingDown is the cause a request's body read is cut with when the
// server starts to shut down before the body has arrived.
var errShuttingDown = errors.New("serve: shutting down")
