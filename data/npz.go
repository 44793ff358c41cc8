package data

import (
	"archive/zip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
)

// NPY is one array of a NumPy .npy file (C order).
type NPY struct {
	// Descr is the NumPy type: "|u1" (uint8), "<f4" (float32), "<f8"
	// (float64) or "<i8" (int64).
	Descr string
	// Shape is the array's shape; a scalar has none.
	Shape []int
	// Data holds the elements' little-endian bytes, in C order.
	Data []byte
}

// npyItemSize gives the element size of each supported type.
var npyItemSize = map[string]int{"|u1": 1, "<f4": 4, "<f8": 8, "<i8": 8}

// maxNPYHeader bounds the header length of version 2 and 3 files.
const maxNPYHeader = 1 << 20

// Len returns the number of elements.
func (a *NPY) Len() int { return len(a.Data) / npyItemSize[a.Descr] }

// Float32s returns the elements converted to float32, unscaled.
func (a *NPY) Float32s() []float32 {
	out := make([]float32, a.Len())
	switch a.Descr {
	case "|u1":
		for i, b := range a.Data {
			out[i] = float32(b)
		}
	case "<f4":
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(a.Data[4*i:]))
		}
	case "<f8":
		for i := range out {
			out[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(a.Data[8*i:])))
		}
	case "<i8":
		for i := range out {
			out[i] = float32(int64(binary.LittleEndian.Uint64(a.Data[8*i:])))
		}
	}
	return out
}

// Ints returns the elements as ints; it is an error if one is not a whole
// number within ±2^31.
func (a *NPY) Ints() ([]int, error) {
	out := make([]int, a.Len())
	for i := range out {
		var v float64
		switch a.Descr {
		case "|u1":
			v = float64(a.Data[i])
		case "<f4":
			v = float64(math.Float32frombits(binary.LittleEndian.Uint32(a.Data[4*i:])))
		case "<f8":
			v = math.Float64frombits(binary.LittleEndian.Uint64(a.Data[8*i:]))
		case "<i8":
			n := int64(binary.LittleEndian.Uint64(a.Data[8*i:]))
			if n < -1<<31 || n > 1<<31 {
				return nil, fmt.Errorf("element %d is %d, out of range", i, n)
			}
			out[i] = int(n)
			continue
		}
		if v != math.Trunc(v) || math.Abs(v) > 1<<31 {
			return nil, fmt.Errorf("element %d is %v, not an integer label", i, v)
		}
		out[i] = int(v)
	}
	return out, nil
}

// ReadNPY reads a NumPy .npy array (format version 1, 2 or 3) of type
// uint8, float32, float64 or int64 in C order; name is used in errors.
// Memory use is bounded by the input's length, not by the shape the
// header claims.
func ReadNPY(r io.Reader, name string) (*NPY, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("data: %s: reading .npy magic: %w", name, noEOF(err))
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return nil, fmt.Errorf("data: %s: not a .npy file (bad magic %q)", name, pre[:6])
	}
	var hlen int
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("data: %s: .npy header length: %w", name, noEOF(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("data: %s: .npy header length: %w", name, noEOF(err))
		}
		if v := binary.LittleEndian.Uint32(b[:]); v > maxNPYHeader {
			return nil, fmt.Errorf("data: %s: .npy header of %d bytes is too long", name, v)
		} else {
			hlen = int(v)
		}
	default:
		return nil, fmt.Errorf("data: %s: .npy format version %d.%d, want 1, 2 or 3", name, pre[6], pre[7])
	}
	header := make([]byte, hlen)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("data: %s: .npy header: %w", name, noEOF(err))
	}
	a, err := parseNPYHeader(string(header))
	if err != nil {
		return nil, fmt.Errorf("data: %s: .npy header %q: %v", name, strings.TrimSpace(string(header)), err)
	}
	n := int64(npyItemSize[a.Descr])
	for _, d := range a.Shape {
		if d > 0 && n > (1<<40)/int64(d) {
			return nil, fmt.Errorf("data: %s: shape %v is too large", name, a.Shape)
		}
		n *= int64(d)
	}
	a.Data, err = io.ReadAll(io.LimitReader(r, n))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", name, err)
	}
	if int64(len(a.Data)) != n {
		return nil, fmt.Errorf("data: %s: truncated: shape %v of %s needs %d bytes, found %d", name, a.Shape, a.Descr, n, len(a.Data))
	}
	return a, nil
}

