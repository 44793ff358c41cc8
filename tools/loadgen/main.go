// Command loadgen sends KServe v2 inference requests to a model server
// (such as fovea serve) at several concurrency levels and prints one
// Markdown table row per level: requests, errors, throughput, latency
// percentiles and, given the server's PID, its resident memory.
//
//	go run ./tools/loadgen --url http://127.0.0.1:8080 --model mnist \
//	    --concurrency 1,8,64 --duration 20s --input uint8 [--shape 1x28x28] [--pid PID]
//
// Each of --concurrency's levels runs --warmup (not counted) then
// --duration with that many workers, each sending one request at a time.
// Inputs are random, made once before the run: UINT8 pixels [N, C, H, W]
// (the server preprocesses them) or FP32 [N, C, H, W] (already
// preprocessed), as JSON or, with --binary, the binary tensor extension.
// The shape C×H×W defaults to the model's, from GET /v2/models/NAME.
//
// With --image FILE it posts that image file to POST /v1/predict/NAME
// instead (the plain image-upload endpoint), with --explain asking for a
// Grad-CAM of each prediction as well.
//
// With --pid, VmRSS of that process is read from /proc/PID/status every
// second; the row gives its value at the start and end of the level and
// its minimum and maximum, and --rss-log FILE appends every sample as CSV.
// Requests only go to --url: point it at a server on this machine.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type config struct {
	url, model, input, label, token, rssLog string
	image                                   string // --image: upload this file to /v1/predict
	explain                                 bool
	levels                                  []int
	duration, warmup, timeout               time.Duration
	shape                                   [3]int
	batch, pid, bodies                      int
	binary, header                          bool
}

