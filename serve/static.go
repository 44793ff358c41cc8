package serve

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// webFiles is the web page: index.html, app.js and style.css, with no
// external URLs, so the page works without network access.
//
//go:embed web
var webFiles embed.FS

// webCSP keeps the page to its own files and the images it makes itself.
const webCSP = "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; " +
	"connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'"

// WebUI returns the handler of Fovea's web page, for [Options.Static]. It
// serves the embedded page at / (index.html, app.js, style.css) and
// GET /ui/models, the JSON list {"models": [...]} of the served model
// names, which the page offers to pick from. token, if not empty, is the
// server's bearer token: /ui/models then needs it like the API does (the
// page itself needs none).
//
// The page lists the models, lets the user pick one and choose or drop an
// image, posts it to /v1/predict/{name}?top=5&explain=true, and shows the
// top-5 classes with probability bars and the Grad-CAM overlay. Opened with
// ?demo=/PATH it fetches that same-origin image and classifies it as if it
// had been dropped (for tests and demos); ?model=NAME picks the model.
func WebUI(models []string, token string) http.Handler {
	sub, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded folder is always there
	}
	files := http.FileServerFS(sub)
	list, _ := json.Marshal(map[string][]string{"models": append([]string{}, models...)})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		if r.URL.Path == "/ui/models" {
			if token != "" && !bearerOK(r, token) {
				h.Set("WWW-Authenticate", `Bearer realm="fovea"`)
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
				return
			}
			h.Set("Content-Type", "application/json")
			w.Write(append(list, '\n'))
			return
		}
		if name := strings.TrimPrefix(path.Clean(r.URL.Path), "/"); name != "" {
			if _, err := fs.Stat(sub, name); err != nil {
				writeError(w, http.StatusNotFound, "no page or endpoint %s %s", r.Method, clip(r.URL.Path, maxEcho))
				return
			}
		}
		h.Set("Content-Security-Policy", webCSP)
		h.Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}

// bearerOK compares r's bearer token with token in constant time.
func bearerOK(r *http.Request, token string) bool {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(token)) == 1
}
