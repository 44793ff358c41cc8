package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/explain"
	evalmetrics "github.com/fovea-ml/fovea/metrics"
	"github.com/fovea-ml/fovea/tensor"
)

// predictResponse is the POST /v1/predict/{name} response.
type predictResponse struct {
	Model       string               `json:"model"`
	Top         []evalmetrics.Ranked `json:"top"`
	Inverted    bool                 `json:"inverted,omitempty"`
	ElapsedMS   float64              `json:"elapsed_ms"`
	Explanation *explanation         `json:"explanation,omitempty"`
	// ExplainError says why no explanation was made, when one was asked.
	ExplainError string `json:"explain_error,omitempty"`
}

// explanation is a Grad-CAM of the predicted class.
type explanation struct {
	Method string `json:"method"`
	Layer  string `json:"layer"`
	Class  int    `json:"class"`
	// PNG is the base64 PNG of the heat map over the (resized) input.
	PNG string `json:"png"`
}

// reserveFunc reserves decode budget for n bytes of what (an image or a
// pixel tensor) and returns the function that gives it back; see
// [Server.reserve].
type reserveFunc func(n int64, what string) (release func(), err error)

// fromPixels turns a UINT8 pixel tensor of shape [N, C, H, W] or
// [N, H, W, C] (C = 1 or 3) into n normalized model inputs: each image is
// converted to the model's channels (luminance or RGB), resized to its
// H×W as predict does (keep the aspect ratio, cut the centre), scaled to
// [0, 1] and normalized. layout "" guesses: dimension 1 of 1 or 3 means
// NCHW, else dimension 3 of 1 or 3 means NHWC. The pixels are read where
// they lie (no copy of the request's image is made); reserve is asked for
// the resize's buffers first.
func (m *served) fromPixels(px []byte, shape []int64, layout string, maxPixels int64, reserve reserveFunc) ([]float32, error) {
	if len(shape) != 4 {
		return nil, fmt.Errorf("UINT8 shape %v: want [N, C, H, W] or [N, H, W, C]", shape)
	}
	if layout == "" {
		switch {
		case shape[1] == 1 || shape[1] == 3:
			layout = "NCHW"
		case shape[3] == 1 || shape[3] == 3:
			layout = "NHWC"
		default:
			return nil, fmt.Errorf("UINT8 shape %v has no channel dimension of 1 or 3 (NCHW or NHWC)", shape)
		}
	}
	n := int(shape[0])
	var ic, ih, iw int
	if layout == "NCHW" {
		ic, ih, iw = int(shape[1]), int(shape[2]), int(shape[3])
	} else {
		ih, iw, ic = int(shape[1]), int(shape[2]), int(shape[3])
	}
	if ic != 1 && ic != 3 {
		return nil, fmt.Errorf("UINT8 shape %v read as %s has %d channels; want 1 or 3", shape, layout, ic)
	}
	if int64(ih)*int64(iw) > maxPixels {
		return nil, fmt.Errorf("images of %dx%d pixels are over the limit of %d pixels", iw, ih, maxPixels)
	}
	c, h, w := m.Meta.InputShape[0], m.Meta.InputShape[1], m.Meta.InputShape[2]
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("model %q takes %d channels; UINT8 pixels work only for 1- or 3-channel models", m.Name, c)
	}
	release, err := reserve(data.ResizeCost(int64(iw), int64(ih), int64(h), int64(w)), fmt.Sprintf("a UINT8 tensor of %dx%d-pixel images", iw, ih))
	if err != nil {
		return nil, err
	}
	defer release()
	per, chw := ic*ih*iw, c*h*w
	out := make([]float32, n*chw)
	for e := range n {
		data.ImageInto(pixelImage(px[e*per:(e+1)*per], ic, ih, iw, layout == "NCHW"), c, h, w, m.prep.Resize, out[e*chw:(e+1)*chw])
	}
	m.prep.Normalize(out)
	return out, nil
}

// pixelImage returns the c×h×w (nchw) or h×w×c 8-bit pixels px as an
// image without copying them: an *image.Gray for one channel, else an
// image.RGBA64Image view that the resize reads pixel by pixel.
func pixelImage(px []byte, c, h, w int, nchw bool) image.Image {
	r := image.Rect(0, 0, w, h)
	if c == 1 {
		return &image.Gray{Pix: px, Stride: w, Rect: r}
	}
	return &rgbPixels{px: px, h: h, w: w, nchw: nchw}
}

