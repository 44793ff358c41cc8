package graph

import (
	"strings"
	"testing"

	"github.com/fovea-ml/fovea/autograd"
	"github.com/fovea-ml/fovea/graph/ops"
	"github.com/fovea-ml/fovea/models"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

func TestTraceLeNet5(t *testing.T) {
	g, err := Trace(models.NewLeNet5(models.Options{Seed: 1}), 2, 1, 28, 28)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, n := range g.Nodes {
		ops = append(ops, n.Op.String())
	}
	want := "conv2d relu maxpool2d conv2d relu maxpool2d reshape linear relu linear relu linear"
	if got := strings.Join(ops, " "); got != want {
		t.Fatalf("ops %q, want %q", got, want)
	}
	conv := g.Nodes[0]
	if p := conv.Attrs.(tensor.ConvParams); p.Pad != [4]int{2, 2, 2, 2} {
		t.Fatalf("conv1 padding %v", p.Pad)
	}
	if w := g.Values[conv.Inputs[1]]; w.Param != "conv1.weight" || w.Data == nil {
		t.Fatalf("conv1 weight value %+v", w)
	}
	if s := g.Values[g.Output].Shape; len(s) != 2 || s[0] != 2 || s[1] != 10 {
		t.Fatalf("output shape %v", s)
	}
	dump := g.String()
	for _, frag := range []string{"input %0 [2 1 28 28]", "conv1.weight [6 1 5 5]", "fc3.bias [10]", "-> [2 16 5 5]"} {
		if !strings.Contains(dump, frag) {
			t.Fatalf("dump lacks %q:\n%s", frag, dump)
		}
	}
}

func TestTraceSharedInputAndErrors(t *testing.T) {
	// A residual block reads its input twice: both uses name one value.
	r := tensor.NewRNG(1)
	res := &nn.Residual{Body: nn.NewConv2d(r, nn.Conv2dConfig{In: 2, Out: 2, Kernel: 3, Padding: 1})}
	g, err := Trace(res, 1, 2, 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	add := g.Nodes[len(g.Nodes)-1]
	if add.Op != ops.Add || add.Inputs[1] != g.Input || g.Nodes[0].Inputs[0] != g.Input {
		t.Fatalf("residual graph:\n%s", g)
	}
	if uses := g.Uses(); len(uses[g.Input]) != 2 {
		t.Fatalf("input used %d times, want 2", len(uses[g.Input]))
	}
	// A model that panics on the shape gives an error, not a panic.
	if _, err := Trace(models.NewLeNet5(models.Options{}), 1, 1, 20, 20); err == nil || !strings.Contains(err.Error(), "graph: ") {
		t.Fatalf("bad shape: err = %v", err)
	}
	// The identity is a graph without nodes whose output is its input.
	id, err := Trace(nn.Func(func(x *autograd.Var) *autograd.Var { return x }), 1, 1, 2, 2)
	if err != nil || len(id.Nodes) != 0 || id.Output != id.Input {
		t.Fatalf("identity: %v, %v", id, err)
	}
}

func TestTraceScopes(t *testing.T) {
	m := models.NewResNet20(models.Options{})
	g, err := Trace(m, 1, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	scopes := map[string]int{}
	for _, n := range g.Nodes {
		scopes[n.Scope]++
	}
	// The stem runs outside any container; each block is one child of the
	// Sequential "layers"; the down-sampling blocks' shortcuts are
	// Sequentials of their own.
	for _, want := range []string{"", "layers.0", "layers.8", "layers.3.shortcut.0", "layers.3.shortcut.1"} {
		if scopes[want] == 0 {
			t.Errorf("no node in scope %q (scopes: %v)", want, scopes)
		}
	}
	if _, ok := m.Layers.Layers[0].(*models.BasicBlock); !ok {
		t.Errorf("Trace left the model wrapped: %T", m.Layers.Layers[0])
	}
	// A failed trace unwraps too.
	if _, err := Trace(m, 1, 2, 32, 32); err == nil {
		t.Fatal("tracing a 2-channel input succeeded")
	}
	if _, ok := m.Layers.Layers[0].(*models.BasicBlock); !ok {
		t.Errorf("a failed Trace left the model wrapped: %T", m.Layers.Layers[0])
	}
}
