package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/fovea-ml/fovea/classify"
	evalmetrics "github.com/fovea-ml/fovea/metrics"
)

// The names and datatypes of the KServe v2 tensors every model has.
const (
	inputName   = "input"
	outLogits   = "logits"
	outProbs    = "probabilities"
	typeFP32    = "FP32"
	typeUINT8   = "UINT8"
	platform    = "fovea"
	headerLenH  = "Inference-Header-Content-Length"
	binaryExt   = "binary_tensor_data"
	contentJSON = "application/json"
)

// serverMetadata is the GET /v2 response.
type serverMetadata struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Extensions []string `json:"extensions"`
}

// tensorMetadata describes one input or output of a model.
type tensorMetadata struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// modelMetadata is the GET /v2/models/{name} response.
type modelMetadata struct {
	Name       string           `json:"name"`
	Platform   string           `json:"platform"`
	Inputs     []tensorMetadata `json:"inputs"`
	Outputs    []tensorMetadata `json:"outputs"`
	Parameters map[string]any   `json:"parameters,omitempty"`
}

// inferRequest is the JSON part of POST /v2/models/{name}/infer.
type inferRequest struct {
	ID         string                     `json:"id,omitempty"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Inputs     []requestInput             `json:"inputs"`
	Outputs    []requestOutput            `json:"outputs,omitempty"`
}

// requestInput is one input tensor of a request.
type requestInput struct {
	Name       string                     `json:"name"`
	Shape      []int64                    `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
	Data       json.RawMessage            `json:"data,omitempty"`
}

// requestOutput asks for one output.
type requestOutput struct {
	Name       string                     `json:"name"`
	Parameters map[string]json.RawMessage `json:"parameters,omitempty"`
}

// inferResponse is the JSON part of an inference response.
type inferResponse struct {
	ModelName string           `json:"model_name"`
	ID        string           `json:"id,omitempty"`
	Outputs   []responseOutput `json:"outputs"`
}

