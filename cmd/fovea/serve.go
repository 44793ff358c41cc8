package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/fovea-ml/fovea/classify"
	"github.com/fovea-ml/fovea/serve"
)

func newServeCmd() *cobra.Command {
	var (
		specs                []string
		addr, maxBody        string
		tokenFile            string
		maxBatch, queue      int
		threads, maxExamples int
		maxPixels            int64
		maxDelay, timeout    time.Duration
		pprof, logJSON       bool
		noEngine, noUI       bool
		decodeBudget         string
		maxDecodes           int
		readHeaderTimeout    time.Duration
		readTimeout          time.Duration
		writeTimeout         time.Duration
		idleTimeout, grace   time.Duration
		allowHosts           []string
		explainShare         float64
	)
	cmd := &cobra.Command{
		Use:   "serve --model NAME=PATH [--model NAME=PATH...]",
		Short: "Serve models over HTTP: KServe v2 REST, image upload, Prometheus metrics",
		Long: `Serve checkpoints and ONNX files over HTTP until SIGINT or SIGTERM.

Endpoints: the KServe v2 (Open Inference Protocol) REST API under /v2 with the
binary tensor data extension, POST /v1/predict/NAME for image uploads (top-k
labels and an optional Grad-CAM), /metrics for Prometheus, /v2/health/live and
/v2/health/ready, and a web page at / to try the models (unless --no-ui).
Requests that arrive within --max-delay of each other are run as one batch of
up to --max-batch examples. On SIGINT or SIGTERM the server
stops accepting connections, finishes the requests it has (for at most
--shutdown-grace), and exits with status 0.

See docs/serve.md for the protocol, examples and limits.`,
		Example: "  fovea serve --model mnist=mnist-cnn-mnist.safetensors\n" +
			"  fovea serve --model a=a.safetensors --model b=b.onnx --addr :8080 --token-file token.txt",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(specs) == 0 {
				return fmt.Errorf("--model: at least one NAME=PATH is required")
			}
			if err := setThreads(threads); err != nil {
				return err
			}
			body, err := parseBytes(maxBody)
			if err != nil {
				return fmt.Errorf("--max-body %q: %v", maxBody, err)
			}
			budget, err := parseBytes(decodeBudget)
			if err != nil {
				return fmt.Errorf("--decode-budget %q: %v", decodeBudget, err)
			}
			if maxBatch < 1 || queue < 1 || maxExamples < 1 || maxDecodes < 0 {
				return fmt.Errorf("--max-batch, --queue and --max-examples must be at least 1, --max-decodes not negative")
			}
			if timeout <= 0 || maxDelay < 0 || maxPixels < 0 {
				return fmt.Errorf("--timeout must be positive, --max-delay and --max-pixels not negative")
			}
			for name, d := range map[string]time.Duration{"--read-header-timeout": readHeaderTimeout, "--read-timeout": readTimeout,
				"--write-timeout": writeTimeout, "--idle-timeout": idleTimeout} {
				if d <= 0 {
					return fmt.Errorf("%s %v: must be positive", name, d)
				}
			}
			if !(explainShare > 0 && explainShare <= 1) {
				return fmt.Errorf("--explain-share %g: want a fraction in (0, 1]", explainShare)
			}
			if grace < 0 {
				return fmt.Errorf("--shutdown-grace %v: must not be negative", grace)
			}
			opt := serve.Options{
				MaxBatch: maxBatch, MaxDelay: maxDelay, QueueSize: queue, Timeout: timeout,
				MaxBody: body, MaxPixels: maxPixels, MaxExamples: maxExamples, Pprof: pprof, NoEngine: noEngine,
				DecodeBudget: budget, MaxDecodes: maxDecodes, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
				WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, ShutdownTimeout: grace, AllowedHosts: allowHosts,
				ExplainShare: explainShare,
			}
			if maxDelay == 0 {
				opt.MaxDelay = -1 // no waiting for a batch to fill
			}
			var h slog.Handler = slog.NewTextHandler(os.Stderr, nil)
			if logJSON {
				h = slog.NewJSONHandler(os.Stderr, nil)
			}
			opt.Logger = slog.New(h)
			if tokenFile != "" {
				b, err := os.ReadFile(tokenFile)
				if err != nil {
					return fmt.Errorf("--token-file: %v", err)
				}
				if opt.Token = strings.TrimSpace(string(b)); opt.Token == "" {
					return fmt.Errorf("--token-file %s is empty", tokenFile)
				}
			}
			ms, err := loadServed(specs)
			if err != nil {
				return err
			}
			names := make([]string, len(ms))
			for i, m := range ms {
				names[i] = m.Name
			}
			if !noUI {
				opt.Static = serve.WebUI(names, opt.Token)
			}
			srv, err := serve.New(ms, opt)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return srv.ListenAndServe(ctx, addr, func(a net.Addr) {
				opt.Logger.Info("listening", "addr", a.String(), "url", "http://"+a.String()+"/v2", "models", strings.Join(names, ","),
					"auth", opt.Token != "", "max_batch", maxBatch)
			})
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&specs, "model", nil, "NAME=PATH of a checkpoint (.safetensors) or ONNX file to serve as NAME; repeat for more (PATH alone: NAME is the file name without extension)")
	fl.StringVar(&addr, "addr", "127.0.0.1:8080", "address to listen on (loopback by default; :8080 for every interface)")
	fl.IntVar(&maxBatch, "max-batch", 16, "most examples run together; 1 turns dynamic batching off")
	fl.DurationVar(&maxDelay, "max-delay", 2*time.Millisecond, "the longest to wait for more requests to fill a batch (only while more are on their way\nor the batch is smaller than the last)")
	fl.IntVar(&queue, "queue", 256, "requests waiting per model before new ones get 503")
	fl.DurationVar(&timeout, "timeout", 10*time.Second, "per-request inference timeout, queueing included (504 past it)")
	fl.StringVar(&maxBody, "max-body", "32MiB", "largest request body (413 past it): bytes, or with a KiB, MiB, GiB, KB, MB or GB suffix")
	fl.Int64Var(&maxPixels, "max-pixels", 0, "largest width×height an uploaded image may declare (0: the default of 64Mi pixels)")
	fl.StringVar(&decodeBudget, "decode-budget", "256MiB", "memory the image decodes in flight may hold together, estimated from each header (bytes per pixel\nincluded); an image that alone needs more gets 413")
	fl.IntVar(&maxDecodes, "max-decodes", 0, "image decodes run at once (0: one per core)")
	fl.Float64Var(&explainShare, "explain-share", 0.2, "the most of the time Grad-CAM explanations take while other inference requests\nare in flight (1: no bound)")
	fl.DurationVar(&readHeaderTimeout, "read-header-timeout", 10*time.Second, "time to read a request's headers")
	fl.DurationVar(&readTimeout, "read-timeout", 60*time.Second, "time to read a whole request, body included (408 and disconnect past it)")
	fl.DurationVar(&writeTimeout, "write-timeout", 30*time.Second, "time to write a response once it begins (a client that does not read is disconnected)")
	fl.DurationVar(&idleTimeout, "idle-timeout", 2*time.Minute, "how long a keep-alive connection may wait for its next request")
	fl.DurationVar(&grace, "shutdown-grace", 0, "on SIGINT or SIGTERM, how long to wait for in-flight requests before closing\nthe connections still open (0: --timeout + 5s)")
	fl.StringArrayVar(&allowHosts, "allow-host", nil, "on a loopback address, also answer requests whose Host is NAME (besides localhost and IP\naddresses); repeat for more, '*' for any")
	fl.IntVar(&maxExamples, "max-examples", 256, "largest batch N one request may send")
	fl.StringVar(&tokenFile, "token-file", "", "file holding a bearer token that every request but the health checks must send")
	fl.BoolVar(&pprof, "pprof", false, "serve net/http/pprof profiles under /debug/pprof/")
	fl.IntVar(&threads, "threads", 0, "worker threads (0: all cores)")
	fl.BoolVar(&noEngine, "no-engine", false, "run models with eager forward passes, not compiled engine plans")
	fl.BoolVar(&noUI, "no-ui", false, "do not serve the web page at / (the API is unchanged)")
	fl.BoolVar(&logJSON, "log-json", false, "write the request log as JSON lines instead of text")
	return cmd
}

// loadServed loads each NAME=PATH (or PATH) model spec.
func loadServed(specs []string) ([]serve.Model, error) {
	var ms []serve.Model
	for _, spec := range specs {
		name, path, ok := strings.Cut(spec, "=")
		if !ok {
			path = spec
			name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		}
		if name == "" || path == "" {
			return nil, fmt.Errorf("--model %q: want NAME=PATH", spec)
		}
		layer, meta, err := classify.Load(path)
		if err != nil {
			return nil, fmt.Errorf("--model %s: %v", name, err)
		}
		ms = append(ms, serve.Model{Name: name, Layer: layer, Meta: meta})
	}
	return ms, nil
}

// parseBytes reads a byte count: digits with an optional KiB, MiB, GiB,
// KB, MB, GB or B suffix.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mul    int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	mul := int64(1)
	num := strings.TrimSpace(s)
	for _, u := range units {
		if strings.HasSuffix(strings.ToLower(num), strings.ToLower(u.suffix)) {
			num, mul = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mul {
		return 0, fmt.Errorf("want a positive byte count such as 32MiB")
	}
	return n * mul, nil
}