// rgbPixels is an opaque RGB image over 8-bit pixels in CHW or HWC order.
type rgbPixels struct {
	px   []byte
	h, w int
	nchw bool
}

func (p *rgbPixels) ColorModel() color.Model { return color.RGBAModel }
func (p *rgbPixels) Bounds() image.Rectangle { return image.Rect(0, 0, p.w, p.h) }
func (p *rgbPixels) At(x, y int) color.Color { return p.rgba(x, y) }

// RGBA64At makes rgbPixels an image.RGBA64Image, which the resize reads
// without allocating per pixel.
func (p *rgbPixels) RGBA64At(x, y int) color.RGBA64 {
	c := p.rgba(x, y)
	return color.RGBA64{uint16(c.R) * 0x101, uint16(c.G) * 0x101, uint16(c.B) * 0x101, 0xffff}
}

func (p *rgbPixels) rgba(x, y int) color.RGBA {
	if !(image.Point{x, y}.In(p.Bounds())) {
		return color.RGBA{}
	}
	if p.nchw {
		hw, i := p.h*p.w, y*p.w+x
		return color.RGBA{p.px[i], p.px[hw+i], p.px[2*hw+i], 255}
	}
	i := 3 * (y*p.w + x)
	return color.RGBA{p.px[i], p.px[i+1], p.px[i+2], 255}
}

// handlePredict classifies one uploaded image: multipart/form-data with
// the file in field "image", or a raw body with an image/* (or
// application/octet-stream) content type. Query: top=K (default 5),
// invert=auto|yes|no (default auto, as fovea predict), explain=true.
func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	m := s.model(w, r)
	if m == nil {
		return
	}
	a := m.b.expect()
	defer a.leave()
	q := r.URL.Query()
	topK := 5
	if v := q.Get("top"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 1 {
			writeError(w, http.StatusBadRequest, "top=%q: want a positive integer", v)
			return
		}
		topK = k
	}
	invert := classify.Invert(q.Get("invert"))
	switch invert {
	case "", classify.InvertAuto, classify.InvertAlways, classify.InvertNever:
	default:
		writeError(w, http.StatusBadRequest, "invert=%q: want auto, yes or no", invert)
		return
	}
	wantExplain := false
	if v := q.Get("explain"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "explain=%q: want true or false", v)
			return
		}
		wantExplain = b
	}
	if !wantExplain {
		s.plain.Add(1)
		defer s.plain.Add(-1)
	}
	raw, err := readUpload(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
	defer cancel()
	pixels, inverted, err := m.decodeImage(raw, invert, s.opt.MaxPixels, s.reserve(ctx, m))
	if err != nil {
		writeInferErr(w, err, s.opt.Timeout)
		return
	}
	x := slices.Clone(pixels)
	m.prep.Normalize(x)
	logits, k, err := m.b.infer(ctx, x, 1, a)
	if err != nil {
		writeInferErr(w, err, s.opt.Timeout)
		return
	}
	if i := firstNonFinite(logits); i >= 0 {
		writeError(w, http.StatusInternalServerError, "the model's output is %v, not a finite number, for an image in [0, 1]: the model is broken", logits[i])
		return
	}
	resp := predictResponse{Model: m.Name, Inverted: inverted, Top: classify.Rank(m.Meta, logits[:k], topK)}
	if wantExplain {
		ex, err := s.explain(ctx, m, pixels, x)
		switch {
		case err == nil:
			resp.Explanation = ex
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, errQueueFull), errors.Is(err, errClosed):
			writeInferErr(w, err, s.opt.Timeout)
			return
		default:
			resp.ExplainError = err.Error()
		}
	}
	resp.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
	writeJSON(w, http.StatusOK, resp)
}