// responseOutput is one output tensor; Data is nil when it is sent as
// binary data.
type responseOutput struct {
	Name       string         `json:"name"`
	Shape      []int64        `json:"shape"`
	Datatype   string         `json:"datatype"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       []float32      `json:"data,omitempty"`
}

// outSpec is one requested output.
type outSpec struct {
	name   string
	binary bool
}

// inferInput is a decoded, validated and preprocessed request.
type inferInput struct {
	id      string
	x       []float32 // n×C×H×W, ready for the model
	n       int
	outputs []outSpec
}

func (s *Server) handleLive(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]bool{"live": true})
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]bool{"ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"ready": true})
}

func (s *Server) handleServerMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, serverMetadata{Name: "fovea", Version: Version, Extensions: []string{binaryExt}})
}

func (s *Server) handleModelMetadata(w http.ResponseWriter, r *http.Request) {
	m := s.model(w, r)
	if m == nil {
		return
	}
	writeJSON(w, http.StatusOK, m.metadata())
}

func (s *Server) handleModelReady(w http.ResponseWriter, r *http.Request) {
	m := s.model(w, r)
	if m == nil {
		return
	}
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"name": m.Name, "ready": false})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": m.Name, "ready": true})
}

// metadata describes m's tensors: input (-1, C, H, W) FP32 (or UINT8
// pixels), outputs logits and probabilities (-1, K) FP32.
func (m *served) metadata() modelMetadata {
	c, h, w := int64(m.Meta.InputShape[0]), int64(m.Meta.InputShape[1]), int64(m.Meta.InputShape[2])
	k := int64(m.Meta.Options.NumClasses)
	params := map[string]any{
		"uint8_input": "UINT8 pixels are accepted too: [N, C, H, W] or [N, H, W, C] with C = 1 or 3, any H and W",
	}
	if m.Meta.Model != "" {
		params["architecture"] = m.Meta.Model
	}
	if len(m.Meta.Classes) > 0 {
		params["classes"] = m.Meta.Classes
	}
	if len(m.Meta.Mean) > 0 {
		params["mean"], params["std"] = m.Meta.Mean, m.Meta.Std
	}
	if m.Meta.Temperature > 0 {
		params["temperature"] = m.Meta.Temperature
	}
	return modelMetadata{
		Name:     m.Name,
		Platform: platform,
		Inputs:   []tensorMetadata{{Name: inputName, Datatype: typeFP32, Shape: []int64{-1, c, h, w}}},
		Outputs: []tensorMetadata{
			{Name: outLogits, Datatype: typeFP32, Shape: []int64{-1, k}},
			{Name: outProbs, Datatype: typeFP32, Shape: []int64{-1, k}},
		},
		Parameters: params,
	}
}

func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	m := s.model(w, r)
	if m == nil {
		return
	}
	a := m.b.expect()
	defer a.leave()
	s.plain.Add(1)
	defer s.plain.Add(-1)
	headerLen := -1
	if h := r.Header.Get(headerLenH); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "%s: %q is not a byte count", headerLenH, h)
			return
		}
		headerLen = n
	}
	body, err := readBody(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.Timeout)
	defer cancel()
	in, err := m.decodeInfer(body, headerLen, s.opt, s.reserve(ctx, m))
	if err != nil {
		writeInferErr(w, err, s.opt.Timeout)
		return
	}
	logits, k, err := m.b.infer(ctx, in.x, in.n, a)
	if err != nil {
		writeInferErr(w, err, s.opt.Timeout)
		return
	}
	if i := firstNonFinite(logits); i >= 0 {
		writeError(w, http.StatusUnprocessableEntity, "the model's output for example %d is %v, not a finite number: its input is outside the range the model computes in (a preprocessed input is usually within about ±10)", i/k, logits[i])
		return
	}
	writeInferResponse(w, m, in, logits, k)
}

// firstNonFinite returns the index of the first NaN or infinite value of
// x, or -1.
func firstNonFinite(x []float32) int {
	for i, v := range x {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return i
		}
	}
	return -1
}

// writeInferErr answers a failed inference: 503 with Retry-After for a
// full queue or a server shutting down, 504 for a timeout, nothing for a
// client that left.
func writeInferErr(w http.ResponseWriter, err error, timeout time.Duration) {
	switch {
	case errors.Is(err, errQueueFull), errors.Is(err, errClosed):
		w.Header().Set("Retry-After", "1")
		writeErr(w, err)
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusGatewayTimeout, "inference did not finish within %v", timeout)
	case errors.Is(err, context.Canceled):
		// The client is gone: nobody reads an answer.
	default:
		writeErr(w, err)
	}
}

// writeInferResponse writes the requested outputs, JSON or binary.
func writeInferResponse(w http.ResponseWriter, m *served, in *inferInput, logits []float32, k int) {
	resp := inferResponse{ModelName: m.Name, ID: in.id}
	var bin bytes.Buffer
	shape := []int64{int64(in.n), int64(k)}
	for _, o := range in.outputs {
		data := logits
		if o.name == outProbs {
			data = softmaxRows(logits, k, classify.Temperature(m.Meta))
		}
		ro := responseOutput{Name: o.name, Shape: shape, Datatype: typeFP32}
		if o.binary {
			ro.Parameters = map[string]any{"binary_data_size": 4 * len(data)}
			var b [4]byte
			for _, v := range data {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
				bin.Write(b[:])
			}
		} else {
			ro.Data = data
			if ro.Data == nil {
				ro.Data = []float32{}
			}
		}
		resp.Outputs = append(resp.Outputs, ro)
	}
	head, err := json.Marshal(resp)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encoding the response: %v", err)
		return
	}
	if bin.Len() == 0 {
		w.Header().Set("Content-Type", contentJSON)
		w.Header().Set("Content-Length", strconv.Itoa(len(head)))
		w.WriteHeader(http.StatusOK)
		w.Write(head)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set(headerLenH, strconv.Itoa(len(head)))
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+bin.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(head)
	w.Write(bin.Bytes())
}

// softmaxRows returns softmax(row / t) of each k-wide row.
func softmaxRows(logits []float32, k int, t float64) []float32 {
	out := make([]float32, len(logits))
	for at := 0; at+k <= len(logits); at += k {
		for i, p := range evalmetrics.Softmax(logits[at:at+k], t) {
			out[at+i] = float32(p)
		}
	}
	return out
}

// badRequest returns a 400 error.
func badRequest(format string, args ...any) error {
	return errorf(http.StatusBadRequest, format, args...)
}

// decodeInfer parses and validates an inference request body for m: JSON,
// or, when headerLen ≥ 0, headerLen bytes of JSON followed by the binary
// tensor data. It returns the model-ready input; UINT8 pixels that need
// resizing wait for decode room from reserve.
func (m *served) decodeInfer(body []byte, headerLen int, opt Options, reserve reserveFunc) (*inferInput, error) {
	head, bin := body, []byte(nil)
	if headerLen >= 0 {
		if headerLen > len(body) {
			return nil, badRequest("%s is %d but the body has %d bytes", headerLenH, headerLen, len(body))
		}
		head, bin = body[:headerLen], body[headerLen:]
	}
	if err := checkJSONDepth(head, maxJSONDepth); err != nil {
		return nil, err
	}
	var req inferRequest
	if err := json.Unmarshal(head, &req); err != nil {
		return nil, badRequest("malformed JSON: %v", err)
	}
	if len(req.Inputs) != 1 {
		return nil, badRequest("request has %d inputs; model %q takes one, %q", len(req.Inputs), m.Name, inputName)
	}
	ri := &req.Inputs[0]
	if ri.Name != inputName {
		return nil, badRequest("unknown input %q; model %q takes one input, %q", ri.Name, m.Name, inputName)
	}
	var elemSize int
	switch ri.Datatype {
	case typeFP32:
		elemSize = 4
	case typeUINT8:
		elemSize = 1
	default:
		return nil, badRequest("input %q: datatype %q is not supported; use FP32 (a preprocessed NCHW tensor) or UINT8 (pixels)", ri.Name, ri.Datatype)
	}
	count, err := checkShape(ri.Shape, opt.MaxBody)
	if err != nil {
		return nil, badRequest("input %q: %v", ri.Name, err)
	}
	if n := ri.Shape[0]; n > int64(opt.MaxExamples) {
		return nil, errorf(http.StatusRequestEntityTooLarge, "input %q: batch of %d examples is over the limit of %d", ri.Name, n, opt.MaxExamples)
	}
	// Gather the values: binary data or the JSON "data" field.
	if bytes.Equal(bytes.TrimSpace(ri.Data), []byte("null")) {
		ri.Data = nil
	}
	var raw []byte // binary payload of this input
	if p, ok := ri.Parameters["binary_data_size"]; ok {
		var size int64
		if err := json.Unmarshal(p, &size); err != nil || size < 0 {
			return nil, badRequest("input %q: binary_data_size must be a byte count", ri.Name)
		}
		if headerLen < 0 {
			return nil, badRequest("input %q has binary_data_size but the request has no %s header", ri.Name, headerLenH)
		}
		if len(ri.Data) > 0 {
			return nil, badRequest("input %q has both data and binary_data_size", ri.Name)
		}
		if want := int64(count) * int64(elemSize); size != want {
			return nil, badRequest("input %q: binary_data_size is %d; shape %v of %s needs %d bytes", ri.Name, size, ri.Shape, ri.Datatype, want)
		}
		if int64(len(bin)) != size {
			return nil, badRequest("input %q: binary_data_size is %d but %d bytes follow the JSON header", ri.Name, size, len(bin))
		}
		raw = bin
	} else {
		if len(bin) > 0 {
			return nil, badRequest("%d bytes of binary data follow the JSON header, but no input has binary_data_size", len(bin))
		}
		if len(ri.Data) == 0 {
			return nil, badRequest("input %q has no data", ri.Name)
		}
	}
	in := &inferInput{id: req.ID, n: int(ri.Shape[0])}
	c, h, w := m.Meta.InputShape[0], m.Meta.InputShape[1], m.Meta.InputShape[2]
	switch ri.Datatype {
	case typeFP32:
		if len(ri.Shape) != 4 || ri.Shape[1] != int64(c) || ri.Shape[2] != int64(h) || ri.Shape[3] != int64(w) {
			return nil, badRequest("input %q: FP32 shape %v does not match the model's [-1, %d, %d, %d] (NCHW, preprocessed)", ri.Name, ri.Shape, c, h, w)
		}
		x := make([]float32, count)
		if raw != nil {
			for i := range x {
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			}
		} else if err := parseNumbers(ri.Data, count, len(ri.Shape), func(i int, v float64) error {
			x[i] = float32(v)
			return nil
		}); err != nil {
			return nil, badRequest("input %q: %v", ri.Name, err)
		}
		for i, v := range x {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, badRequest("input %q: value %d is %v; inputs must be finite float32", ri.Name, i, v)
			}
		}
		in.x = x
	case typeUINT8:
		px := raw
		if px == nil {
			px = make([]byte, count)
			if err := parseNumbers(ri.Data, count, len(ri.Shape), func(i int, v float64) error {
				if v != math.Trunc(v) || v < 0 || v > 255 {
					return fmt.Errorf("value %d is %v; UINT8 data must be integers 0 to 255", i, v)
				}
				px[i] = byte(v)
				return nil
			}); err != nil {
				return nil, badRequest("input %q: %v", ri.Name, err)
			}
		}
		var layout string
		if p, ok := ri.Parameters["layout"]; ok {
			if json.Unmarshal(p, &layout) != nil || layout != "NCHW" && layout != "NHWC" {
				return nil, badRequest("input %q: parameter layout must be \"NCHW\" or \"NHWC\"", ri.Name)
			}
		}
		x, err := m.fromPixels(px, ri.Shape, layout, opt.MaxPixels, reserve)
		var he *httpError
		if errors.As(err, &he) || errors.Is(err, context.Canceled) {
			return nil, err
		}
		if err != nil {
			return nil, badRequest("input %q: %v", ri.Name, err)
		}
		in.x = x
	}
	// Outputs.
	defBinary := false
	if p, ok := req.Parameters["binary_data_output"]; ok {
		if json.Unmarshal(p, &defBinary) != nil {
			return nil, badRequest("parameter binary_data_output must be true or false")
		}
	}
	if len(req.Outputs) == 0 {
		in.outputs = []outSpec{{outLogits, defBinary}, {outProbs, defBinary}}
	}
	seen := map[string]bool{}
	for _, o := range req.Outputs {
		if o.Name != outLogits && o.Name != outProbs {
			return nil, badRequest("unknown output %q; model %q has %q and %q", o.Name, m.Name, outLogits, outProbs)
		}
		if seen[o.Name] {
			return nil, badRequest("output %q requested twice", o.Name)
		}
		seen[o.Name] = true
		b := defBinary
		if p, ok := o.Parameters["binary_data"]; ok && json.Unmarshal(p, &b) != nil {
			return nil, badRequest("output %q: parameter binary_data must be true or false", o.Name)
		}
		in.outputs = append(in.outputs, outSpec{o.Name, b})
	}
	return in, nil
}

// checkShape validates a tensor shape (rank 1 to maxTensorRank, every
// dimension positive, at most limit elements) and returns its element
// count.
func checkShape(shape []int64, limit int64) (int, error) {
	if len(shape) == 0 || len(shape) > maxTensorRank {
		return 0, fmt.Errorf("shape %v: want rank 1 to %d", shape, maxTensorRank)
	}
	count := int64(1)
	for _, d := range shape {
		if d < 1 {
			return 0, fmt.Errorf("shape %v: dimensions must be positive", shape)
		}
		if count > limit/d {
			return 0, fmt.Errorf("shape %v holds more elements than the request body could", shape)
		}
		count *= d
	}
	return int(count), nil
}

// parseNumbers reads the JSON array raw (flat or nested, at most maxDepth
// levels; already known to be valid JSON) and calls fn with each number in
// row-major order. It fails unless raw holds exactly want numbers and
// nothing else.
func parseNumbers(raw []byte, want, maxDepth int, fn func(i int, v float64) error) error {
	n, depth := 0, 0
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',':
			i++
		case c == '[':
			if depth++; depth > maxDepth {
				return fmt.Errorf("data is nested deeper than the shape's %d dimensions", maxDepth)
			}
			i++
		case c == ']':
			depth--
			i++
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(raw) && (raw[j] >= '0' && raw[j] <= '9' || raw[j] == '.' || raw[j] == 'e' || raw[j] == 'E' || raw[j] == '+' || raw[j] == '-') {
				j++
			}
			if n >= want {
				return fmt.Errorf("data has more than the %d values its shape holds", want)
			}
			v, err := strconv.ParseFloat(string(raw[i:j]), 64)
			if err != nil && !errors.Is(err, strconv.ErrRange) {
				return fmt.Errorf("data: %v", err)
			}
			if err := fn(n, v); err != nil {
				return err
			}
			n++
			i = j
		default:
			return fmt.Errorf("data must hold only numbers, found %q", string(c))
		}
	}
	if n != want {
		return fmt.Errorf("data has %d values; its shape holds %d", n, want)
	}
	return nil
}
