package checkpoint

import (
	"fmt"
	"strings"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Match reports what [LoadMatching] did with each tensor of the model.
type Match struct {
	// Loaded are the model's tensors copied from the file.
	Loaded []string
	// Shape are the model's tensors the file has with another shape (a
	// classifier head for a different number of classes); they keep their
	// initialization.
	Shape []string
	// Missing are the model's tensors the file lacks; they keep their
	// initialization.
	Missing []string
	// Unused are the file's tensors the model has no place for, except
	// optimizer state ([OptimizerPrefix]).
	Unused []string
}

// LoadMatching copies into model every tensor of f whose name and shape
// match one of the model's parameters or buffers, and leaves the others as
// they are: the start of transfer learning, where a network pretrained on
// one dataset gets a new head for another. It returns an error if nothing
// matches (a checkpoint of an unrelated model) or the file's format version
// is not this Fovea's.
func LoadMatching(model nn.Layer, f *File) (Match, error) {
	var m Match
	if v, ok := f.Metadata[KeyFormatVersion]; ok && v != FormatVersion {
		return m, fmt.Errorf("checkpoint: %s: %s is %q; this Fovea reads version %q", f.Name, KeyFormatVersion, v, FormatVersion)
	}
	inFile := make(map[string]*tensor.Tensor, len(f.Tensors))
	for _, t := range f.Tensors {
		inFile[t.Name] = t.Value
	}
	used := map[string]bool{}
	for _, s := range nn.StateDict(model) {
		t, ok := inFile[s.Name]
		switch {
		case !ok:
			m.Missing = append(m.Missing, s.Name)
		case !tensor.SameShape(t, s.Value):
			m.Shape = append(m.Shape, s.Name)
			used[s.Name] = true
		default:
			s.Value.CopyFrom(t)
			m.Loaded = append(m.Loaded, s.Name)
			used[s.Name] = true
		}
	}
	for _, t := range f.Tensors {
		if !used[t.Name] && !strings.HasPrefix(t.Name, OptimizerPrefix) {
			m.Unused = append(m.Unused, t.Name)
		}
	}
	if len(m.Loaded) == 0 {
		return m, fmt.Errorf("checkpoint: %s: no tensor fits this model by name and shape (the file has %s; the model needs %s)",
			f.Name, list(quoteAll(m.Unused, m.Shape)), list(quoteAll(m.Missing, m.Shape)))
	}
	return m, nil
}

// quoteAll quotes the names of the given lists, in order.
func quoteAll(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		for _, s := range l {
			out = append(out, fmt.Sprintf("%q", s))
		}
	}
	return out
}