// readUpload returns the image bytes of a /v1/predict request.
func readUpload(r *http.Request) ([]byte, error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send multipart/form-data with an \"image\" field, or the image itself with an image/* type", ct)
	}
	switch {
	case mt == "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return nil, badRequest("multipart body: %v", err)
		}
		for range maxMultipartParts {
			part, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				var mb *http.MaxBytesError
				if errors.As(err, &mb) {
					return nil, err
				}
				return nil, badRequest("multipart body: %v", err)
			}
			if part.FormName() != "image" {
				part.Close()
				continue
			}
			b, err := io.ReadAll(part)
			if err != nil {
				var mb *http.MaxBytesError
				if errors.As(err, &mb) {
					return nil, err
				}
				return nil, badRequest("multipart body: %v", err)
			}
			return b, nil
		}
		return nil, badRequest("multipart body has no \"image\" field")
	case strings.HasPrefix(mt, "image/"), mt == "application/octet-stream":
		return readBody(r)
	default:
		return nil, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send multipart/form-data with an \"image\" field, or the image itself with an image/* type", mt)
	}
}

// decodeImage checks raw's header against maxPixels, reserves the memory
// its decode takes, decodes it to m's input size in [0, 1] and inverts it as
// invert says (auto: a 1-channel image whose border is mostly light, as
// fovea predict does).
func (m *served) decodeImage(raw []byte, invert classify.Invert, maxPixels int64, reserve reserveFunc) ([]float32, bool, error) {
	c, h, w := m.Meta.InputShape[0], m.Meta.InputShape[1], m.Meta.InputShape[2]
	if c != 1 && c != 3 {
		return nil, false, badRequest("model %q takes %d channels; image upload works only for 1- or 3-channel models", m.Name, c)
	}
	cost, err := checkImageHeader(raw, h, w, maxPixels)
	if err != nil {
		return nil, false, err
	}
	release, err := reserve(cost, "the image")
	if err != nil {
		return nil, false, err
	}
	x, err := data.DecodeImage(bytes.NewReader(raw), "upload", c, h, w, m.prep.Resize)
	release()
	if err != nil {
		return nil, false, badRequest("%v", err)
	}
	p := m.prep
	p.Invert = invert
	return x, p.InvertPixels(x), nil
}

// reserve returns the reserveFunc of a request for model m that waits at
// most until ctx ends, counting refusals in fovea_rejected_total.
func (s *Server) reserve(ctx context.Context, m *served) reserveFunc {
	return func(n int64, what string) (func(), error) {
		release, err := s.decode.acquire(ctx, n, what)
		var he *httpError
		if errors.As(err, &he) {
			reason := "decode_busy"
			if he.code == http.StatusRequestEntityTooLarge {
				reason = "decode_too_large"
			}
			s.metrics.rejected.WithLabelValues(m.Name, reason).Inc()
		}
		return release, err
	}
}

// explain computes the Grad-CAM of the predicted class for the normalized
// input x and renders it over pixels (the image in [0, 1]) as a PNG. The
// Grad-CAM runs in m's worker, which owns the model (it switches its
// parameters' gradients off for the while); other models go on meanwhile.
// Rendering runs here.
func (s *Server) explain(ctx context.Context, m *served, pixels, x []float32) (*explanation, error) {
	select {
	case s.explainGate <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	start := time.Now()
	defer func() {
		// Hold the gate a while after this explanation, if others are
		// waiting for plain inference, so explanations take at most
		// ExplainShare of the time; this response does not wait.
		hold := time.Duration(float64(time.Since(start)) * (1/s.opt.ExplainShare - 1))
		if hold <= 0 || s.plain.Load() == 0 {
			<-s.explainGate
			return
		}
		time.AfterFunc(hold, func() { <-s.explainGate })
	}()
	c, h, w := m.Meta.InputShape[0], m.Meta.InputShape[1], m.Meta.InputShape[2]
	var cam *explain.CAM
	var camErr error
	err := m.b.exclusive(ctx, func() {
		cam, camErr = explain.GradCAM(m.Layer, tensor.FromSlice(x, 1, c, h, w), "", -1)
	})
	if err != nil {
		return nil, err
	}
	if camErr != nil {
		return nil, camErr
	}
	img, err := explain.Overlay(pixels, c, h, w, &cam.Map, 0.5)
	if err != nil {
		return nil, err
	}
	var out image.Image = img
	if f := 224 / max(h, w); f > 1 {
		out = explain.Enlarge(img, f)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, out); err != nil {
		return nil, err
	}
	return &explanation{Method: "grad-cam", Layer: cam.Layer, Class: cam.Class, PNG: base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}
