package data

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// FolderOptions say how [LoadImageFolder] turns image files into a
// [Dataset].
type FolderOptions struct {
	// Size is the (H, W) every image is resized to. Zero keeps the size of
	// the first training image and requires every image to have it.
	Size [2]int
	// Channels is 1 (luminance) or 3 (RGB); 0 picks 1 if the first few
	// training images are all grayscale, else 3.
	Channels int
	// Resize is ResizeCrop (the default: keep the aspect ratio, scale the
	// short side to fit, cut the centre) or ResizeStretch.
	Resize string
	// Workers is the number of images decoded in parallel; 0 means
	// runtime.NumCPU().
	Workers int
	// Report, if not nil, is filled with what the load found.
	Report *FolderReport
}

// FolderReport describes the image files behind the datasets
// [LoadImageFolder] returned.
type FolderReport struct {
	// Splits has one entry per returned dataset (train, then test).
	Splits []SplitReport
}

// SplitReport describes the image files of one split.
type SplitReport struct {
	// Name is the dataset's Name.
	Name string
	// Files is the number of images decoded.
	Files int
	// MinSize and MaxSize are the smallest and largest original (H, W)
	// sizes, each axis taken separately.
	MinSize, MaxSize [2]int
}

// SizeError is the error of [LoadImageFolder] for an image whose size
// differs from the first image's when [FolderOptions] has no Size to
// resize them to.
type SizeError struct {
	File  string // the image
	Size  [2]int // its (H, W)
	First [2]int // the (H, W) of the first image
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("data: %s: image is %dx%d, the first image is %dx%d (set a size to resize every image)",
		e.File, e.Size[0], e.Size[1], e.First[0], e.First[1])
}

// maxWorkers bounds FolderOptions.Workers.
const maxWorkers = 64

// labelled is an image file with its class name.
type labelled struct {
	file  *fileEntry
	class string
}