func main() {
	var c config
	var levels, shape, tokenFile string
	flag.StringVar(&c.url, "url", "http://127.0.0.1:8080", "server base URL")
	flag.StringVar(&c.model, "model", "", "model name (required)")
	flag.StringVar(&levels, "concurrency", "1,8,64", "comma-separated concurrency levels: workers each sending one request at a time")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measured time per level")
	flag.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured time before each level (engine plans compile on first use)")
	flag.StringVar(&c.input, "input", "uint8", "uint8 (raw pixels, preprocessed by the server) or fp32 (preprocessed tensor)")
	flag.StringVar(&shape, "shape", "", "input C×H×W such as 1x28x28 (default: the model's, from its metadata)")
	flag.IntVar(&c.batch, "batch", 1, "examples per request (N)")
	flag.BoolVar(&c.binary, "binary", false, "send the tensor with the binary tensor data extension instead of JSON")
	flag.IntVar(&c.pid, "pid", 0, "server process ID: sample its VmRSS every second")
	flag.StringVar(&c.rssLog, "rss-log", "", "with --pid: append each RSS sample as CSV (label,concurrency,seconds,rss_mib) to this file")
	flag.StringVar(&c.label, "label", "", "text for the table's first column, e.g. batch16 (default: the model name)")
	flag.StringVar(&tokenFile, "token-file", "", "file holding the server's bearer token")
	flag.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request client timeout")
	flag.BoolVar(&c.header, "header", true, "print the table header")
	flag.StringVar(&c.image, "image", "", "post this image file to /v1/predict/NAME instead of KServe tensors")
	flag.BoolVar(&c.explain, "explain", false, "with --image: ask for a Grad-CAM of each prediction (explain=true)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: loadgen --model NAME [flags]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if err := c.parse(levels, shape, tokenFile); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// parse checks the flags and fills the derived fields of c.
func (c *config) parse(levels, shape, tokenFile string) error {
	if c.model == "" {
		return errors.New("--model is required")
	}
	c.url = strings.TrimRight(c.url, "/")
	if c.input != "uint8" && c.input != "fp32" {
		return fmt.Errorf("--input %q: want uint8 or fp32", c.input)
	}
	for _, f := range strings.Split(levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 4096 {
			return fmt.Errorf("--concurrency %q: want numbers from 1 to 4096 separated by commas", levels)
		}
		c.levels = append(c.levels, n)
	}
	if shape != "" {
		f := strings.Split(strings.ToLower(shape), "x")
		if len(f) != 3 {
			return fmt.Errorf("--shape %q: want CxHxW such as 1x28x28", shape)
		}
		for i, s := range f {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > 4096 {
				return fmt.Errorf("--shape %q: want CxHxW such as 1x28x28", shape)
			}
			c.shape[i] = n
		}
	}
	if c.batch < 1 || c.duration <= 0 || c.warmup < 0 || c.timeout <= 0 {
		return errors.New("--batch, --duration and --timeout must be positive, --warmup not negative")
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("--token-file: %v", err)
		}
		c.token = strings.TrimSpace(string(b))
	}
	if c.label == "" {
		c.label = c.model
	}
	if c.explain && c.image == "" {
		return errors.New("--explain needs --image")
	}
	c.bodies = 16
	return nil
}

// request is one prepared request.
type request struct {
	path      string // under --url
	ctype     string
	body      []byte
	headerLen int // Inference-Header-Content-Length, 0 for JSON
}

// run measures every level and writes the table to w.
func run(ctx context.Context, c config, w io.Writer) error {
	client := &http.Client{
		Timeout: c.timeout,
		Transport: &http.Transport{
			MaxIdleConns:        slices.Max(c.levels) * 2,
			MaxIdleConnsPerHost: slices.Max(c.levels) * 2,
			IdleConnTimeout:     time.Minute,
		},
	}
	reqs, err := makeRequests(ctx, client, &c)
	if err != nil {
		return err
	}
	// One request first: fail fast on a wrong model, shape or token.
	if _, err := send(ctx, client, c, reqs[0]); err != nil {
		return fmt.Errorf("first request: %v", err)
	}
	if c.header {
		fmt.Fprintf(w, "| run | input | conc. | requests | errors | req/s | img/s | p50 ms | p90 ms | p99 ms | RSS start / min / max / end MiB |\n")
		fmt.Fprintf(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |\n")
	}
	for _, n := range c.levels {
		if ctx.Err() != nil {
			break
		}
		r := level(ctx, client, c, reqs, n)
		fmt.Fprintln(w, r.row(c, n))
		if f, ok := w.(*os.File); ok {
			f.Sync()
		}
		for msg, count := range r.errs {
			fmt.Fprintf(os.Stderr, "loadgen: concurrency %d: %d× %s\n", n, count, msg)
		}
	}
	return nil
}

// modelShape reads C, H, W from GET /v2/models/NAME.
func modelShape(ctx context.Context, client *http.Client, c config) ([3]int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", c.url+"/v2/models/"+c.model, nil)
	if err != nil {
		return [3]int{}, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return [3]int{}, err
	}
	defer resp.Body.Close()
	var meta struct {
		Error  string `json:"error"`
		Inputs []struct {
			Shape []int `json:"shape"`
		} `json:"inputs"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&meta); err != nil {
		return [3]int{}, fmt.Errorf("model metadata: %s: %v", resp.Status, err)
	}
	if resp.StatusCode != 200 {
		return [3]int{}, fmt.Errorf("model metadata: %s: %s", resp.Status, meta.Error)
	}
	if len(meta.Inputs) != 1 || len(meta.Inputs[0].Shape) != 4 {
		return [3]int{}, errors.New("model metadata: want one input of shape [-1, C, H, W]; use --shape")
	}
	s := meta.Inputs[0].Shape
	return [3]int{s[1], s[2], s[3]}, nil
}

// makeRequests prepares the requests to send: the --image upload, or
// c.bodies random tensors of the model's shape (read from its metadata
// unless --shape gave it).
func makeRequests(ctx context.Context, client *http.Client, c *config) ([]request, error) {
	if c.image != "" {
		b, err := os.ReadFile(c.image)
		if err != nil {
			return nil, fmt.Errorf("--image: %v", err)
		}
		path := fmt.Sprintf("/v1/predict/%s?explain=%v", c.model, c.explain)
		return []request{{path: path, ctype: "application/octet-stream", body: b}}, nil
	}
	if c.shape == ([3]int{}) {
		s, err := modelShape(ctx, client, *c)
		if err != nil {
			return nil, err
		}
		c.shape = s
	}
	reqs := make([]request, c.bodies)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range reqs {
		reqs[i] = makeRequest(*c, rng)
	}
	return reqs, nil
}

// makeRequest builds a random KServe request.
func makeRequest(c config, rng *rand.Rand) request {
	n := c.batch * c.shape[0] * c.shape[1] * c.shape[2]
	shape := []int{c.batch, c.shape[0], c.shape[1], c.shape[2]}
	in := map[string]any{"name": "input", "shape": shape}
	params := map[string]any{}
	var raw []byte
	if c.input == "uint8" {
		in["datatype"] = "UINT8"
		params["layout"] = "NCHW"
		px := make([]byte, n)
		for i := range px {
			px[i] = byte(rng.IntN(256))
		}
		raw = px
		if !c.binary {
			data := make([]int, n)
			for i, v := range px {
				data[i] = int(v)
			}
			in["data"] = data
		}
	} else {
		in["datatype"] = "FP32"
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Round(rng.NormFloat64()*1e4) / 1e4)
		}
		raw = make([]byte, 0, 4*n)
		for _, v := range x {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
		if !c.binary {
			in["data"] = x
		}
	}
	if c.binary {
		params["binary_data_size"] = len(raw)
	}
	in["parameters"] = params
	head, _ := json.Marshal(map[string]any{"inputs": []any{in}, "outputs": []any{map[string]any{"name": "probabilities"}}})
	path := "/v2/models/" + c.model + "/infer"
	if !c.binary {
		return request{path: path, ctype: "application/json", body: head}
	}
	return request{path: path, ctype: "application/octet-stream", body: append(head, raw...), headerLen: len(head)}
}

// errStatus is a non-200 answer.
type errStatus struct {
	code int
	msg  string
}

func (e *errStatus) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

// send posts one request and returns its latency.
func send(ctx context.Context, client *http.Client, c config, r request) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.url+r.path, bytes.NewReader(r.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", r.ctype)
	if r.headerLen > 0 {
		req.Header.Set("Inference-Header-Content-Length", strconv.Itoa(r.headerLen))
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		json.Unmarshal(body, &e)
		return 0, &errStatus{resp.StatusCode, e.Error}
	}
	return d, nil
}

// result is what one level measured.
type result struct {
	ok, failed int
	elapsed    time.Duration
	lat        []time.Duration
	errs       map[string]int
	rss        []float64 // MiB, one a second
}

// level runs n workers for the warmup, then for the measured duration.
func level(ctx context.Context, client *http.Client, c config, reqs []request, n int) result {
	if c.warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, c.warmup)
		hammer(wctx, client, c, reqs, n, nil)
		cancel()
	}
	var res result
	mctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	var rssDone chan []float64
	if c.pid > 0 {
		rssDone = make(chan []float64, 1)
		go func() { rssDone <- sampleRSS(mctx, c, n) }()
	}
	start := time.Now()
	res.lat, res.failed, res.errs = hammerCollect(mctx, client, c, reqs, n)
	res.elapsed = time.Since(start)
	res.ok = len(res.lat)
	if rssDone != nil {
		res.rss = <-rssDone
	}
	return res
}

// hammerCollect runs hammer and gathers its latencies and errors.
func hammerCollect(ctx context.Context, client *http.Client, c config, reqs []request, n int) ([]time.Duration, int, map[string]int) {
	var mu sync.Mutex
	var lat []time.Duration
	failed := 0
	errs := map[string]int{}
	hammer(ctx, client, c, reqs, n, func(l []time.Duration, e map[string]int) {
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, l...)
		for k, v := range e {
			errs[k] += v
			failed += v
		}
	})
	return lat, failed, errs
}

// hammer runs n workers sending requests until ctx ends; each reports its
// latencies and errors to done, if not nil. Requests in flight when ctx
// ends run to completion (bounded by --timeout) and count: the server
// sees no cancelled requests.
func hammer(ctx context.Context, client *http.Client, c config, reqs []request, n int, done func([]time.Duration, map[string]int)) {
	var wg sync.WaitGroup
	var next atomic.Uint64
	for w := 0; w < n; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := map[string]int{}
			for ctx.Err() == nil {
				r := reqs[next.Add(1)%uint64(len(reqs))]
				d, err := send(context.WithoutCancel(ctx), client, c, r)
				switch {
				case err == nil:
					lat = append(lat, d)
				default:
					var es *errStatus
					if errors.As(err, &es) {
						errs[es.Error()]++
					} else {
						errs[err.Error()]++
					}
					if errors.As(err, &es) && es.code == http.StatusServiceUnavailable {
						time.Sleep(10 * time.Millisecond) // queue full: back off a little
					}
				}
			}
			if done != nil {
				done(lat, errs)
			}
		}()
	}
	wg.Wait()
}

// sampleRSS reads the server's VmRSS now and every second until ctx ends,
// and once more at the end.
func sampleRSS(ctx context.Context, c config, level int) []float64 {
	var out []float64
	var log io.Writer
	if c.rssLog != "" {
		f, err := os.OpenFile(c.rssLog, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: --rss-log:", err)
		} else {
			defer f.Close()
			log = f
		}
	}
	start := time.Now()
	sample := func() {
		mib, err := rssMiB(c.pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: --pid:", err)
			return
		}
		out = append(out, mib)
		if log != nil {
			fmt.Fprintf(log, "%s,%d,%.0f,%.1f\n", c.label, level, time.Since(start).Seconds(), mib)
		}
	}
	sample()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sample()
			return out
		case <-t.C:
			sample()
		}
	}
}

// rssMiB reads VmRSS of process pid, in MiB.
func rssMiB(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "12345 kB"
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseFloat(f[0], 64)
				return kb / 1024, err
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// percentile returns the p-th percentile (0..100) of sorted latencies, in
// milliseconds, by the nearest-rank method.
func percentile(sorted []time.Duration, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	i = max(0, min(i, len(sorted)-1))
	return float64(sorted[i].Microseconds()) / 1000
}

// row formats r as a Markdown table row.
func (r result) row(c config, n int) string {
	slices.Sort(r.lat)
	sec := r.elapsed.Seconds()
	input := strings.ToUpper(c.input)
	if c.binary {
		input += " bin"
	}
	input += fmt.Sprintf(" %d×%d×%d×%d", c.batch, c.shape[0], c.shape[1], c.shape[2])
	if c.image != "" {
		input = "image"
		if c.explain {
			input += " + Grad-CAM"
		}
	}
	rss := "–"
	if len(r.rss) > 0 {
		rss = fmt.Sprintf("%.0f / %.0f / %.0f / %.0f", r.rss[0], slices.Min(r.rss), slices.Max(r.rss), r.rss[len(r.rss)-1])
	}
	return fmt.Sprintf("| %s | %s | %d | %d | %d | %.1f | %.1f | %.2f | %.2f | %.2f | %s |",
		c.label, input, n, r.ok+r.failed, r.failed, float64(r.ok)/sec, float64(r.ok*c.batch)/sec,
		percentile(r.lat, 50), percentile(r.lat, 90), percentile(r.lat, 99), rss)
}
