package serve

import (
	"bytes"
	"context"
	"image/png"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWebUIHandler(t *testing.T) {
	_, ts := newTest(t, Options{Static: WebUI([]string{"a", "b"}, "tok"), Token: "tok"}, mnistModel(t, "a"), mnistModel(t, "b"))
	code, hdr, b := do(t, "GET", ts.URL+"/", "", nil)
	if code != 200 || !strings.Contains(string(b), `<script src="app.js"`) || !strings.Contains(hdr.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("GET / without a token: %d %v %s", code, hdr, b)
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		if code, _, _ := do(t, "GET", ts.URL+p, "", nil); code != 200 {
			t.Errorf("GET %s: %d", p, code)
		}
	}
	if code, _, _ := do(t, "GET", ts.URL+"/ui/models", "", nil); code != 401 {
		t.Errorf("/ui/models without the token: %d", code)
	}
	code, _, b = do(t, "GET", ts.URL+"/ui/models", "", nil, "Authorization", "Bearer tok")
	if code != 200 || strings.TrimSpace(string(b)) != `{"models":["a","b"]}` {
		t.Errorf("/ui/models: %d %s", code, b)
	}
	// Everything the page needs is embedded: no URL points elsewhere.
	fs.WalkDir(webFiles, "web", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := webFiles.ReadFile(path)
		if m := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).Find(b); m != nil {
			t.Errorf("%s refers to an external URL: %s", path, m)
		}
		return nil
	})
}

// chromiumPath returns Debian's chromium, skipping the test when it is
// missing (failing it under CI=true).
func chromiumPath(t *testing.T) string {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: the CI image needs the Debian package chromium for this test")
		}
		t.Skip("chromium not found: install Debian's chromium package to test the web page (required under CI=true)")
	}
	return browser
}

// runChromium runs headless Chromium with args on url and returns its
// stdout, failing on page errors it logs.
func runChromium(t *testing.T, browser, url string, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir=" + filepath.Join(dir, "profile"), "--enable-logging=stderr", "--v=0",
		"--virtual-time-budget=20000", "--window-size=1200,900"}, args...)
	cmd := exec.CommandContext(ctx, browser, append(args, url)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		// The page's console messages and errors; the browser's own D-Bus,
		// GPU and sandbox complaints are ignored.
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") ||
			strings.Contains(line, "Refused to") || strings.Contains(line, "SyntaxError") {
			t.Errorf("chromium reported a page error: %s", line)
		}
	}
	return stdout.String()
}

// TestWebPageInChromium opens the page in headless Chromium with
// ?demo=/digit.png, which fetches the image and sends it through the same
// predict() path as a drop or the file input, then checks the rendered
// prediction and that a screenshot of it is not blank. Set
// FOVEA_WEB_SCREENSHOT=FILE to keep the screenshot.
func TestWebPageInChromium(t *testing.T) {
	browser := chromiumPath(t)
	digit := digitPNG(t, 56, 56, true) // a dark bar on white paper
	static := http.NewServeMux()
	static.HandleFunc("GET /digit.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(digit)
	})
	static.HandleFunc("GET /not-an-image.png", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("this is not a PNG"))
	})
	static.Handle("/", WebUI([]string{"digits", "other"}, ""))
	s, err := New([]Model{mnistModel(t, "digits"), mnistModel(t, "other")}, Options{Logger: quiet, Static: static})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var uploads []string // Content-Type of each POST /v1/predict/digits
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v1/predict/") {
			mu.Lock()
			uploads = append(uploads, r.URL.RequestURI()+" "+r.Header.Get("Content-Type"))
			mu.Unlock()
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { ts.Close(); s.Close() })
	url := ts.URL + "/?model=digits&demo=/digit.png"

	dom := runChromium(t, browser, url, "--dump-dom")
	if !strings.Contains(dom, `data-state="done"`) {
		t.Fatalf("no prediction rendered (uploads %q):\n%s", uploads, dom)
	}
	if n := strings.Count(dom, `<li>`); n != 5 {
		t.Errorf("%d top classes rendered, want 5:\n%s", n, dom)
	}
	for _, want := range []string{`<span class="label" title="class `, `class="pct">`, `id="cam" alt="Grad-CAM`,
		`src="data:image/png;base64,iVBORw0KGgo`, `<option value="other">other</option>`, `input 1×28×28 · 10 classes`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q:\n%s", want, dom)
		}
	}
	if regexp.MustCompile(`<section id="result"[^>]*hidden`).MatchString(dom) || regexp.MustCompile(`id="error"[^>]*>[^<]`).MatchString(dom) {
		t.Errorf("result hidden or an error shown:\n%s", dom)
	}
	mu.Lock()
	if len(uploads) != 1 || !strings.HasPrefix(uploads[0], "/v1/predict/digits?top=5&explain=true multipart/form-data") {
		t.Errorf("uploads: %q, want one multipart POST to /v1/predict/digits?top=5&explain=true", uploads)
	}
	mu.Unlock()

	shot := filepath.Join(t.TempDir(), "page.png")
	runChromium(t, browser, url, "--screenshot="+shot, "--hide-scrollbars")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %v, want 1200×900", b)
	}
	// Not blank: many distinct colours (text, bars, the Grad-CAM heat map).
	colours := map[[3]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if len(colours) < 50 {
		t.Errorf("screenshot looks blank: %d distinct colours", len(colours))
	}
	// A server error is shown in the alert box.
	dom = runChromium(t, browser, ts.URL+"/?demo=/not-an-image.png", "--dump-dom")
	if m := regexp.MustCompile(`<div id="error" class="error" role="alert">(4\d\d: [^<]+)</div>`).FindStringSubmatch(dom); m == nil ||
		!strings.Contains(dom, `data-state="error"`) {
		t.Errorf("a bad upload shows no visible error:\n%s", dom)
	} else {
		t.Logf("error shown: %s", m[1])
	}
	if keep := os.Getenv("FOVEA_WEB_SCREENSHOT"); keep != "" {
		b, _ := os.ReadFile(shot)
		if err := os.WriteFile(keep, b, 0o644); err != nil {
			t.Error(err)
		}
	}
}
