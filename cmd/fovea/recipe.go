package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/fovea-ml/fovea/checkpoint"
	"github.com/fovea-ml/fovea/internal/suggest"
)

// Recipe files: `fovea train --config FILE` reads the flags of a run from
// a YAML mapping whose keys are the flags' names (docs/training.md,
// "Recipe files"), or from the recipe a checkpoint of `fovea train`
// stores; flags given on the command line override it, and
// `--print-config` prints the effective recipe in the same YAML.

// maxRecipeBytes bounds a recipe file: a recipe is a few dozen lines.
const maxRecipeBytes = 1 << 20

// applyConfig reads f.configFile, if given, and sets every flag it names
// that the command line did not; it records those flags in f.fromConfig,
// so that a --resume checks them against its recipe as it checks flags,
// and errors about them say where the value came from (blame).
func applyConfig(f *trainFlags, cmd *cobra.Command) error {
	if f.configFile == "" {
		return nil
	}
	var (
		vals map[string]configValue
		err  error
	)
	if strings.HasSuffix(strings.ToLower(f.configFile), ".safetensors") {
		vals, err = checkpointRecipe(f.configFile, f)
	} else {
		vals, err = readRecipeFile(f.configFile, f, cmd.Flags())
	}
	if err != nil {
		return err
	}
	f.fromConfig = map[string]string{}
	for name, v := range vals {
		if cmd.Flags().Changed(name) {
			continue // the command line wins
		}
		if err := v.set(cmd.Flags().Lookup(name).Value); err != nil {
			return fmt.Errorf("%s: %s", v.where, err)
		}
		f.fromConfig[name] = v.where
	}
	return nil
}

// blame prefixes an error about a flag that the recipe file set ("--lr
// -1: ...") with where the file set it.
func (f *trainFlags) blame(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for name, where := range f.fromConfig {
		if rest, ok := strings.CutPrefix(msg, "--"+name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, ":")) {
			return fmt.Errorf("%s: %w", where, err)
		}
	}
	return err
}

// configValue is one key's value: what to give the flag, and where it
// came from for errors.
type configValue struct {
	where string   // "file:line: key \"lr\"" or "checkpoint: key \"lr\""
	one   string   // a scalar
	list  []string // a list flag's values
	isSeq bool
}

// set gives v to the flag's value without marking the flag as given on
// the command line.
func (v configValue) set(fv pflag.Value) error {
	if sv, ok := fv.(pflag.SliceValue); ok {
		list := v.list
		if !v.isSeq {
			list = nil
			if v.one != "" {
				list = strings.Split(v.one, ",")
			}
		}
		return sv.Replace(list)
	}
	return fv.Set(v.one)
}

// recipeKeys returns the keys a recipe may hold, in the order
// --print-config writes them: the flags of trainRecipe.fields.
func recipeKeys(f *trainFlags) []string {
	var r trainRecipe
	var keys []string
	for _, fd := range r.fields(f) {
		keys = append(keys, fd.flag)
	}
	return keys
}

// readRecipeFile parses the YAML recipe file, checking every key and the
// type of every value against the flags fl: one error naming the file,
// line and key at fault.
func readRecipeFile(file string, f *trainFlags, fl *pflag.FlagSet) (map[string]configValue, error) {
	fh, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxRecipeBytes+1))
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if len(b) > maxRecipeBytes {
		return nil, fmt.Errorf("--config %s: larger than %d bytes: not a recipe", file, maxRecipeBytes)
	}
	return parseRecipe(file, b, recipeKeys(f), fl)
}

// parseRecipe parses recipe text b (named file in errors): a YAML mapping
// of the keys allowed to values of their flags' types.
func parseRecipe(file string, b []byte, allowed []string, fl *pflag.FlagSet) (map[string]configValue, error) {
	errf := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("%s:%d: %s", file, n.Line, fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]configValue{}, nil // an empty recipe changes nothing
		}
		return nil, yamlLineError(file, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: more than one YAML document: a recipe is one mapping", file)
	}
	root := doc.Content[0]
	vals := map[string]configValue{}
	switch {
	case root.Kind == yaml.ScalarNode && root.Tag == "!!null":
		return vals, nil
	case root.Kind != yaml.MappingNode:
		return nil, errf(root, "a recipe is a mapping of flag names to values, like \"epochs: 30\"")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!null" {
			return nil, errf(k, "keys must be flag names")
		}
		name := k.Value
		if !slices.Contains(allowed, name) {
			return nil, errf(k, "unknown key %q%s", name, suggest.Hint(name, allowed))
		}
		if _, dup := vals[name]; dup {
			return nil, errf(k, "key %q given twice", name)
		}
		cv, err := recipeValue(fl.Lookup(name), v)
		if err != nil {
			return nil, errf(v, "key %q: %s", name, err)
		}
		cv.where = fmt.Sprintf("%s:%d: key %q", file, v.Line, name)
		vals[name] = cv
	}
	return vals, nil
}