// LoadImageFolder reads a folder of images, or the same layout in a .tar,
// .tar.gz or .tgz archive (read in one pass, keeping the compressed
// images in memory), into in-memory datasets of values in [0, 1].
//
// The layout is found as follows. Folders with a single sub-folder and no
// files are descended into (an archive whose only top entry is train/, or
// Final_Training/Images/). If a level has a "train" sub-folder and a
// "test" (else "val") sub-folder, they are the two splits; otherwise the
// level is the only split and test is nil. Within a split, a .csv file
// whose header has a file-name column (Filename, file, image or path) and
// a class column (ClassId, label or class), separated by ';' or ',',
// labels the images it lists (found beside the CSV or, by base name,
// anywhere below it), the layout of GTSRB's test set; otherwise every
// sub-folder is a class holding images at any depth. Classes whose names
// are all integers are labelled by their value ("00007" is class 7, named
// "7"); otherwise the classes are the sorted names. The test split's labels
// follow the training split's class list (see [AlignClasses]).
//
// Hidden files, and files whose extension is not .png, .jpg, .jpeg, .gif,
// .bmp, .webp, .ppm, .pgm or .pnm, are skipped. An image that does not
// decode, a header declaring more than [MaxImagePixels] pixels, an empty
// class folder and a truncated archive are errors naming the file.
func LoadImageFolder(root string, opt FolderOptions) (train, test *Dataset, err error) {
	t, err := openTree(root)
	if err != nil {
		return nil, nil, err
	}
	trNode, teNode := splitNodes(t.root)
	base := filepath.Base(root)
	trName, teName := base, ""
	if teNode != nil {
		trName, teName = base+"/"+path.Base(trNode.path), base+"/"+path.Base(teNode.path)
	}
	trItems, err := labelItems(trNode)
	if err != nil {
		return nil, nil, err
	}
	d, err := newDecoder(trItems, opt)
	if err != nil {
		return nil, nil, err
	}
	if train, err = d.decode(trName, trItems); err != nil {
		return nil, nil, err
	}
	if teNode == nil {
		return train, nil, nil
	}
	teItems, err := labelItems(teNode)
	if err != nil {
		return nil, nil, err
	}
	if test, err = d.decode(teName, teItems); err != nil {
		return nil, nil, err
	}
	if err := AlignClasses(train, test); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// openTree lists a folder or archive.
func openTree(root string) (*tree, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if st.IsDir() {
		return readDirTree(root)
	}
	if !isArchiveName(root) {
		return nil, fmt.Errorf("data: %s: not a folder nor a .tar, .tar.gz or .tgz archive", root)
	}
	return readTarTree(root)
}

// splitNodes descends through single-child folders and returns the
// training and test folders (test nil if there is no split).
func splitNodes(n *dirNode) (train, test *dirNode) {
	for len(n.files) == 0 && len(n.dirs) == 1 {
		for _, c := range n.dirs {
			n = c
		}
	}
	find := func(names ...string) *dirNode {
		for _, want := range names {
			for name, c := range n.dirs {
				if strings.EqualFold(name, want) {
					return c
				}
			}
		}
		return nil
	}
	tr, te := find("train", "training"), find("test", "val", "valid", "validation")
	if tr != nil && te != nil {
		return tr, te
	}
	return n, nil
}

// labelItems lists the images of one split with their class names.
func labelItems(n *dirNode) ([]labelled, error) {
	csvs := make([]*fileEntry, 0)
	for _, f := range n.files {
		if isCSVName(f.path) {
			csvs = append(csvs, f)
		}
	}
	sort.Slice(csvs, func(i, j int) bool { return csvs[i].path < csvs[j].path })
	for _, f := range csvs {
		items, ok, err := csvItems(n, f)
		if err != nil {
			return nil, err
		}
		if ok {
			return items, nil
		}
	}
	if len(n.dirs) == 0 {
		return nil, fmt.Errorf("data: %s: no class sub-folders and no labels CSV", n.name)
	}
	var items []labelled
	for _, name := range n.sortedDirs() {
		files := n.dirs[name].images(nil)
		if len(files) == 0 {
			return nil, fmt.Errorf("data: %s: empty class folder (no images)", n.dirs[name].name)
		}
		for _, f := range files {
			items = append(items, labelled{f, name})
		}
	}
	return items, nil
}

// csvItems reads a labels CSV; ok is false if its header has no file-name
// and class columns.
func csvItems(n *dirNode, f *fileEntry) (items []labelled, ok bool, err error) {
	raw, err := f.read()
	if err != nil {
		return nil, false, err
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	first, _, _ := bytes.Cut(raw, []byte("\n"))
	r := csv.NewReader(bytes.NewReader(raw))
	if bytes.Count(first, []byte(";")) > bytes.Count(first, []byte(",")) {
		r.Comma = ';'
	}
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, false, nil
	}
	fileCol, classCol := -1, -1
	for i, h := range header {
		switch strings.ToLower(strings.TrimSpace(h)) {
		case "filename", "file", "image", "path":
			if fileCol < 0 {
				fileCol = i
			}
		case "classid", "label", "class":
			if classCol < 0 {
				classCol = i
			}
		}
	}
	if fileCol < 0 || classCol < 0 {
		return nil, false, nil
	}
	all := n.images(nil)
	byPath := make(map[string]*fileEntry, len(all))
	byBase := make(map[string]*fileEntry, len(all))
	dup := map[string]bool{}
	for _, e := range all {
		byPath[e.path] = e
		b := path.Base(e.path)
		if byBase[b] != nil {
			dup[b] = true
		}
		byBase[b] = e
	}
	csvDir := path.Dir(f.path)
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, false, fmt.Errorf("data: %s: %w", f.name, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if fileCol >= len(rec) || classCol >= len(rec) {
			return nil, false, fmt.Errorf("data: %s: line %d has %d fields, want at least %d", f.name, line, len(rec), max(fileCol, classCol)+1)
		}
		name := path.Clean(strings.ReplaceAll(strings.TrimSpace(rec[fileCol]), "\\", "/"))
		class := strings.TrimSpace(rec[classCol])
		e := byPath[path.Join(csvDir, name)]
		if e == nil && !dup[path.Base(name)] {
			e = byBase[path.Base(name)]
		}
		if e == nil {
			return nil, false, fmt.Errorf("data: %s: line %d lists %s, which is not an image under %s", f.name, line, name, n.name)
		}
		if class == "" {
			return nil, false, fmt.Errorf("data: %s: line %d: empty class for %s", f.name, line, name)
		}
		items = append(items, labelled{e, class})
	}
	if len(items) == 0 {
		return nil, false, fmt.Errorf("data: %s: lists no images", f.name)
	}
	return items, true, nil
}

// classLabels maps class names to labels: integer names by their value,
// otherwise the index in sorted order. It returns the label of each item
// and the class names by label.
func classLabels(items []labelled) (labels []int, names []string) {
	seen := map[string]int{}
	numeric := true
	maxv := -1
	for _, it := range items {
		if _, ok := seen[it.class]; ok {
			continue
		}
		v, err := strconv.Atoi(it.class)
		if err != nil || v < 0 || v >= 1<<16 {
			numeric = false
		}
		seen[it.class] = v
		maxv = max(maxv, v)
	}
	if numeric {
		names = digitNames(maxv + 1)
	} else {
		for k := range seen {
			names = append(names, k)
		}
		sort.Strings(names)
		for i, k := range names {
			seen[k] = i
		}
	}
	labels = make([]int, len(items))
	for i, it := range items {
		labels[i] = seen[it.class]
	}
	return labels, names
}

// AlignClasses relabels test so that its labels follow train's class
// list: a test image of class "cat" gets the label "cat" has in train.
// Both must have ClassNames; it is an error if a test image's class is not
// among train's. test's NumClasses and ClassNames become train's.
func AlignClasses(train, test *Dataset) error {
	if train.ClassNames == nil || test.ClassNames == nil {
		if test.NumClasses > train.NumClasses {
			return fmt.Errorf("data: %s has %d classes, more than the %d of %s", test.Name, test.NumClasses, train.NumClasses, train.Name)
		}
		test.NumClasses = train.NumClasses
		return nil
	}
	index := make(map[string]int, len(train.ClassNames))
	for i, n := range train.ClassNames {
		index[n] = i
	}
	remap := make([]int, len(test.ClassNames))
	used := make([]bool, len(test.ClassNames))
	for _, y := range test.Y {
		if y >= 0 && y < len(used) {
			used[y] = true
		}
	}
	for i, n := range test.ClassNames {
		j, ok := index[n]
		if !ok && used[i] {
			return fmt.Errorf("data: %s: class %q is not one of the %d classes of %s", test.Name, n, len(train.ClassNames), train.Name)
		}
		remap[i] = j
	}
	for k, y := range test.Y {
		if y < 0 || y >= len(remap) {
			return fmt.Errorf("data: %s: label %d of example %d has no class name", test.Name, y, k)
		}
		test.Y[k] = remap[y]
	}
	test.NumClasses, test.ClassNames = train.NumClasses, train.ClassNames
	return nil
}

// decoder holds the shape every image of a load is decoded to.
type decoder struct {
	c, h, w int
	strict  bool // no resizing: every image must be h×w
	mode    string
	workers int
	report  *FolderReport
}

// newDecoder settles the output shape from opt and the first training
// images.
func newDecoder(items []labelled, opt FolderOptions) (*decoder, error) {
	d := &decoder{c: opt.Channels, h: opt.Size[0], w: opt.Size[1], mode: opt.Resize, workers: opt.Workers, report: opt.Report}
	switch d.mode {
	case "":
		d.mode = ResizeCrop
	case ResizeCrop, ResizeStretch:
	default:
		return nil, fmt.Errorf("data: resize mode %q: want %q or %q", opt.Resize, ResizeCrop, ResizeStretch)
	}
	if d.c != 0 && d.c != 1 && d.c != 3 {
		return nil, fmt.Errorf("data: %d channels: want 1, 3 or 0 (automatic)", d.c)
	}
	if (d.h == 0) != (d.w == 0) || d.h < 0 || d.w < 0 {
		return nil, fmt.Errorf("data: image size %dx%d: want both positive, or 0x0 for the size of the first image", d.h, d.w)
	}
	if d.workers <= 0 {
		d.workers = runtime.NumCPU()
	}
	d.workers = min(d.workers, maxWorkers)
	if d.c != 0 && d.h != 0 {
		return d, nil
	}
	gray := true
	for i, it := range items[:min(len(items), 8)] {
		raw, err := it.file.read()
		if err != nil {
			return nil, err
		}
		cfg, _, err := imageConfig(raw, it.file.name)
		if err != nil {
			return nil, err
		}
		if i == 0 && d.h == 0 {
			d.h, d.w, d.strict = cfg.Height, cfg.Width, true
		}
		gray = gray && isGrayModel(cfg.ColorModel)
	}
	if d.c == 0 {
		d.c = 3
		if gray {
			d.c = 1
		}
	}
	return d, nil
}

// decode decodes items in parallel into a dataset.
func (d *decoder) decode(name string, items []labelled) (*Dataset, error) {
	labels, names := classLabels(items)
	size := d.c * d.h * d.w
	ds := &Dataset{Name: name, X: make([]float32, len(items)*size), Y: labels, C: d.c, H: d.h, W: d.w, NumClasses: len(names), ClassNames: names}
	workers := max(1, min(d.workers, len(items)))
	type result struct {
		err              error
		at               int
		minSize, maxSize [2]int
	}
	results := make([]result, workers)
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			r.minSize = [2]int{1 << 30, 1 << 30}
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= len(items) {
					return
				}
				f := items[i].file
				raw, err := f.read()
				if err == nil {
					var cfg imageConfigT
					cfg, err = d.one(raw, f.name, ds.X[i*size:(i+1)*size])
					r.minSize = [2]int{min(r.minSize[0], cfg.h), min(r.minSize[1], cfg.w)}
					r.maxSize = [2]int{max(r.maxSize[0], cfg.h), max(r.maxSize[1], cfg.w)}
				}
				if err != nil {
					r.err, r.at = err, i
					failed.Store(true)
					return
				}
			}
		}()
	}
	wg.Wait()
	rep := SplitReport{Name: name, Files: len(items), MinSize: results[0].minSize}
	var first *result
	for k := range results {
		r := &results[k]
		if r.err != nil && (first == nil || r.at < first.at) {
			first = r
		}
		rep.MinSize = [2]int{min(rep.MinSize[0], r.minSize[0]), min(rep.MinSize[1], r.minSize[1])}
		rep.MaxSize = [2]int{max(rep.MaxSize[0], r.maxSize[0]), max(rep.MaxSize[1], r.maxSize[1])}
	}
	if first != nil {
		return nil, first.err
	}
	if d.report != nil {
		d.report.Splits = append(d.report.Splits, rep)
	}
	return ds, nil
}

// imageConfigT is an image's original height and width.
type imageConfigT struct{ h, w int }

// one decodes a single image into dst.
func (d *decoder) one(raw []byte, name string, dst []float32) (imageConfigT, error) {
	if d.strict {
		cfg, _, err := imageConfig(raw, name)
		if err != nil {
			return imageConfigT{}, err
		}
		if cfg.Height != d.h || cfg.Width != d.w {
			return imageConfigT{cfg.Height, cfg.Width}, &SizeError{File: name, Size: [2]int{cfg.Height, cfg.Width}, First: [2]int{d.h, d.w}}
		}
	}
	cfg, err := decodeInto(raw, name, d.c, d.h, d.w, d.mode, dst)
	return imageConfigT{cfg.Height, cfg.Width}, err
}
