package serve

// Tests of what a hostile or careless client can do: decompression bombs,
// amplifying pixel tensors, stalled bodies, unread responses, shutdown
// with such clients connected, overflowing inputs, unknown paths, long
// names and DNS rebinding.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/imgbomb"
)

// allocatedDuring returns the bytes the whole process allocated while f
// ran: an upper bound of how much its heap could grow, whatever the GC did.
func allocatedDuring(f func()) int64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// TestDecompressionBomb sends six 8192×8192 16-bit RGBA PNGs of 650 KB
// each (512 MiB of pixels each) at once: every one is refused with 413 from
// its header, nothing is decoded, and the whole exchange allocates a few
// megabytes, not gigabytes.
func TestDecompressionBomb(t *testing.T) {
	s, ts := newTest(t, Options{}, mnistModel(t, "m"))
	bomb := imgbomb.PNG(8192, 8192)
	var codes [6]int
	var bodies [6][]byte
	alloc := allocatedDuring(func() {
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _, bodies[i] = do(t, "POST", ts.URL+"/v1/predict/m", "image/png", bomb)
			}()
		}
		wg.Wait()
	})
	for i, code := range codes {
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(bodies[i]), "decode budget") {
			t.Errorf("upload %d: %d %s; want 413 naming the decode budget", i, code, bodies[i])
		}
	}
	if alloc > 64<<20 {
		t.Errorf("six refused bombs allocated %d MiB", alloc>>20)
	}
	if p := s.decode.peak.Load(); p != 0 {
		t.Errorf("decode budget peak %d bytes: a refused image was charged", p)
	}
	if got, _ := metricValue(t, s, "fovea_rejected_total", map[string]string{"reason": "decode_too_large"}); got != 6 {
		t.Errorf("fovea_rejected_total{reason=decode_too_large} = %v, want 6", got)
	}
}

// png16 encodes a w×h 16-bit RGBA image with a pattern.
func png16(t testing.TB, w, h int) []byte {
	img := image.NewNRGBA64(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.SetNRGBA64(x, y, color.NRGBA64{uint16(x * 97), uint16(y * 89), uint16(x * y), 0xffff})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecodeBudget: six concurrent uploads that each fit a small budget
// but not all together are all answered, never holding more than the
// budget at once; a budget too small for one image refuses it.
func TestDecodeBudget(t *testing.T) {
	img := png16(t, 400, 300) // 0.9 MiB of pixels
	_, _, cost, err := data.DecodeCost(img, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	s, ts := newTest(t, Options{DecodeBudget: 2*cost + cost/2, MaxDecodes: 4}, mnistModel(t, "m"))
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if code, _, b := do(t, "POST", ts.URL+"/v1/predict/m", "image/png", img); code != 200 {
				t.Errorf("upload %d: %d %s", i, code, b)
			}
		}()
	}
	wg.Wait()
	if p := s.decode.peak.Load(); p < cost || p > s.opt.DecodeBudget {
		t.Errorf("decode budget peak %d bytes; want between one image (%d) and the budget (%d)", p, cost, s.opt.DecodeBudget)
	}
	if n := s.decode.inUse.Load(); n != 0 {
		t.Errorf("%d bytes of the budget still held after all requests", n)
	}

	_, ts2 := newTest(t, Options{DecodeBudget: cost - 1}, mnistModel(t, "m"))
	if code, _, b := do(t, "POST", ts2.URL+"/v1/predict/m", "image/png", img); code != 413 || !strings.Contains(string(b), "decode budget") {
		t.Errorf("image over the budget: %d %s", code, b)
	}
}

// uint8Binary builds a binary KServe request of UINT8 pixels.
func uint8Binary(shape []int, px []byte, layout string) (body []byte, headerLen int) {
	params := map[string]any{"binary_data_size": len(px)}
	if layout != "" {
		params["layout"] = layout
	}
	head, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{
		"name": "input", "shape": shape, "datatype": "UINT8", "parameters": params}},
		"outputs": []any{map[string]any{"name": "logits"}}})
	return append(head, px...), len(head)
}

