// Package models is Fovea's model zoo: named architectures that a
// checkpoint can rebuild from its metadata.
//
// Each architecture registers a [Builder] under a name from an init
// function, as image formats register with package image. [New] builds a
// model by name; unknown names return an error listing the known ones.
package models

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// Options are the knobs every architecture accepts. The zero value asks for
// each architecture's defaults.
type Options struct {
	NumClasses int    `json:"num_classes,omitempty"` // default: the architecture's, Info.Classes
	InChannels int    `json:"in_channels,omitempty"` // default: the architecture's (1 for MNIST models)
	Seed       uint64 `json:"seed,omitempty"`        // seeds the random initialization
	// Width is a width multiplier for the channel counts; 0 means 1.0.
	// VGG scales every convolution and the hidden classifier layers,
	// MobileNetV2 is torchvision's width_mult (channels rounded to
	// multiples of 8 by _make_divisible), the CIFAR ResNets and
	// inception-cifar scale every stage; the other architectures ignore it.
	Width float64 `json:"width,omitempty"`
}

// Builder makes a freshly initialized model.
type Builder func(opt Options) (nn.Layer, error)

// Info describes a registered architecture.
type Info struct {
	Name        string
	Description string
	// Input is the expected input shape (C, H, W) with default options.
	Input [3]int
	// Classes is the number of classes of the head when
	// Options.NumClasses is 0: 1000 for the ImageNet architectures, as
	// torchvision's, else 10 (what Register fills in for 0).
	Classes int
	// AnySize says Forward also takes other heights and widths than
	// Input's (the network ends in global pooling), so it can train on
	// images of the size a dataset has: 64×64 photos for a CIFAR ResNet.
	AnySize bool
	Build   Builder
	// InitData, if set, completes a freshly built model's initialization
	// from training images x (N, C, H, W), normalized as the model will
	// see them (no augmentation): airbench94's patch-whitening layer.
	// `fovea train` calls it before the first step of a new run (and
	// before --init loads a checkpoint's matching tensors) with the first
	// InitDataImages training images, or all when there are fewer.
	InitData func(model nn.Layer, x *tensor.Tensor) error
}

// InitDataImages is how many training images `fovea train` gives
// [Info.InitData]: airbench's 5,000.
const InitDataImages = 5000

var registry = struct {
	sync.RWMutex
	m map[string]Info
}{m: map[string]Info{}}

// Register adds an architecture; it panics if the name is taken.
func Register(info Info) {
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[info.Name]; dup {
		panic("models: Register called twice for " + info.Name)
	}
	if info.Classes == 0 {
		info.Classes = defaultClasses
	}
	registry.m[info.Name] = info
}

// Lookup returns the registered architecture with the given name.
func Lookup(name string) (Info, error) {
	registry.RLock()
	defer registry.RUnlock()
	info, ok := registry.m[name]
	if !ok {
		return Info{}, fmt.Errorf("models: unknown model %q (known: %s)", name, strings.Join(namesLocked(), ", "))
	}
	return info, nil
}

// New builds the named architecture with opt, filling in defaults.
func New(name string, opt Options) (nn.Layer, error) {
	info, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	opt = opt.withDefaults(info.Input[0], info.Classes)
	if opt.NumClasses < 1 || opt.InChannels < 1 {
		return nil, fmt.Errorf("models: %s: num_classes %d and in_channels %d must be positive", name, opt.NumClasses, opt.InChannels)
	}
	if opt.Width < 0 || math.IsNaN(opt.Width) || math.IsInf(opt.Width, 0) {
		return nil, fmt.Errorf("models: %s: width %v must be positive (0 for the default 1.0)", name, opt.Width)
	}
	return info.Build(opt)
}

// Names lists the registered architectures in sorted order.
func Names() []string {
	registry.RLock()
	defer registry.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	names := make([]string, 0, len(registry.m))
	for n := range registry.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// All returns every registered architecture, sorted by name.
func All() []Info {
	var out []Info
	for _, n := range Names() {
		info, _ := Lookup(n)
		out = append(out, info)
	}
	return slices.Clip(out)
}

// rng returns the initialization random source for opt.
func rng(opt Options) *rand.Rand { return tensor.NewRNG(opt.Seed) }

// width returns opt.Width, or 1 for the zero value.
func (o Options) width() float64 {
	if o.Width == 0 {
		return 1
	}
	return o.Width
}

// scaled returns c channels scaled by the width multiplier, rounded to the
// nearest integer and at least 1.
func (o Options) scaled(c int) int {
	return max(1, int(math.Round(float64(c)*o.width())))
}

// The default numbers of classes: ImageNet's for the architectures
// torchvision has, else 10 (MNIST, CIFAR-10).
const (
	defaultClasses  = 10
	imageNetClasses = 1000
)

// defaultHead returns the default classes of an architecture with an
// ImageNet and a CIFAR variant.
func defaultHead(cifar bool) int {
	if cifar {
		return defaultClasses
	}
	return imageNetClasses
}

// withDefaults fills zero fields: inChannels input channels and classes
// classes.
func (o Options) withDefaults(inChannels, classes int) Options {
	if o.NumClasses == 0 {
		o.NumClasses = classes
	}
	if o.InChannels == 0 {
		o.InChannels = inChannels
	}
	return o
}
