package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fovea-ml/fovea/models"
)

func TestParseBytes(t *testing.T) {
	for s, want := range map[string]int64{"32MiB": 32 << 20, "1024": 1024, "2 KiB": 2048, "1GB": 1e9, "5kb": 5000, "7B": 7} {
		if got, err := parseBytes(s); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "-1MiB", "MiB", "1.5MiB", "99999999999GiB"} {
		if _, err := parseBytes(s); err == nil {
			t.Errorf("parseBytes(%q): no error", s)
		}
	}
}

func TestServeBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"serve"}, "--model: at least one"},
		{[]string{"serve", "--model", "m=missing.safetensors"}, "--model m"},
		{[]string{"serve", "--model", "=x"}, "want NAME=PATH"},
		{[]string{"serve", "--model", "m=x", "--max-body", "lots"}, "--max-body"},
		{[]string{"serve", "--model", "m=x", "--token-file", "nope.txt"}, "--token-file"},
		{[]string{"serve", "--model", "m=x", "--decode-budget", "lots"}, "--decode-budget"},
		{[]string{"serve", "--model", "m=x", "--read-timeout", "0s"}, "--read-timeout"},
		{[]string{"serve", "--model", "m=x", "--shutdown-grace", "-1s"}, "--shutdown-grace"},
	} {
		r := fovea(t, dir, c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("fovea %s: exit %d, stderr %q; want an error with %q", strings.Join(c.args, " "), r.code, r.stderr, c.want)
		}
	}
}

// TestServe runs `fovea serve` on a loopback port, sends requests with a
// token, and stops it with SIGTERM.
func TestServe(t *testing.T) {
	dir := t.TempDir()
	l, err := models.New("mnist-cnn", models.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(dir, "m.safetensors")
	if err := models.Save(ckpt, l, models.Meta{Model: "mnist-cnn", InputShape: [3]int{1, 28, 28}}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("tok\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(foveaBin, "serve", "--model", "digits="+ckpt, "--addr", "127.0.0.1:0", "--token-file", "token", "--max-batch", "4", "--shutdown-grace", "3s")
	cmd.Dir = dir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var addr string
	var log []string
	timeout := time.After(60 * time.Second)
	for addr == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("fovea serve exited:\n%s", strings.Join(log, "\n"))
			}
			log = append(log, line)
			if m := regexp.MustCompile(`addr=(\S+)`).FindStringSubmatch(line); m != nil {
				addr = m[1]
			}
		case <-timeout:
			t.Fatalf("fovea serve did not start:\n%s", strings.Join(log, "\n"))
		}
	}
	base := "http://" + addr
	get := func(path, token string) (int, string) {
		req, _ := http.NewRequest("GET", base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/v2/health/ready", ""); code != 200 {
		t.Fatalf("ready: %d", code)
	}
	if code, _ := get("/v2/models/digits", ""); code != 401 {
		t.Fatalf("metadata without token: %d", code)
	}
	if code, b := get("/v2/models/digits", "tok"); code != 200 || !strings.Contains(b, `"shape":[-1,1,28,28]`) {
		t.Fatalf("metadata: %d %s", code, b)
	}
	body, _ := json.Marshal(map[string]any{"inputs": []any{map[string]any{"name": "input", "shape": []int{1, 28, 28, 1}, "datatype": "UINT8", "data": make([]int, 784)}}})
	req, _ := http.NewRequest("POST", base+"/v2/models/digits/infer", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"name":"probabilities","shape":[1,10]`) {
		t.Fatalf("infer: %d %s", resp.StatusCode, b)
	}
	// A client that stalls in the middle of its body does not hold up the
	// shutdown: it gets 503 and the server exits 0 within the grace period.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "POST /v2/models/digits/infer HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer tok\r\nContent-Length: 5000\r\n\r\n{\"inputs\"", addr)
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for line := range lines {
		log = append(log, line)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("fovea serve after SIGTERM: %v\n%s", err, strings.Join(log, "\n"))
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("fovea serve took %v to exit after SIGTERM with a stalled client (grace 3s)", d)
	}
	stalled.SetReadDeadline(time.Now().Add(time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(stalled), nil); err != nil || resp.StatusCode != 503 {
		t.Errorf("stalled client after SIGTERM: %v %v; want 503", resp, err)
	}
	all := strings.Join(log, "\n")
	for _, want := range []string{"shutting down", "path=/v2/models/digits/infer status=200", "model=digits"} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q:\n%s", want, all)
		}
	}
}
