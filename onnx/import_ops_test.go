package onnx

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestImportedOpsDocumented checks that the operator table of docs/onnx.md
// (its "Supported operators" section) names exactly [ImportedOps], the
// keys of the importer table.
func TestImportedOpsDocumented(t *testing.T) {
	const path = "../docs/onnx.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "\nSupported operators")
	if !ok {
		t.Fatalf("%s has no \"Supported operators\" section", path)
	}
	var doc []string
	parens := regexp.MustCompile(`\([^)]*\)`)
	started := false
	for line := range strings.Lines(table) {
		if !strings.HasPrefix(line, "|") {
			if started {
				break // the end of the table
			}
			continue
		}
		started = true
		cells := strings.Split(line, "|")
		if strings.HasPrefix(cells[1], "---") || strings.TrimSpace(cells[1]) == "Operator" {
			continue
		}
		for op := range strings.SplitSeq(parens.ReplaceAllString(cells[1], ""), ",") {
			doc = append(doc, strings.TrimSpace(op))
		}
	}
	slices.Sort(doc)
	if !slices.Equal(doc, ImportedOps) {
		var missing, extra []string
		for _, op := range ImportedOps {
			if !slices.Contains(doc, op) {
				missing = append(missing, op)
			}
		}
		for _, op := range doc {
			if !slices.Contains(ImportedOps, op) {
				extra = append(extra, op)
			}
		}
		t.Errorf("%s lists the operators %v; the importer table lacks %v and the docs lack %v", path, doc, extra, missing)
	}
}