// TestUINT8Amplification sends the 32 MiB binary request of shape
// [1, 1, 5792, 5792]: it is answered while the whole process allocates
// under 100 MiB (the body once, and the resize), where turning the pixels
// into a PNG and decoding it again took over 600 MB.
func TestUINT8Amplification(t *testing.T) {
	_, ts := newTest(t, Options{}, mnistModel(t, "m"))
	const side = 5792
	px := make([]byte, side*side)
	for i := range px {
		px[i] = byte(i % 251)
	}
	body, hl := uint8Binary([]int{1, 1, side, side}, px, "")
	var code int
	var b []byte
	alloc := allocatedDuring(func() {
		code, _, b = do(t, "POST", ts.URL+"/v2/models/m/infer", "application/octet-stream", body, headerLenH, fmt.Sprint(hl))
	})
	if code != 200 {
		t.Fatalf("32 MiB UINT8 request: %d %.300s", code, b)
	}
	if alloc > 100<<20 {
		t.Errorf("a 32 MiB UINT8 request allocated %d MiB", alloc>>20)
	}
	t.Logf("32 MiB UINT8 request: %d MiB allocated", alloc>>20)
}

// TestUINT8MatchesImageDecode: UINT8 pixels are resized exactly as the same
// image uploaded as a PNG is (the path predict takes), for gray and RGB,
// NCHW and NHWC, smaller and larger than the model's input.
func TestUINT8MatchesImageDecode(t *testing.T) {
	m := mnistModel(t, "m")
	rgb := m
	rgb.Meta.InputShape, rgb.Meta.Mean, rgb.Meta.Std = [3]int{3, 28, 28}, nil, nil
	for _, c := range []struct {
		ic, ih, iw int
		layout     string
	}{{1, 100, 80, "NCHW"}, {3, 100, 80, "NCHW"}, {3, 61, 90, "NHWC"}, {3, 20, 24, "NHWC"}, {1, 28, 28, "NCHW"}, {3, 28, 28, "NCHW"}} {
		img := image.NewRGBA(image.Rect(0, 0, c.iw, c.ih))
		px := make([]byte, c.ic*c.ih*c.iw)
		for y := range c.ih {
			for x := range c.iw {
				v := [3]uint8{uint8(x*9 + y), uint8(y * 7), uint8(x * y)}
				if c.ic == 1 {
					v[1], v[2] = v[0], v[0]
				}
				img.SetRGBA(x, y, color.RGBA{v[0], v[1], v[2], 255})
				for ch := range c.ic {
					if c.layout == "NCHW" {
						px[(ch*c.ih+y)*c.iw+x] = v[ch]
					} else {
						px[(y*c.iw+x)*c.ic+ch] = v[ch]
					}
				}
			}
		}
		var enc bytes.Buffer
		png.Encode(&enc, img)
		for _, model := range []Model{m, rgb} {
			sm, err := newServed(model)
			if err != nil {
				t.Fatal(err)
			}
			mc, mh, mw := model.Meta.InputShape[0], model.Meta.InputShape[1], model.Meta.InputShape[2]
			want, err := data.DecodeImage(bytes.NewReader(enc.Bytes()), "want", mc, mh, mw, data.ResizeCrop)
			if err != nil {
				t.Fatal(err)
			}
			sm.prep.Normalize(want)
			shape := []int64{1, int64(c.ic), int64(c.ih), int64(c.iw)}
			if c.layout == "NHWC" {
				shape = []int64{1, int64(c.ih), int64(c.iw), int64(c.ic)}
			}
			got, err := sm.fromPixels(px, shape, c.layout, 1<<20, fuzzReserve)
			if err != nil {
				t.Fatal(err)
			}
			if !close32(got, want, 1e-6) {
				t.Errorf("%d×%d×%d %s pixels to %d×%d×%d: differ from the decoded PNG", c.ic, c.ih, c.iw, c.layout, mc, mh, mw)
			}
		}
	}
}

