package checkpoint

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Save writes model's parameters and buffers ([nn.StateDict]) and meta to
// path atomically, as [WriteFile] does. It adds [KeyFormatVersion] to the
// metadata when meta lacks it; meta itself is not modified.
func Save(path string, model nn.Layer, meta map[string]string) error {
	m := maps.Clone(meta)
	if m == nil {
		m = map[string]string{}
	}
	if _, ok := m[KeyFormatVersion]; !ok {
		m[KeyFormatVersion] = FormatVersion
	}
	return WriteFile(path, nn.StateDict(model), m)
}

// maxListed bounds how many names a mismatch error lists per kind.
const maxListed = 5

// LoadInto copies f's tensors into model's parameters and buffers by name.
// The file must hold exactly the tensors the model has, with the same
// shapes; otherwise LoadInto changes nothing and returns an error listing
// the missing, unexpected and mis-shaped tensors, which usually means the
// file is a checkpoint of another model. Optimizer state (tensors named
// [OptimizerPrefix]…, in a training checkpoint) is ignored. A file whose [KeyFormatVersion] is
// present and not [FormatVersion] is refused too.
func LoadInto(model nn.Layer, f *File) error {
	if v, ok := f.Metadata[KeyFormatVersion]; ok && v != FormatVersion {
		return fmt.Errorf("checkpoint: %s: %s is %q; this Fovea reads version %q", f.Name, KeyFormatVersion, v, FormatVersion)
	}
	inFile := make(map[string]*tensor.Tensor, len(f.Tensors))
	for _, t := range f.Tensors {
		inFile[t.Name] = t.Value
	}
	state := nn.StateDict(model)
	inModel := make(map[string]bool, len(state))
	var missing, unexpected, shapes []string
	for _, s := range state {
		inModel[s.Name] = true
		t, ok := inFile[s.Name]
		switch {
		case !ok:
			missing = append(missing, fmt.Sprintf("%q", s.Name))
		case !tensor.SameShape(t, s.Value):
			shapes = append(shapes, fmt.Sprintf("%q is %v in the file but %v in the model", s.Name, t.Shape(), s.Value.Shape()))
		}
	}
	for _, t := range f.Tensors {
		if !inModel[t.Name] && !strings.HasPrefix(t.Name, OptimizerPrefix) {
			unexpected = append(unexpected, fmt.Sprintf("%q", t.Name))
		}
	}
	if len(missing)+len(unexpected)+len(shapes) > 0 {
		var parts []string
		if len(missing) > 0 {
			parts = append(parts, fmt.Sprintf("the model needs %d tensors the file lacks: %s", len(missing), list(missing)))
		}
		if len(unexpected) > 0 {
			parts = append(parts, fmt.Sprintf("the file has %d tensors the model does not know: %s", len(unexpected), list(unexpected)))
		}
		if len(shapes) > 0 {
			parts = append(parts, fmt.Sprintf("%d shapes differ: %s", len(shapes), list(shapes)))
		}
		what := ""
		if m := f.Metadata[KeyModel]; m != "" {
			what = fmt.Sprintf(" It says it holds model %q.", m)
		}
		return fmt.Errorf("checkpoint: %s does not fit this model (is it a checkpoint of another model?%s): %s",
			f.Name, what, strings.Join(parts, "; "))
	}
	for _, s := range state {
		s.Value.CopyFrom(inFile[s.Name])
	}
	return nil
}

// list joins up to maxListed items and says how many more there are.
func list(items []string) string {
	items = slices.Clone(items)
	more := ""
	if len(items) > maxListed {
		more = fmt.Sprintf(" and %d more", len(items)-maxListed)
		items = items[:maxListed]
	}
	return strings.Join(items, ", ") + more
}
