package checkpoint

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TestChecksum writes a checksummed file and damages it in every way a
// crash or a bad disk could: each must fail with the checksum message,
// while the intact file and an unchecksummed one (as PyTorch writes) load.
func TestChecksum(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "m.safetensors")
	if err := WriteFile(path, sampleTensors(), map[string]string{KeyModel: "lenet"}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	f, err := Parse(good, "m.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.Metadata[KeyChecksum]; !strings.HasPrefix(got, "crc32c:") || len(got) != len("crc32c:")+8 {
		t.Errorf("checksum %q, want crc32c: and 8 hex digits", got)
	}
	const want = "checkpoint: m.safetensors: checksum mismatch: file is corrupt or truncated"
	flip := bytes.Clone(good)
	flip[len(flip)-3] ^= 0x10
	for name, data := range map[string][]byte{
		"bit flip":       flip,
		"truncated":      good[:len(good)-4],
		"truncated more": good[:len(good)-13],
		"extra bytes":    append(bytes.Clone(good), 0, 0, 0, 0),
	} {
		if _, err := Parse(data, "m.safetensors"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", name, err, want)
		}
	}
	// A header cut short is caught before the checksum can be read.
	if _, err := Parse(good[:20], "m.safetensors"); err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("header cut: error %v, want one saying truncated", err)
	}
	// Encode alone (a stream, PyTorch's writer) adds no checksum, and such
	// files read unchecked.
	var b bytes.Buffer
	if err := Encode(&b, sampleTensors(), map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	if f, err := Parse(b.Bytes(), "pt"); err != nil || f.Metadata[KeyChecksum] != "" {
		t.Errorf("plain file: %v, metadata %v", err, f.Metadata)
	}
	// An unknown algorithm is refused by name.
	b.Reset()
	Encode(&b, sampleTensors(), map[string]string{KeyChecksum: "md5:00"})
	if _, err := Parse(b.Bytes(), "x"); err == nil || !strings.Contains(err.Error(), "unknown algorithm") {
		t.Errorf("md5: error %v", err)
	}
}

// TestLoadIntoSkipsOptimizerState loads a training checkpoint, with
// optimizer tensors beside the model's, as model weights.
func TestLoadIntoSkipsOptimizerState(t *testing.T) {
	model := nn.NewLinear(tensor.NewRNG(1), 3, 2, true)
	state := nn.StateDict(model)
	extra := append(state, nn.Named[*tensor.Tensor]{Name: OptimizerPrefix + "weight.momentum", Value: tensor.New(2, 3)})
	path := filepath.Join(t.TempDir(), "t.safetensors")
	if err := WriteFile(path, extra, nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := LoadInto(nn.NewLinear(tensor.NewRNG(2), 3, 2, true), f); err != nil {
		t.Errorf("LoadInto: %v", err)
	}
	m, err := LoadMatching(nn.NewLinear(tensor.NewRNG(2), 3, 2, true), f)
	if err != nil || len(m.Unused) != 0 {
		t.Errorf("LoadMatching: %v, unused %v", err, m.Unused)
	}
	f.Tensors = append(f.Tensors, nn.Named[*tensor.Tensor]{Name: "other", Value: tensor.New(1)})
	if err := LoadInto(nn.NewLinear(tensor.NewRNG(2), 3, 2, true), f); err == nil {
		t.Error("LoadInto accepted an unknown tensor")
	}
}
