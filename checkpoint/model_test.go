package checkpoint

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// statBN stands in for a batch-norm layer: PyTorch's parameter and buffer
// names, no arithmetic.
type statBN struct {
	weight, bias *autograd.Var
	mean, vari   *tensor.Tensor
	count        *tensor.Tensor
}

func newStatBN(c int) *statBN {
	return &statBN{autograd.Param(tensor.Ones(c)), autograd.Param(tensor.New(c)),
		tensor.New(c), tensor.Ones(c), tensor.Scalar(0)}
}

func (b *statBN) Forward(x *autograd.Var) *autograd.Var { return x }

func (b *statBN) OwnParams() []nn.Named[*autograd.Var] {
	return []nn.Named[*autograd.Var]{{Name: "weight", Value: b.weight}, {Name: "bias", Value: b.bias}}
}

func (b *statBN) OwnBuffers() []nn.Named[*tensor.Tensor] {
	return []nn.Named[*tensor.Tensor]{{Name: "running_mean", Value: b.mean},
		{Name: "running_var", Value: b.vari}, {Name: "num_batches_tracked", Value: b.count}}
}

func mlp(seed uint64, sizes ...int) *nn.Sequential {
	rng := rand.New(rand.NewPCG(seed, 0))
	s := nn.NewSequential()
	for i := 0; i+1 < len(sizes); i++ {
		if i > 0 {
			s.Append(nn.Func(autograd.ReLU))
		}
		s.Append(nn.NewLinear(rng, sizes[i], sizes[i+1], true))
	}
	return s
}

func TestSaveLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mlp.safetensors")
	src := mlp(1, 4, 8, 3)
	meta := map[string]string{KeyModel: "mlp", KeyInputShape: "4"}
	if err := Save(path, src, meta); err != nil {
		t.Fatal(err)
	}
	if _, ok := meta[KeyFormatVersion]; ok {
		t.Error("Save modified the caller's metadata")
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata[KeyFormatVersion] != FormatVersion || f.Metadata[KeyModel] != "mlp" {
		t.Errorf("metadata %v", f.Metadata)
	}
	dst := mlp(2, 4, 8, 3)
	if err := LoadInto(dst, f); err != nil {
		t.Fatal(err)
	}
	want, got := nn.StateDict(src), nn.StateDict(dst)
	for i := range want {
		if !slices.Equal(want[i].Value.Data(), got[i].Value.Data()) {
			t.Errorf("%s differs after loading", want[i].Name)
		}
	}
}

// loadErr saves src and loads it into dst, returning the error text.
func loadErr(t *testing.T, src, dst nn.Layer) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := Save(path, src, map[string]string{KeyModel: "other"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	before := slices.Clone(nn.StateDict(dst)[0].Value.Data())
	err = LoadInto(dst, f)
	if err == nil {
		t.Fatal("LoadInto succeeded")
	}
	if !slices.Equal(before, nn.StateDict(dst)[0].Value.Data()) {
		t.Error("a failed LoadInto changed the model")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "checkpoint: "+path+" does not fit this model") ||
		!strings.Contains(msg, "checkpoint of another model") || !strings.Contains(msg, `It says it holds model "other".`) {
		t.Errorf("error %q does not say the file is another model's", msg)
	}
	return msg
}

func TestLoadIntoMismatch(t *testing.T) {
	t.Run("missing", func(t *testing.T) {
		msg := loadErr(t, mlp(1, 4, 8), mlp(1, 4, 8, 3))
		if !strings.Contains(msg, `needs 2 tensors the file lacks: "2.weight", "2.bias"`) {
			t.Error(msg)
		}
	})
	t.Run("unexpected", func(t *testing.T) {
		msg := loadErr(t, mlp(1, 4, 8, 3), mlp(1, 4, 8))
		if !strings.Contains(msg, `file has 2 tensors the model does not know: "2.bias", "2.weight"`) {
			t.Error(msg)
		}
	})
	t.Run("shape", func(t *testing.T) {
		msg := loadErr(t, mlp(1, 4, 8, 3), mlp(1, 4, 8, 5))
		if !strings.Contains(msg, `"2.weight" is [3 8] in the file but [5 8] in the model`) ||
			!strings.Contains(msg, `"2.bias" is [3] in the file but [5] in the model`) {
			t.Error(msg)
		}
	})
	t.Run("many", func(t *testing.T) {
		msg := loadErr(t, mlp(1, 2, 2, 2, 2, 2, 2), mlp(1, 2, 2))
		if !strings.Contains(msg, "8 tensors the model does not know") || !strings.Contains(msg, "and 3 more") {
			t.Error(msg)
		}
	})
}

func TestLoadIntoVersion(t *testing.T) {
	m := mlp(1, 2, 2)
	f := &File{Name: "new.safetensors", Metadata: map[string]string{KeyFormatVersion: "2"}, Tensors: nn.StateDict(m)}
	err := LoadInto(m, f)
	if err == nil || !strings.Contains(err.Error(), `fovea.format_version is "2"`) {
		t.Errorf("err = %v", err)
	}
}

// TestLoadPyTorch loads the PyTorch fixture (Conv2d, BatchNorm2d, ReLU,
// Flatten, Linear) into the same architecture built in Go.
func TestLoadPyTorch(t *testing.T) {
	f, err := ReadFile("testdata/torch_small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	m := nn.NewSequential(
		nn.NewConv2d(rng, nn.Conv2dConfig{In: 1, Out: 2, Kernel: 3}),
		newStatBN(2),
		nn.Func(autograd.ReLU),
		nn.Func(autograd.Flatten),
		nn.NewLinear(rng, 8, 3, true),
	)
	if err := LoadInto(m, f); err != nil {
		t.Fatal(err)
	}
	for _, s := range nn.StateDict(m) {
		want, _ := f.Tensor(s.Name)
		if !slices.Equal(s.Value.Data(), want.Data()) {
			t.Errorf("%s not loaded", s.Name)
		}
	}
	if bn := m.Layers[1].(*statBN); bn.count.Item() != 3 {
		t.Errorf("num_batches_tracked = %v", bn.count.Item())
	}
}