// serveOn runs s on a loopback listener (wrapped by wrap, if not nil)
// until the returned cancel is called; done receives Serve's result.
func serveOn(t *testing.T, s *Server, wrap func(net.Listener) net.Listener) (addr string, cancel func(), done chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	if wrap != nil {
		ln = wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(cancel)
	return addr, cancel, done
}

// stalledBody opens a connection to addr and sends an infer request whose
// body stops after its first bytes.
func stalledBody(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "POST /v2/models/m/infer HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"inputs\": [", addr)
	t.Cleanup(func() { c.Close() })
	return c
}

// readStatus reads the status line the server sends on c within d, or
// fails; it returns the status code and whether the connection then ended.
func readStatus(t *testing.T, c net.Conn, d time.Duration) int {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", d, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// TestStalledBody: a client that stops sending its body is answered 408
// and disconnected when the read timeout passes.
func TestStalledBody(t *testing.T) {
	s, err := New([]Model{mnistModel(t, "m")}, Options{Logger: quiet, ReadTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _ := serveOn(t, s, nil)
	c := stalledBody(t, addr)
	if code := readStatus(t, c, 5*time.Second); code != http.StatusRequestTimeout {
		t.Errorf("stalled body answered %d, want 408", code)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("connection still open after the 408 (read %d bytes)", n)
	}
}

// smallBuffers makes every accepted connection's send buffer small, so a
// response larger than a few kilobytes blocks until the client reads it.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// unreadResponse opens a connection with a small receive buffer and sends
// an infer request of 256 examples whose JSON response (about 60 KB) does
// not fit the socket buffers; it never reads.
func unreadResponse(t *testing.T, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body := inferJSON("", input(256, 1), 256)
	fmt.Fprintf(c, "POST /v2/models/m/infer HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", addr, len(body))
	c.Write(body)
	return c
}

// TestUnreadResponse: a client that never reads its response is
// disconnected when the write timeout passes: reading afterwards gets less
// than the whole response.
func TestUnreadResponse(t *testing.T) {
	s, err := New([]Model{mnistModel(t, "m")}, Options{Logger: quiet, WriteTimeout: 300 * time.Millisecond, MaxExamples: 256})
	if err != nil {
		t.Fatal(err)
	}
	addr, _, _ := serveOn(t, s, func(l net.Listener) net.Listener { return smallBuffers{l} })
	c := unreadResponse(t, addr)
	time.Sleep(2 * time.Second) // inference, then the write timeout
	if full, err := wholeResponse(c); full || err != nil {
		t.Errorf("after the write timeout: whole response %v, %v; want the connection cut", full, err)
	}
}

// wholeResponse reads what arrives on c (within 5 s) and reports whether
// it is a whole response; the error is set only if c neither delivered a
// response nor ended.
func wholeResponse(c net.Conn) (bool, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return false, err
		}
		return false, nil // cut before the headers arrived
	}
	b, err := io.ReadAll(resp.Body)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false, err
	}
	return err == nil && int64(len(b)) == resp.ContentLength, nil
}

