package models

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// TorchvisionArch describes how a torchvision state_dict maps onto a zoo
// architecture of the same name (docs/import.md has the table).
type TorchvisionArch struct {
	// Model is the zoo name, which is also torchvision's function name
	// except mobilenetv2 (torchvision's mobilenet_v2).
	Model string
	// Torchvision is the torchvision.models function that builds it.
	Torchvision string
	// Classifier is the weight of the last layer; its first dimension is
	// the number of classes.
	Classifier string
	// Ignore lists name prefixes of tensors dropped on import: heads used
	// only in training (GoogLeNet's auxiliary classifiers).
	Ignore []string
}

// TorchvisionArchs are the architectures [FromTorchvision] imports. The zoo
// builds them with torchvision's parameter names and shapes, so a
// state_dict maps one to one, except for the tensors in Ignore and
// num_batches_tracked, a scalar in PyTorch and a 1-element tensor here.
var TorchvisionArchs = []TorchvisionArch{
	{Model: "resnet18", Torchvision: "resnet18", Classifier: "fc.weight"},
	{Model: "resnet34", Torchvision: "resnet34", Classifier: "fc.weight"},
	{Model: "resnet50", Torchvision: "resnet50", Classifier: "fc.weight"},
	{Model: "vgg11", Torchvision: "vgg11", Classifier: "classifier.6.weight"},
	{Model: "vgg13", Torchvision: "vgg13", Classifier: "classifier.6.weight"},
	{Model: "vgg16", Torchvision: "vgg16", Classifier: "classifier.6.weight"},
	{Model: "vgg11_bn", Torchvision: "vgg11_bn", Classifier: "classifier.6.weight"},
	{Model: "vgg13_bn", Torchvision: "vgg13_bn", Classifier: "classifier.6.weight"},
	{Model: "vgg16_bn", Torchvision: "vgg16_bn", Classifier: "classifier.6.weight"},
	{Model: "googlenet", Torchvision: "googlenet", Classifier: "fc.weight", Ignore: []string{"aux1.", "aux2."}},
	{Model: "mobilenetv2", Torchvision: "mobilenet_v2", Classifier: "classifier.1.weight"},
}

// ImageNet normalization of torchvision's pretrained weights, applied to
// [0, 1] pixels.
var (
	ImageNetMean = []float32{0.485, 0.456, 0.406}
	ImageNetStd  = []float32{0.229, 0.224, 0.225}
)

// LookupTorchvision returns the import description of a zoo model name (or
// of a torchvision function name such as mobilenet_v2).
func LookupTorchvision(name string) (TorchvisionArch, error) {
	var known []string
	for _, a := range TorchvisionArchs {
		if a.Model == name || a.Torchvision == name {
			return a, nil
		}
		known = append(known, a.Model)
	}
	return TorchvisionArch{}, fmt.Errorf("models: %q cannot be imported from torchvision (known: %s)", name, strings.Join(known, ", "))
}

// FromTorchvision builds the zoo model arch with the weights of f, a
// state_dict of the torchvision model of the same architecture saved as
// safetensors (safetensors.torch.save_file(model.state_dict(), path)).
// The number of classes comes from the classifier's shape; numClasses > 0
// must agree with it. Tensors the model lacks or has in another shape, and
// tensors of the file the model does not know, are an error listing them.
// The returned Meta describes an ImageNet model: input 3×224×224, ImageNet
// mean and standard deviation, classes "0" to "N-1". The model is in
// evaluation mode.
func FromTorchvision(f *checkpoint.File, arch string, numClasses int) (nn.Layer, Meta, error) {
	a, err := LookupTorchvision(arch)
	if err != nil {
		return nil, Meta{}, err
	}
	cls, ok := f.Tensor(a.Classifier)
	if !ok || cls.Dims() != 2 {
		return nil, Meta{}, fmt.Errorf("models: %s is not a torchvision %s state_dict: it lacks the 2-D classifier weight %q", f.Name, a.Torchvision, a.Classifier)
	}
	n := cls.Dim(0)
	if numClasses > 0 && numClasses != n {
		return nil, Meta{}, fmt.Errorf("models: %s: %s has %d classes (%s is %v), not %d", f.Name, a.Torchvision, n, a.Classifier, cls.Shape(), numClasses)
	}
	opt := Options{NumClasses: n, InChannels: 3}
	model, err := New(a.Model, opt)
	if err != nil {
		return nil, Meta{}, err
	}
	mapped := &checkpoint.File{Name: f.Name}
	for _, t := range f.Tensors {
		if hasAnyPrefix(t.Name, a.Ignore) {
			continue
		}
		v := t.Value
		if strings.HasSuffix(t.Name, "num_batches_tracked") && v.Dims() == 0 {
			v = v.Reshape(1)
		}
		mapped.Tensors = append(mapped.Tensors, nn.Named[*tensor.Tensor]{Name: t.Name, Value: v})
	}
	if err := checkpoint.LoadInto(model, mapped); err != nil {
		return nil, Meta{}, fmt.Errorf("models: importing torchvision %s: %w", a.Torchvision, err)
	}
	nn.SetTraining(model, false)
	classes := make([]string, n)
	for i := range classes {
		classes[i] = strconv.Itoa(i)
	}
	meta := Meta{
		Model: a.Model, Options: opt, Classes: classes, InputShape: [3]int{3, 224, 224},
		Mean: append([]float32(nil), ImageNetMean...), Std: append([]float32(nil), ImageNetStd...),
	}
	return model, meta, nil
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// TorchvisionNames lists the importable architectures, sorted.
func TorchvisionNames() []string {
	var out []string
	for _, a := range TorchvisionArchs {
		out = append(out, a.Model)
	}
	sort.Strings(out)
	return out
}