// parseNPYHeader parses the Python dict literal of a .npy header:
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
func parseNPYHeader(h string) (*NPY, error) {
	p := &pyParser{s: strings.TrimSpace(h)}
	if !p.eat('{') {
		return nil, errors.New("not a dict")
	}
	a := &NPY{}
	var seen [3]bool
	for !p.eat('}') {
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if !p.eat(':') {
			return nil, errors.New("missing ':'")
		}
		switch key {
		case "descr":
			if a.Descr, err = p.str(); err != nil {
				return nil, err
			}
			seen[0] = true
		case "fortran_order":
			switch {
			case p.word("False"):
			case p.word("True"):
				return nil, errors.New("Fortran-order arrays are not supported (save with C order)")
			default:
				return nil, errors.New("fortran_order is not True or False")
			}
			seen[1] = true
		case "shape":
			if a.Shape, err = p.tuple(); err != nil {
				return nil, err
			}
			seen[2] = true
		default:
			return nil, fmt.Errorf("unknown key %q", key)
		}
		if !p.eat(',') {
			if !p.eat('}') {
				return nil, errors.New("missing ',' or '}'")
			}
			break
		}
	}
	if seen != [3]bool{true, true, true} {
		return nil, errors.New("missing descr, fortran_order or shape")
	}
	if _, ok := npyItemSize[a.Descr]; !ok {
		return nil, fmt.Errorf("type %q is not supported (want |u1, <f4, <f8 or <i8)", a.Descr)
	}
	return a, nil
}

// pyParser reads the few Python literals .npy headers use.
type pyParser struct {
	s string
	i int
}

func (p *pyParser) skip() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n') {
		p.i++
	}
}

// eat consumes c if it comes next.
func (p *pyParser) eat(c byte) bool {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// word consumes w if it comes next.
func (p *pyParser) word(w string) bool {
	p.skip()
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes.
func (p *pyParser) str() (string, error) {
	p.skip()
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", errors.New("want a quoted string")
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, nil
}

// tuple reads a tuple of non-negative integers.
func (p *pyParser) tuple() ([]int, error) {
	if !p.eat('(') {
		return nil, errors.New("shape is not a tuple")
	}
	shape := []int{}
	for !p.eat(')') {
		p.skip()
		j := p.i
		for j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9' {
			j++
		}
		v, err := strconv.Atoi(strings.TrimSuffix(p.s[p.i:j], "L"))
		if err != nil || v > 1<<31 {
			return nil, errors.New("shape has a bad dimension")
		}
		p.i = j
		p.eat('L')
		shape = append(shape, v)
		if !p.eat(',') {
			if !p.eat(')') {
				return nil, errors.New("shape: missing ',' or ')'")
			}
			break
		}
	}
	return shape, nil
}

// ReadNPZ reads every .npy array of a NumPy .npz file (a zip archive,
// stored or deflated), keyed by name without the .npy extension.
func ReadNPZ(file string) (map[string]*NPY, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, fmt.Errorf("data: %s: not a .npz (zip) file: %w", file, err)
	}
	defer zr.Close()
	arrays := map[string]*NPY{}
	for _, f := range zr.File {
		if !strings.HasSuffix(f.Name, ".npy") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("data: %s: %s: %w", file, f.Name, err)
		}
		a, err := ReadNPY(rc, file+":"+f.Name)
		rc.Close()
		if err != nil {
			return nil, err
		}
		arrays[strings.TrimSuffix(path.Base(f.Name), ".npy")] = a
	}
	return arrays, nil
}