// TestShutdownWithStalledClients: SIGTERM (the context ending) with a
// client stalled mid-body returns nil after bodyDrainGrace, the stalled
// client getting 503; with a client that never reads its response, Serve
// returns nil once the grace period is over, closing it.
func TestShutdownWithStalledClients(t *testing.T) {
	t.Run("stalled body", func(t *testing.T) {
		s, err := New([]Model{mnistModel(t, "m")}, Options{Logger: quiet, ShutdownTimeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		addr, cancel, done := serveOn(t, s, nil)
		c := stalledBody(t, addr)
		time.Sleep(100 * time.Millisecond) // the handler is reading the body
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
			if d := time.Since(start); d > bodyDrainGrace+3*time.Second {
				t.Errorf("shutdown took %v with a stalled body", d)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Serve did not return")
		}
		if code := readStatus(t, c, time.Second); code != http.StatusServiceUnavailable {
			t.Errorf("stalled client answered %d, want 503", code)
		}
	})
	t.Run("unread response", func(t *testing.T) {
		const grace = time.Second
		s, err := New([]Model{mnistModel(t, "m")}, Options{Logger: quiet, ShutdownTimeout: grace, WriteTimeout: time.Minute, MaxExamples: 256})
		if err != nil {
			t.Fatal(err)
		}
		addr, cancel, done := serveOn(t, s, func(l net.Listener) net.Listener { return smallBuffers{l} })
		c := unreadResponse(t, addr)
		time.Sleep(time.Second) // the handler is blocked writing
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
			if d := time.Since(start); d > grace+3*time.Second {
				t.Errorf("shutdown took %v with a %v grace period", d, grace)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("Serve did not return")
		}
		if full, err := wholeResponse(c); full || err != nil {
			t.Errorf("after the shutdown the connection was not closed: whole response %v, %v", full, err)
		}
	})
}

// TestNonFiniteOutput: finite FP32 inputs at the edge of float32 make the
// model's output overflow; JSON and binary outputs alike answer 422, never
// 200 with NaN.
func TestNonFiniteOutput(t *testing.T) {
	_, ts := newTest(t, Options{}, mnistModel(t, "m"))
	x := make([]float32, 784)
	for i := range x {
		x[i] = math.MaxFloat32
		if i%2 == 1 {
			x[i] = -math.MaxFloat32
		}
	}
	code, _, b := do(t, "POST", ts.URL+"/v2/models/m/infer", "application/json", inferJSON("", x, 1))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "not a finite number") {
		t.Errorf("JSON output: %d %s", code, b)
	}
	body, hl := binaryRequest(x, 1, nil)
	code, _, b = do(t, "POST", ts.URL+"/v2/models/m/infer", "application/octet-stream", body, headerLenH, fmt.Sprint(hl))
	if code != http.StatusUnprocessableEntity || !strings.Contains(string(b), "not a finite number") {
		t.Errorf("binary output: %d %.200s", code, b)
	}
}

// TestUnknownPathsAnswerJSON: with the web page mounted, a GET on a
// POST-only API path answers 405 with Allow, and unknown API and page
// paths 404, all with JSON error bodies.
func TestUnknownPathsAnswerJSON(t *testing.T) {
	_, ts := newTest(t, Options{Static: WebUI([]string{"m"}, "")}, mnistModel(t, "m"))
	for _, c := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"GET", "/v2/models/m/infer", 405, "POST"},
		{"GET", "/v1/predict/m", 405, "POST"},
		{"POST", "/v2/models/m", 405, "GET"},
		{"POST", "/metrics", 405, "GET"},
		{"GET", "/v2/models/m/nothing", 404, ""},
		{"GET", "/v1/nothing", 404, ""},
		{"GET", "/no-such-page.html", 404, ""},
		{"GET", "/ui/nothing", 404, ""},
		{"POST", "/no-such-page.html", 404, ""},
	} {
		code, h, b := do(t, c.method, ts.URL+c.path, "", nil)
		var e errorBody
		if code != c.code || h.Get("Allow") != c.allow || !strings.HasPrefix(h.Get("Content-Type"), "application/json") || json.Unmarshal(b, &e) != nil || e.Error == "" {
			t.Errorf("%s %s: %d Allow=%q %s %q; want %d Allow=%q with a JSON error", c.method, c.path, code, h.Get("Allow"), h.Get("Content-Type"), b, c.code, c.allow)
		}
	}
	if code, _, b := do(t, "GET", ts.URL+"/", "", nil); code != 200 || !strings.Contains(string(b), "<html") {
		t.Errorf("the page itself: %d", code)
	}
}

