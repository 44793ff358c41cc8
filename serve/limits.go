package serve

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"io"
	"net/http"

	"github.com/fovea-ml/fovea/data"
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
	code int
	msg  string
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
		writeError(w, he.code, "%s", he.msg)
	case errors.As(err, &mb):
		writeError(w, http.StatusRequestEntityTooLarge, "request body is over the limit of %d bytes", mb.Limit)
	default:
		writeError(w, http.StatusBadRequest, "%v", err)
	}
}

// readBody reads all of r's body (already bounded by http.MaxBytesReader).
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		return nil, errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	return b, nil
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

// checkImageHeader reads the header of the encoded image raw and refuses,
// before any pixel is decoded, an image that is not of a known format or
// declares more than maxPixels pixels.
func checkImageHeader(raw []byte, maxPixels int64) error {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return errorf(http.StatusBadRequest, "not a PNG, JPEG, GIF, BMP, WebP, PPM or PGM image: %v", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return errorf(http.StatusBadRequest, "%s image of %dx%d pixels", format, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return errorf(http.StatusRequestEntityTooLarge, "%s image of %dx%d pixels is over the limit of %d pixels", format, cfg.Width, cfg.Height, maxPixels)
	}
	return nil
}
