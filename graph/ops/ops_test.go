package ops

import "testing"

// TestTable checks the declarations: every op has a trace name of its own,
// a form other than custom comes with an ONNX operator, and spec kinds map
// back to their op.
func TestTable(t *testing.T) {
	names := map[string]Op{}
	kinds := map[string]Op{}
	for o := None + 1; o < numOps; o++ {
		n := o.String()
		if defs[o].name == "" {
			t.Errorf("op %d has no name", o)
		}
		if prev, dup := names[n]; dup {
			t.Errorf("ops %d and %d are both called %q", prev, o, n)
		}
		names[n] = o
		if o.ONNXForm() != ONNXCustom && o.ONNX() == "" {
			t.Errorf("%s: form %d without an ONNX operator", o, o.ONNXForm())
		}
		if k := o.SpecKind(); k != "" {
			if prev, dup := kinds[k]; dup {
				t.Errorf("ops %s and %s both have spec kind %q", prev, o, k)
			}
			kinds[k] = o
			if back, ok := FromSpecKind(k); !ok || back != o {
				t.Errorf("FromSpecKind(%q) = %s, %v; want %s", k, back, ok, o)
			}
		}
	}
	if len(names) != int(numOps)-1 {
		t.Errorf("%d names for %d ops", len(names), numOps-1)
	}
	for _, k := range []string{"", "residual", "repeat", "leaky_relu", "conv2d"} {
		if o, ok := FromSpecKind(k); ok {
			t.Errorf("FromSpecKind(%q) = %s, want none", k, o)
		}
	}
}

// TestSpellings pins the names that differ between a trace, a summary and
// a YAML spec, so that changing one is a decision.
func TestSpellings(t *testing.T) {
	for _, c := range []struct {
		op                      Op
		name, row, typ, spec, x string
	}{
		{LeakyReLU, "leaky_relu", "leakyrelu", "LeakyReLU", "leakyrelu", "LeakyRelu"},
		{GlobalAvgPool2d, "global_avgpool2d", "avgpool", "GlobalAvgPool2d", "globalavgpool", "GlobalAveragePool"},
		{MaxPool2d, "maxpool2d", "maxpool", "MaxPool2d", "maxpool", "MaxPool"},
		{Reshape, "reshape", "flatten", "Flatten", "flatten", "Reshape"},
		{Conv2d, "conv2d", "conv2d", "conv2d", "conv", "Conv"},
		{LogSoftmax, "log_softmax", "log_softmax", "LogSoftmax", "", "LogSoftmax"},
		{AddScalar, "add_scalar", "add_scalar", "add_scalar", "", "Add"},
		{SiLU, "silu", "silu", "SiLU", "silu", ""},
	} {
		got := [5]string{c.op.String(), c.op.SummaryName(), c.op.SummaryType(), c.op.SpecKind(), c.op.ONNX()}
		if want := [5]string{c.name, c.row, c.typ, c.spec, c.x}; got != want {
			t.Errorf("%s: name, summary name and type, spec kind, ONNX %q, want %q", c.name, got, want)
		}
	}
	if s := Op(200).String(); s != "ops.Op(200)" {
		t.Errorf("Op(200) = %q", s)
	}
	if s := None.String(); s != "none" {
		t.Errorf("None = %q", s)
	}
}