// LoadNPZ reads a MedMNIST-style .npz file: train_images and train_labels,
// test_images and test_labels, and optionally val_images and val_labels
// (val is nil without them). Images are (N, H, W) or (N, H, W, C) with C 1
// or 3, converted to NCHW; uint8 images are scaled to [0, 1], float images
// kept as they are. Labels are (N) or (N, 1) whole numbers. NumClasses is
// one more than the largest label of any split; ClassNames are the label
// numbers.
func LoadNPZ(file string) (train, val, test *Dataset, err error) {
	arrays, err := ReadNPZ(file)
	if err != nil {
		return nil, nil, nil, err
	}
	have := make([]string, 0, len(arrays))
	for k := range arrays {
		have = append(have, k)
	}
	slices.Sort(have)
	split := func(s string, optional bool) (*Dataset, error) {
		im, lb := arrays[s+"_images"], arrays[s+"_labels"]
		if im == nil && lb == nil && optional {
			return nil, nil
		}
		if im == nil || lb == nil {
			return nil, fmt.Errorf("data: %s: want arrays %s_images and %s_labels (and the same for train and test); it has %s", file, s, s, strings.Join(have, ", "))
		}
		return npzDataset(file, s, im, lb)
	}
	if train, err = split("train", false); err != nil {
		return nil, nil, nil, err
	}
	if val, err = split("val", true); err != nil {
		return nil, nil, nil, err
	}
	if test, err = split("test", false); err != nil {
		return nil, nil, nil, err
	}
	all := []*Dataset{train, test}
	if val != nil {
		all = append(all, val)
	}
	n := 0
	for _, d := range all {
		if d.Shape() != train.Shape() {
			return nil, nil, nil, fmt.Errorf("data: %s: %s images are %v, train images %v", file, d.Name, d.Shape(), train.Shape())
		}
		n = max(n, d.NumClasses)
	}
	for _, d := range all {
		d.NumClasses, d.ClassNames = n, digitNames(n)
	}
	return train, val, test, nil
}

// npzDataset builds one split from its image and label arrays.
func npzDataset(file, split string, im, lb *NPY) (*Dataset, error) {
	name := file + ":" + split
	var n, h, w, c int
	switch len(im.Shape) {
	case 3:
		n, h, w, c = im.Shape[0], im.Shape[1], im.Shape[2], 1
	case 4:
		n, h, w, c = im.Shape[0], im.Shape[1], im.Shape[2], im.Shape[3]
		if c != 1 && c != 3 {
			return nil, fmt.Errorf("data: %s_images: shape %v: want (N, H, W, C) with C 1 or 3", name, im.Shape)
		}
	default:
		return nil, fmt.Errorf("data: %s_images: shape %v: want (N, H, W) or (N, H, W, C)", name, im.Shape)
	}
	if n > 0 && (h == 0 || w == 0) {
		return nil, fmt.Errorf("data: %s_images: empty images, shape %v", name, im.Shape)
	}
	if len(lb.Shape) == 0 || len(lb.Shape) > 2 || (len(lb.Shape) == 2 && lb.Shape[1] != 1) {
		return nil, fmt.Errorf("data: %s_labels: shape %v: want (N) or (N, 1) (multi-label data is not supported)", name, lb.Shape)
	}
	if lb.Shape[0] != n {
		return nil, fmt.Errorf("data: %s: %d images but %d labels", name, n, lb.Shape[0])
	}
	labels, err := lb.Ints()
	if err != nil {
		return nil, fmt.Errorf("data: %s_labels: %v", name, err)
	}
	d := &Dataset{Name: path.Base(file) + "/" + split, X: make([]float32, n*c*h*w), Y: labels, C: c, H: h, W: w}
	for i, y := range labels {
		if y < 0 {
			return nil, fmt.Errorf("data: %s_labels: label %d of example %d is negative", name, y, i)
		}
		d.NumClasses = max(d.NumClasses, y+1)
	}
	v := im.Float32s()
	if im.Descr == "|u1" {
		for i := range v {
			v[i] /= 255
		}
	}
	if c == 1 {
		d.X = v
		return d, nil
	}
	hw := h * w
	for i := range n {
		src, dst := v[i*hw*c:(i+1)*hw*c], d.X[i*hw*c:(i+1)*hw*c]
		for p := range hw {
			for k := range c {
				dst[k*hw+p] = src[p*c+k]
			}
		}
	}
	return d, nil
}
