package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/fovea-ml/fovea/models"
)

// fuzzModel is a served model with no network: the decoders never run it.
func fuzzModel() *served {
	m, err := newServed(Model{Name: "f", Meta: models.Meta{InputShape: [3]int{1, 4, 4},
		Mean: []float32{0.5}, Std: []float32{0.25}, Options: models.Options{NumClasses: 3}}})
	if err != nil {
		panic(err)
	}
	return m
}

// fuzzOptions are small limits so the fuzzer reaches them.
var fuzzOptions = Options{MaxBody: 1 << 16, MaxPixels: 4096, MaxExamples: 8, DecodeBudget: 4 << 20}.withDefaults()

// fuzzBudget is the decode budget of fuzzOptions.
var fuzzBudget = newDecodeBudget(fuzzOptions.DecodeBudget, 1, nil)

// fuzzReserve reserves room in fuzzBudget, without waiting: the fuzz
// targets decode one input at a time, so room is always there or never.
func fuzzReserve(n int64, what string) (func(), error) {
	return fuzzBudget.acquire(context.Background(), n, what)
}

// checkDecoded fails t unless err is a 4xx *httpError, or in is a
// complete model input.
func checkDecoded(t *testing.T, m *served, in *inferInput, err error) {
	t.Helper()
	if err != nil {
		var he *httpError
		if !errors.As(err, &he) || he.code < 400 || he.code > 499 || he.msg == "" {
			t.Fatalf("error %v (%T) is not a 4xx with a message", err, err)
		}
		return
	}
	per := m.Meta.InputShape[0] * m.Meta.InputShape[1] * m.Meta.InputShape[2]
	if in.n < 1 || in.n > fuzzOptions.MaxExamples || len(in.x) != in.n*per || len(in.outputs) == 0 {
		t.Fatalf("decoded n=%d, %d values, %d outputs", in.n, len(in.x), len(in.outputs))
	}
}

func FuzzDecodeInferJSON(f *testing.F) {
	f.Add([]byte(`{"id":"a","inputs":[{"name":"input","shape":[1,1,4,4],"datatype":"FP32","data":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]}]}`))
	f.Add([]byte(`{"inputs":[{"name":"input","shape":[1,4,4,1],"datatype":"UINT8","data":[[[[0],[1],[2],[3]],[[4],[5],[6],[7]],[[8],[9],[10],[11]],[[12],[13],[14],[255]]]]}],"outputs":[{"name":"logits"}]}`))
	f.Add([]byte(`{"inputs":[{"name":"input","shape":[1,3,2,2],"datatype":"UINT8","data":[1,2,3,4,5,6,7,8,9,10,11,12]}],"parameters":{"binary_data_output":true}}`))
	f.Add([]byte(`{"inputs":[{"name":"input","shape":[2,1,4,4],"datatype":"FP32","data":[1e39]}]}`))
	f.Add([]byte(`[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m := fuzzModel()
		in, err := m.decodeInfer(body, -1, fuzzOptions, fuzzReserve)
		checkDecoded(t, m, in, err)
	})
}

func FuzzDecodeInferBinary(f *testing.F) {
	head := []byte(`{"inputs":[{"name":"input","shape":[1,1,4,4],"datatype":"FP32","parameters":{"binary_data_size":64}}],"outputs":[{"name":"probabilities","parameters":{"binary_data":true}}]}`)
	var bin bytes.Buffer
	binary.Write(&bin, binary.LittleEndian, make([]float32, 16))
	f.Add(append(head, bin.Bytes()...), len(head))
	head8 := []byte(`{"inputs":[{"name":"input","shape":[1,2,2,3],"datatype":"UINT8","parameters":{"binary_data_size":12,"layout":"NHWC"}}]}`)
	f.Add(append(head8, make([]byte, 12)...), len(head8))
	f.Add(head, len(head)+5)
	f.Add([]byte{}, 0)
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		if headerLen < 0 {
			headerLen = -headerLen
		}
		m := fuzzModel()
		in, err := m.decodeInfer(body, headerLen, fuzzOptions, fuzzReserve)
		checkDecoded(t, m, in, err)
	})
}

func FuzzParseNumbers(f *testing.F) {
	f.Add([]byte(`[[1,2],[3,-4.5e2]]`), 4)
	f.Add([]byte(`[]`), 0)
	f.Add([]byte(`[1,[2,[3]]]`), 3)
	f.Fuzz(func(t *testing.T, raw []byte, want int) {
		if want < 0 || want > 1<<12 {
			return
		}
		seen := 0
		err := parseNumbers(raw, want, 4, func(i int, v float64) error {
			if i != seen {
				t.Fatalf("index %d, want %d", i, seen)
			}
			seen++
			return nil
		})
		if err == nil && seen != want {
			t.Fatalf("no error with %d of %d numbers", seen, want)
		}
	})
}

// FuzzUpload drives the /v1/predict decoding path (content type, multipart
// parsing, image header check, decoding) without running a model.
func FuzzUpload(f *testing.F) {
	png := digitPNG(f, 6, 6, false)
	mp, mpType := multipartBody("image", png)
	f.Add(png, "image/png")
	f.Add(mp, mpType)
	f.Add(hugePNGHeader(50000, 50000), "image/png")
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"image\"\r\n\r\nGIF89a\r\n--x--\r\n"), "multipart/form-data; boundary=x")
	f.Add([]byte("P5 2 2 255\n\x00\x01\x02\x03"), "application/octet-stream")
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		m := fuzzModel()
		r := httptest.NewRequest("POST", "/v1/predict/f", bytes.NewReader(body))
		r.Header.Set("Content-Type", ctype)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, fuzzOptions.MaxBody)
		raw, err := readUpload(r)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.code < 400 || he.code > 499 {
				t.Fatalf("upload error %v is not a 4xx", err)
			}
			return
		}
		x, _, err := m.decodeImage(raw, "auto", fuzzOptions.MaxPixels, fuzzReserve)
		if err != nil {
			var he *httpError
			if !errors.As(err, &he) || he.code < 400 || he.code > 499 {
				t.Fatalf("decode error %v is not a 4xx", err)
			}
			return
		}
		if len(x) != 16 {
			t.Fatalf("decoded %d values, want 16", len(x))
		}
		for _, v := range x {
			if v < 0 || v > 1 {
				t.Fatalf("pixel %v outside [0, 1]", v)
			}
		}
	})
}
