package data

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// maxImageFileBytes bounds the bytes read from one image file or archive
// member.
const maxImageFileBytes = 256 << 20

// imageExts are the file extensions of the image formats package data
// decodes; other files in image folders are skipped.
var imageExts = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".bmp": true,
	".webp": true, ".ppm": true, ".pgm": true, ".pnm": true,
}

// isImageName reports whether name has an image file extension.
func isImageName(name string) bool { return imageExts[strings.ToLower(path.Ext(name))] }

// isCSVName reports whether name is a .csv file.
func isCSVName(name string) bool { return strings.EqualFold(path.Ext(name), ".csv") }

// isArchiveName reports whether name is a tar archive, raw or gzipped, by
// its extension.
func isArchiveName(name string) bool {
	n := strings.ToLower(name)
	return strings.HasSuffix(n, ".tar") || strings.HasSuffix(n, ".tar.gz") || strings.HasSuffix(n, ".tgz")
}

// hidden reports whether a path element is hidden (".x", macOS "._x")
// or a macOS resource folder.
func hidden(elem string) bool { return strings.HasPrefix(elem, ".") || elem == "__MACOSX" }

// fileEntry is one image or CSV file of an image folder, on disk or in an
// archive.
type fileEntry struct {
	path   string // slash-separated, relative to the folder or archive root
	name   string // how errors name it: an OS path or ARCHIVE:MEMBER
	osPath string // the file on disk, if not from an archive
	data   []byte // the member's bytes, if from an archive
}

// read returns the entry's bytes.
func (e *fileEntry) read() ([]byte, error) {
	if e.osPath == "" {
		return e.data, nil
	}
	f, err := os.Open(e.osPath)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxImageFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", e.name, err)
	}
	if len(b) > maxImageFileBytes {
		return nil, fmt.Errorf("data: %s: larger than %d bytes", e.name, maxImageFileBytes)
	}
	return b, nil
}

// dirNode is a folder of an image-folder tree.
type dirNode struct {
	path  string // slash-separated, relative to the root ("." for the root)
	name  string // how errors name it
	dirs  map[string]*dirNode
	files []*fileEntry // the image and CSV files directly in this folder
}

// tree builds a dirNode hierarchy from paths.
type tree struct {
	root  *dirNode
	label string // the folder or archive, for names in errors
	sep   string // joins label and a path in names: "/" on disk, ":" in archives
}

func newTree(label, sep string) *tree {
	return &tree{root: &dirNode{path: ".", name: label, dirs: map[string]*dirNode{}}, label: label, sep: sep}
}

// dir returns the node of folder p, creating it and its parents.
func (t *tree) dir(p string) *dirNode {
	n := t.root
	if p == "." || p == "" {
		return n
	}
	for _, elem := range strings.Split(p, "/") {
		c := n.dirs[elem]
		if c == nil {
			cp := path.Join(n.path, elem)
			c = &dirNode{path: cp, name: t.label + t.sep + cp, dirs: map[string]*dirNode{}}
			n.dirs[elem] = c
		}
		n = c
	}
	return n
}

// add adds a file entry under its folder.
func (t *tree) add(e *fileEntry) {
	n := t.dir(path.Dir(e.path))
	n.files = append(n.files, e)
}

// sortedDirs returns n's sub-folder names in order.
func (n *dirNode) sortedDirs() []string {
	names := make([]string, 0, len(n.dirs))
	for k := range n.dirs {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// images appends every image file under n, in path order.
func (n *dirNode) images(out []*fileEntry) []*fileEntry {
	files := make([]*fileEntry, 0, len(n.files))
	for _, f := range n.files {
		if isImageName(f.path) {
			files = append(files, f)
		}
	}
	sort.Slice(files, func(i, j int) bool { return files[i].path < files[j].path })
	out = append(out, files...)
	for _, d := range n.sortedDirs() {
		out = n.dirs[d].images(out)
	}
	return out
}

// cleanMember turns an archive member name into a clean relative path; ok
// is false for names outside the archive root or hidden.
func cleanMember(name string) (string, bool) {
	p := path.Clean(strings.TrimPrefix(strings.ReplaceAll(name, "\\", "/"), "./"))
	if p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return "", false
	}
	for _, elem := range strings.Split(p, "/") {
		if hidden(elem) {
			return "", false
		}
	}
	return p, true
}

// readTarTree streams the tar (or gzipped tar) archive at file once,
// keeping the bytes of its image and CSV members in memory.
func readTarTree(file string) (*tree, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var r io.Reader = br
	var zr *gzip.Reader
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err = gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("data: %s: not a gzip file: %w", file, err)
		}
		defer zr.Close()
		r = zr
	}
	t := newTree(file, ":")
	tr := tar.NewReader(r)
	members := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF && zr != nil {
			// Read the gzip stream to its end, so that a cut or corrupt
			// trailer is noticed.
			if _, err := io.Copy(io.Discard, zr); err != nil {
				return nil, fmt.Errorf("data: %s: after %d members: %w", file, members, noEOF(err))
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("data: %s: after %d members: %w", file, members, noEOF(err))
		}
		members++
		p, ok := cleanMember(hdr.Name)
		if !ok {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			t.dir(p)
		case tar.TypeReg:
			if !isImageName(p) && !isCSVName(p) {
				continue
			}
			if hdr.Size > maxImageFileBytes {
				return nil, fmt.Errorf("data: %s:%s: member of %d bytes is larger than %d", file, p, hdr.Size, maxImageFileBytes)
			}
			b := make([]byte, hdr.Size)
			if _, err := io.ReadFull(tr, b); err != nil {
				return nil, fmt.Errorf("data: %s:%s: %w", file, p, noEOF(err))
			}
			t.add(&fileEntry{path: p, name: file + ":" + p, data: b})
		}
	}
	if members == 0 {
		return nil, fmt.Errorf("data: %s: empty or not a tar archive", file)
	}
	return t, nil
}

// readDirTree lists the image and CSV files under dir (not following
// symbolic links to folders), skipping hidden files and folders.
func readDirTree(dir string) (*tree, error) {
	t := newTree(dir, string(filepath.Separator))
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if rel != "." && hidden(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		switch {
		case d.IsDir():
			t.dir(rel)
		case isImageName(rel) || isCSVName(rel):
			t.add(&fileEntry{path: rel, name: p, osPath: p})
		}
		return nil
	})
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("data: %w", err)
		}
		return nil, fmt.Errorf("data: %s: %w", dir, err)
	}
	return t, nil
}