// TestLongNamesClipped: a 100 KB model name is not echoed in full in the
// error or the request log.
func TestLongNamesClipped(t *testing.T) {
	var logBuf syncBuffer
	_, ts := newTest(t, Options{Logger: slog.New(slog.NewTextHandler(&logBuf, nil))}, mnistModel(t, "m"))
	name := strings.Repeat("x", 100_000)
	code, _, b := do(t, "POST", ts.URL+"/v2/models/"+name+"/infer", "application/json", inferJSON("", input(1, 1), 1))
	if code != 404 || len(b) > 1024 || !strings.Contains(string(b), "unknown model") {
		t.Errorf("unknown 100 KB model name: %d, %d-byte body", code, len(b))
	}
	code, _, b = do(t, "GET", ts.URL+"/v3/"+name, "", nil)
	if code != 404 || len(b) > 1024 {
		t.Errorf("unknown 100 KB path: %d, %d-byte body", code, len(b))
	}
	for _, line := range strings.Split(logBuf.String(), "\n") {
		if len(line) > 2048 {
			t.Errorf("log line of %d bytes: %.200s…", len(line), line)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestHostCheck: a server on loopback refuses (403) requests whose Host is
// another name, as a DNS-rebinding page sends, health checks included;
// loopback names, IP addresses and Options.AllowedHosts pass.
func TestHostCheck(t *testing.T) {
	_, ts := newTest(t, Options{}, mnistModel(t, "m"))
	port := ts.URL[strings.LastIndex(ts.URL, ":"):]
	get := func(ts string, host, path string) int {
		req, _ := http.NewRequest("GET", ts+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for host, want := range map[string]int{
		"evil.example" + port: 403, "evil.example": 403, "localhost.evil.example" + port: 403,
		"localhost" + port: 200, "LOCALHOST": 200, "app.localhost" + port: 200, "127.0.0.1" + port: 200,
		"[::1]" + port: 200, "10.1.2.3" + port: 200,
	} {
		for _, path := range []string{"/v2", "/v2/health/ready"} {
			if got := get(ts.URL, host, path); got != want {
				t.Errorf("Host %q, GET %s: %d, want %d", host, path, got, want)
			}
		}
	}
	_, ts2 := newTest(t, Options{AllowedHosts: []string{"fovea.internal"}}, mnistModel(t, "m"))
	if got := get(ts2.URL, "fovea.internal"+port, "/v2"); got != 200 {
		t.Errorf("allowed host: %d", got)
	}
	if got := get(ts2.URL, "evil.example", "/v2"); got != 403 {
		t.Errorf("other host with AllowedHosts set: %d", got)
	}
	_, ts3 := newTest(t, Options{AllowedHosts: []string{"*"}}, mnistModel(t, "m"))
	if got := get(ts3.URL, "evil.example", "/v2"); got != 200 {
		t.Errorf("AllowedHosts *: %d", got)
	}
}

// TestExplainShare: while plain inference requests are in flight, an
// explanation holds the explanation gate for (1/ExplainShare − 1) times
// its own duration after its response, so explanations take a bounded
// share of the server's time; with no other request in flight the gate is
// free at once.
func TestExplainShare(t *testing.T) {
	s, ts := newTest(t, Options{ExplainShare: 0.01}, mnistModel(t, "m"))
	img := digitPNG(t, 28, 28, false)
	explainOnce := func() {
		t.Helper()
		if code, _, b := do(t, "POST", ts.URL+"/v1/predict/m?explain=true", "image/png", img); code != 200 || !strings.Contains(string(b), `"explanation"`) {
			t.Fatalf("explain: %d %.200s", code, b)
		}
	}
	explainOnce()
	if len(s.explainGate) != 0 {
		t.Fatal("gate held after an explanation with nothing else in flight")
	}
	s.plain.Add(1) // a plain request in flight
	explainOnce()
	if len(s.explainGate) != 1 {
		t.Fatal("gate free right after an explanation while a plain request is in flight")
	}
	s.plain.Add(-1)
	for deadline := time.Now().Add(10 * time.Second); len(s.explainGate) != 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("gate still held 10 s later")
		}
	}
	explainOnce() // the next one runs
}