// recipeValue checks the YAML value n against the type of flag fl and
// returns it as the flag's text.
func recipeValue(fl *pflag.Flag, n *yaml.Node) (configValue, error) {
	if n.Kind == yaml.AliasNode {
		return configValue{}, errors.New("aliases are not supported in recipes")
	}
	typ := fl.Value.Type()
	if _, ok := fl.Value.(pflag.SliceValue); ok {
		switch n.Kind {
		case yaml.SequenceNode:
			cv := configValue{isSeq: true, list: []string{}}
			for _, e := range n.Content {
				if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
					return configValue{}, errors.New("want a list of names, like [conv, bn]")
				}
				cv.list = append(cv.list, e.Value)
			}
			return cv, nil
		case yaml.ScalarNode:
			if n.Tag == "!!null" {
				return configValue{isSeq: true, list: []string{}}, nil
			}
			return configValue{one: n.Value}, nil
		}
		return configValue{}, errors.New("want a list of names, like [conv, bn]")
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return configValue{}, fmt.Errorf("want %s, got %s", typeWords(typ), nodeWords(n))
	}
	ok := false
	switch typ {
	case "int", "uint64":
		ok = n.Tag == "!!int"
	case "float64", "float32":
		ok = n.Tag == "!!int" || n.Tag == "!!float"
	case "bool":
		ok = n.Tag == "!!bool"
	case "string":
		ok = n.Tag == "!!str" || n.Tag == "!!int" || n.Tag == "!!float"
	}
	if !ok {
		return configValue{}, fmt.Errorf("want %s, got %s", typeWords(typ), nodeWords(n))
	}
	v := n.Value
	if n.Tag == "!!bool" { // YAML's true/True/TRUE
		b := false
		if err := n.Decode(&b); err != nil {
			return configValue{}, err
		}
		v = strconv.FormatBool(b)
	}
	if typ != "string" && typ != "bool" { // check the number here, to name the line
		if err := checkNumber(typ, v); err != nil {
			return configValue{}, err
		}
	}
	return configValue{one: v}, nil
}

// checkNumber reports whether v parses as a number of the flag type typ.
func checkNumber(typ, v string) error {
	var err error
	switch typ {
	case "int":
		_, err = strconv.ParseInt(v, 0, 64)
	case "uint64":
		_, err = strconv.ParseUint(v, 0, 64)
	case "float64":
		_, err = strconv.ParseFloat(v, 64)
	case "float32":
		_, err = strconv.ParseFloat(v, 32)
	}
	if err != nil {
		return fmt.Errorf("want %s, got %q", typeWords(typ), v)
	}
	return nil
}

// typeWords names a flag type for messages.
func typeWords(typ string) string {
	switch typ {
	case "int":
		return "a whole number"
	case "uint64":
		return "a whole number ≥ 0"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "true or false"
	}
	return "a text value"
}

// nodeWords names what a YAML node holds for messages.
func nodeWords(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Tag == "!!null":
		return "nothing"
	}
	return strconv.Quote(n.Value)
}

// yamlLineError rewrites the yaml package's "yaml: line N: msg" as
// "file:N: msg".
func yamlLineError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ": "); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				return fmt.Errorf("%s:%d: %s", file, n, rest[i+2:])
			}
		}
	}
	return fmt.Errorf("%s: %s", file, msg)
}

// checkpointRecipe reads the recipe that `fovea train` stored in the
// checkpoint file: its recipe flags (not its run settings: threads, out
// and checkpointing belong to the run that wrote it).
func checkpointRecipe(file string, f *trainFlags) (map[string]configValue, error) {
	md, err := checkpoint.ReadMetadata(file)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	js, ok := md[checkpoint.KeyTrainRecipe]
	if !ok {
		return nil, fmt.Errorf("--config %s: the checkpoint has no %q: it was not written by fovea train", file, checkpoint.KeyTrainRecipe)
	}
	r := defaultRecipe()
	if err := json.Unmarshal([]byte(js), &r); err != nil {
		return nil, fmt.Errorf("--config %s: metadata %q: %v", file, checkpoint.KeyTrainRecipe, err)
	}
	vals := map[string]configValue{}
	for _, fd := range r.fields(f) {
		if fd.setting {
			continue
		}
		where := fmt.Sprintf("--config %s: key %q", file, fd.flag)
		switch v := reflect.ValueOf(fd.inRe).Elem().Interface().(type) {
		case []string:
			vals[fd.flag] = configValue{where: where, isSeq: true, list: append([]string{}, v...)}
		default:
			vals[fd.flag] = configValue{where: where, one: fmt.Sprint(v)}
		}
	}
	return vals, nil
}

// printConfig writes f's effective recipe as a recipe file: every key,
// the run settings last.
func printConfig(w io.Writer, f *trainFlags) error {
	r := recipeOf(f)
	var b strings.Builder
	b.WriteString("# fovea train recipe: every key is a flag of fovea train (fovea train --help);\n")
	b.WriteString("# flags given with --config FILE override the file.\n")
	settings := false
	for _, fd := range r.fields(f) {
		if fd.setting && !settings {
			b.WriteString("# run settings: not part of the recipe a checkpoint keeps\n")
			settings = true
		}
		node := &yaml.Node{}
		if err := node.Encode(reflect.ValueOf(fd.inRe).Elem().Interface()); err != nil {
			return err
		}
		if node.Kind == yaml.SequenceNode {
			node.Style = yaml.FlowStyle
		}
		out, err := yaml.Marshal(&yaml.Node{Kind: yaml.MappingNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: fd.flag}, node}})
		if err != nil {
			return err
		}
		b.Write(out)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
