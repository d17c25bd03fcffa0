// helm-render: a small "helm template" work-alike for the tests, for machines where Helm (and
// Kubernetes) cannot be installed. It renders a chart with Go's own text/template plus sprig, the
// same template engine Helm uses, and mirrors Helm 3's engine: values coalescing (values.yaml, then
// each --values file, then --set-json; maps merge, a null deletes a default), the built-in objects
// (.Values .Release .Chart .Capabilities .Template .Files), Helm's extra functions (include, tpl,
// required, fail, toYaml, fromYaml, toJson, fromJson, lookup...), missingkey=zero with "<no value>"
// blanked, manifest splitting, and Helm's error wording ("Error: execution error at (...): msg").
//
// Not covered here: values.schema.json validation (test/helpers/helm.ts does it with ajv, as Helm
// does before rendering), subcharts/dependencies, hooks and install ordering
// (output is sorted by template path), toToml, and a real lookup (it returns an empty map, as in
// `helm template`).
//
// Build (Debian packages golang-go, golang-github-masterminds-sprig-dev, golang-gopkg-yaml.v3-dev;
// no network needed):
//
//	CGO_ENABLED=0 GO111MODULE=off GOPATH=/usr/share/gocode go build -o helm-render main.go
//
// (CGO_ENABLED=0: Go 1.19 does not drop cgo by itself when gcc, only a Recommends of golang-go, is absent.)
//
// Usage:
//
//	helm-render --chart DIR [--values FILE]... [--set-json JSON]... [--release NAME] [--namespace NS]
//	            [--api-versions GROUP/VERSION[/KIND]]... [--kube-version v1.31.0] [--show-values | --notes]
//
// --set-json takes either a JSON object (merged over the values) or Helm's `path.to.key=<json>`.
// Errors go to stderr as one "Error: ..." line, with exit status 1.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// ---------------------------------------------------------------------------------------------
// Built-in objects

// Maintainer mirrors helm.sh/helm/v3/pkg/chart.Maintainer.
type Maintainer struct {
	Name  string `yaml:"name" json:"name,omitempty"`
	Email string `yaml:"email" json:"email,omitempty"`
	URL   string `yaml:"url" json:"url,omitempty"`
}

// Dependency mirrors the fields of helm's chart.Dependency that Chart.yaml sets.
type Dependency struct {
	Name         string        `yaml:"name" json:"name"`
	Version      string        `yaml:"version" json:"version,omitempty"`
	Repository   string        `yaml:"repository" json:"repository"`
	Condition    string        `yaml:"condition" json:"condition,omitempty"`
	Tags         []string      `yaml:"tags" json:"tags,omitempty"`
	Enabled      bool          `yaml:"enabled" json:"enabled,omitempty"`
	ImportValues []interface{} `yaml:"import-values" json:"import-values,omitempty"`
	Alias        string        `yaml:"alias" json:"alias,omitempty"`
}

// Metadata mirrors helm.sh/helm/v3/pkg/chart.Metadata (exposed as .Chart, plus IsRoot).
type Metadata struct {
	Name         string            `yaml:"name" json:"name,omitempty"`
	Home         string            `yaml:"home" json:"home,omitempty"`
	Sources      []string          `yaml:"sources" json:"sources,omitempty"`
	Version      string            `yaml:"version" json:"version,omitempty"`
	Description  string            `yaml:"description" json:"description,omitempty"`
	Keywords     []string          `yaml:"keywords" json:"keywords,omitempty"`
	Maintainers  []*Maintainer     `yaml:"maintainers" json:"maintainers,omitempty"`
	Icon         string            `yaml:"icon" json:"icon,omitempty"`
	APIVersion   string            `yaml:"apiVersion" json:"apiVersion,omitempty"`
	Condition    string            `yaml:"condition" json:"condition,omitempty"`
	Tags         string            `yaml:"tags" json:"tags,omitempty"`
	AppVersion   string            `yaml:"appVersion" json:"appVersion,omitempty"`
	Deprecated   bool              `yaml:"deprecated" json:"deprecated,omitempty"`
	Annotations  map[string]string `yaml:"annotations" json:"annotations,omitempty"`
	KubeVersion  string            `yaml:"kubeVersion" json:"kubeVersion,omitempty"`
	Dependencies []*Dependency     `yaml:"dependencies" json:"dependencies,omitempty"`
	Type         string            `yaml:"type" json:"type,omitempty"`
}

// ChartObject is what Helm puts under .Chart: the metadata plus IsRoot.
type ChartObject struct {
	Metadata
	IsRoot bool
}

// KubeVersion mirrors chartutil.KubeVersion.
type KubeVersion struct {
	Version string
	Major   string
	Minor   string
}

func (kv KubeVersion) String() string     { return kv.Version }
func (kv KubeVersion) GitVersion() string { return kv.Version }

// VersionSet mirrors chartutil.VersionSet.
type VersionSet []string

// Has reports whether the exact group/version (or group/version/Kind) is in the set.
func (v VersionSet) Has(apiVersion string) bool {
	for _, x := range v {
		if x == apiVersion {
			return true
		}
	}
	return false
}

// HelmVersion mirrors chartutil's HelmVersion (version.BuildInfo).
type HelmVersion struct {
	Version      string
	GitCommit    string
	GitTreeState string
	GoVersion    string
}

// Capabilities mirrors chartutil.Capabilities.
type Capabilities struct {
	KubeVersion KubeVersion
	APIVersions VersionSet
	HelmVersion HelmVersion
}

// defaultAPIVersions is what `helm template` (no cluster) reports: the group/versions known to
// client-go's scheme plus apiextensions (no group/version/Kind entries).
var defaultAPIVersions = []string{
	"v1",
	"admissionregistration.k8s.io/v1", "admissionregistration.k8s.io/v1alpha1", "admissionregistration.k8s.io/v1beta1",
	"internal.apiserver.k8s.io/v1alpha1",
	"apps/v1", "apps/v1beta1", "apps/v1beta2",
	"authentication.k8s.io/v1", "authentication.k8s.io/v1alpha1", "authentication.k8s.io/v1beta1",
	"authorization.k8s.io/v1", "authorization.k8s.io/v1beta1",
	"autoscaling/v1", "autoscaling/v2", "autoscaling/v2beta1", "autoscaling/v2beta2",
	"batch/v1", "batch/v1beta1",
	"certificates.k8s.io/v1", "certificates.k8s.io/v1alpha1", "certificates.k8s.io/v1beta1",
	"coordination.k8s.io/v1", "coordination.k8s.io/v1alpha1", "coordination.k8s.io/v1beta1",
	"discovery.k8s.io/v1", "discovery.k8s.io/v1beta1",
	"events.k8s.io/v1", "events.k8s.io/v1beta1",
	"extensions/v1beta1",
	"flowcontrol.apiserver.k8s.io/v1", "flowcontrol.apiserver.k8s.io/v1beta1",
	"flowcontrol.apiserver.k8s.io/v1beta2", "flowcontrol.apiserver.k8s.io/v1beta3",
	"networking.k8s.io/v1", "networking.k8s.io/v1alpha1", "networking.k8s.io/v1beta1",
	"node.k8s.io/v1", "node.k8s.io/v1alpha1", "node.k8s.io/v1beta1",
	"policy/v1", "policy/v1beta1",
	"rbac.authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1alpha1", "rbac.authorization.k8s.io/v1beta1",
	"resource.k8s.io/v1alpha3",
	"scheduling.k8s.io/v1", "scheduling.k8s.io/v1alpha1", "scheduling.k8s.io/v1beta1",
	"storage.k8s.io/v1", "storage.k8s.io/v1alpha1", "storage.k8s.io/v1beta1",
	"storagemigration.k8s.io/v1alpha1",
	"apiextensions.k8s.io/v1", "apiextensions.k8s.io/v1beta1",
}

// Files mirrors helm's engine.files: the chart's non-template files, by slash path.
type Files map[string][]byte

// GetBytes returns a file's bytes (nil when absent).
func (f Files) GetBytes(name string) []byte {
	if v, ok := f[name]; ok {
		return v
	}
	return []byte{}
}

// Get returns a file's content as a string ("" when absent).
func (f Files) Get(name string) string { return string(f.GetBytes(name)) }

// Glob returns the files whose path matches the (gobwas-style) pattern: `*` stops at `/`, `**` does not.
func (f Files) Glob(pattern string) Files {
	re, err := globRegexp(pattern)
	nf := Files{}
	if err != nil {
		return nf
	}
	for name, contents := range f {
		if re.MatchString(name) {
			nf[name] = contents
		}
	}
	return nf
}

// AsConfig renders the files as a YAML map basename -> content (for a ConfigMap's data).
func (f Files) AsConfig() string {
	if len(f) == 0 {
		return ""
	}
	m := make(map[string]string, len(f))
	for k, v := range f {
		m[path.Base(k)] = string(v)
	}
	return toYAML(m)
}

// AsSecrets renders the files as a YAML map basename -> base64 content (for a Secret's data).
func (f Files) AsSecrets() string {
	if len(f) == 0 {
		return ""
	}
	m := make(map[string]string, len(f))
	for k, v := range f {
		m[path.Base(k)] = base64.StdEncoding.EncodeToString(v)
	}
	return toYAML(m)
}

// Lines returns a file's lines (without a trailing empty line).
func (f Files) Lines(name string) []string {
	s := string(f[name])
	if s == "" {
		return []string{}
	}
	s = strings.TrimSuffix(s, "\n")
	return strings.Split(s, "\n")
}

func globRegexp(pattern string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString("^")
	inClass := false
	inAlt := false
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		switch {
		case inClass:
			if c == ']' {
				inClass = false
			}
			if c == '!' && pattern[i-1] == '[' {
				c = '^'
			}
			b.WriteByte(c)
		case c == '*':
			if i+1 < len(pattern) && pattern[i+1] == '*' {
				b.WriteString(".*")
				i++
			} else {
				b.WriteString("[^/]*")
			}
		case c == '?':
			b.WriteString("[^/]")
		case c == '[':
			inClass = true
			b.WriteByte(c)
		case c == '{':
			inAlt = true
			b.WriteString("(?:")
		case c == '}' && inAlt:
			inAlt = false
			b.WriteString(")")
		case c == ',' && inAlt:
			b.WriteString("|")
		case c == '\\' && i+1 < len(pattern):
			i++
			b.WriteString(regexp.QuoteMeta(string(pattern[i])))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}

// ---------------------------------------------------------------------------------------------
// YAML → Helm values (Helm reads YAML through sigs.k8s.io/yaml: YAML 1.1 via yaml.v2, then JSON,
// so every number is a float64, yes/no/on/off are booleans and timestamps stay strings).

var yaml11Bools = map[string]bool{
	"y": true, "Y": true, "yes": true, "Yes": true, "YES": true, "on": true, "On": true, "ON": true,
	"true": true, "True": true, "TRUE": true,
	"n": false, "N": false, "no": false, "No": false, "NO": false, "off": false, "Off": false, "OFF": false,
	"false": false, "False": false, "FALSE": false,
}

func scalarValue(n *yaml.Node) (interface{}, error) {
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, nil
	}
	tag := n.ShortTag()
	if n.Style&yaml.TaggedStyle == 0 && (tag == "!!str" || tag == "!!bool") {
		if b, ok := yaml11Bools[n.Value]; ok {
			return b, nil
		}
	}
	switch tag {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, err
		}
		return b, nil
	case "!!int":
		s := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return float64(i), nil
		}
		if u, err := strconv.ParseUint(s, 0, 64); err == nil {
			return float64(u), nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		return f, nil
	case "!!float":
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, err
		}
		return f, nil
	default:
		return n.Value, nil
	}
}

func keyString(n *yaml.Node) string {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
		if b, ok := yaml11Bools[n.Value]; ok {
			return strconv.FormatBool(b)
		}
	}
	return n.Value
}

func nodeToValue(n *yaml.Node, depth int) (interface{}, error) {
	if depth > 10000 {
		return nil, errors.New("yaml: document nested too deeply")
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return nodeToValue(n.Content[0], depth+1)
	case yaml.AliasNode:
		return nodeToValue(n.Alias, depth+1)
	case yaml.SequenceNode:
		out := make([]interface{}, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeToValue(c, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := map[string]interface{}{}
		explicit := map[string]bool{}
		var merges []*yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" {
				merges = append(merges, v)
				continue
			}
			val, err := nodeToValue(v, depth+1)
			if err != nil {
				return nil, err
			}
			ks := keyString(k)
			out[ks] = val
			explicit[ks] = true
		}
		for _, m := range merges {
			for m.Kind == yaml.AliasNode {
				m = m.Alias
			}
			srcs := []*yaml.Node{m}
			if m.Kind == yaml.SequenceNode {
				srcs = m.Content
			}
			for _, s := range srcs {
				v, err := nodeToValue(s, depth+1)
				if err != nil {
					return nil, err
				}
				if mm, ok := v.(map[string]interface{}); ok {
					for k, vv := range mm {
						if !explicit[k] {
							if _, seen := out[k]; !seen {
								out[k] = vv
							}
						}
					}
				}
			}
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarValue(n)
	}
	return nil, nil
}

// parseYAMLValue parses the first YAML document the way Helm (sigs.k8s.io/yaml) would.
func parseYAMLValue(data []byte) (interface{}, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return nodeToValue(&doc, 0)
}

// parseYAMLMap parses a values-like document into a map (empty document → empty map).
func parseYAMLMap(data []byte) (map[string]interface{}, error) {
	v, err := parseYAMLValue(data)
	if err != nil {
		return nil, fmt.Errorf("error converting YAML to JSON: %w", err)
	}
	if v == nil {
		return map[string]interface{}{}, nil
	}
	m, ok := v.(map[string]interface{})
	if !ok {
		return nil, fmt.Errorf("error unmarshaling JSON: json: cannot unmarshal %s into Go value of type map[string]interface {}", jsonKind(v))
	}
	return m, nil
}

func jsonKind(v interface{}) string {
	switch v.(type) {
	case []interface{}:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	}
	return "value"
}

// ---------------------------------------------------------------------------------------------
// Template functions

func toJSONCompatible(v interface{}) (interface{}, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out interface{}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, err
	}
	return out, nil
}

func marshalYAML(v interface{}) (string, error) {
	// Helm's toYaml is sigs.k8s.io/yaml.Marshal: JSON first (json tags, float64 numbers), then YAML.
	jv, err := toJSONCompatible(v)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(jv); err != nil {
		return "", err
	}
	if err := enc.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func toYAML(v interface{}) string {
	s, err := marshalYAML(v)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(s, "\n")
}

func mustToYAML(v interface{}) string {
	s, err := marshalYAML(v)
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(s, "\n")
}

func toYAMLPretty(v interface{}) string {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func fromYAML(s string) map[string]interface{} {
	m, err := parseYAMLMap([]byte(s))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return m
}

func fromYAMLArray(s string) []interface{} {
	v, err := parseYAMLValue([]byte(s))
	if err != nil {
		return []interface{}{fmt.Sprintf("error converting YAML to JSON: %s", err)}
	}
	if v == nil {
		return []interface{}{}
	}
	a, ok := v.([]interface{})
	if !ok {
		return []interface{}{fmt.Sprintf("error unmarshaling JSON: json: cannot unmarshal %s into Go value of type []interface {}", jsonKind(v))}
	}
	return a
}

func toJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(data)
}

func mustToJSON(v interface{}) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

func fromJSON(s string) map[string]interface{} {
	m := map[string]interface{}{}
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		m["Error"] = err.Error()
	}
	return m
}

func fromJSONArray(s string) []interface{} {
	a := []interface{}{}
	if err := json.Unmarshal([]byte(s), &a); err != nil {
		a = []interface{}{err.Error()}
	}
	return a
}

const (
	warnStart        = "HELM_ERR_START"
	warnEnd          = "HELM_ERR_END"
	recursionMaxNums = 1000
)

var warnRegex = regexp.MustCompile(warnStart + `((?s).*)` + warnEnd)

func warnWrap(s string) string { return warnStart + s + warnEnd }

func baseFuncMap() template.FuncMap {
	f := sprig.TxtFuncMap()
	delete(f, "env")
	delete(f, "expandenv")
	extra := template.FuncMap{
		"toYaml":        toYAML,
		"mustToYaml":    mustToYAML,
		"toYamlPretty":  toYAMLPretty,
		"fromYaml":      fromYAML,
		"fromYamlArray": fromYAMLArray,
		"toJson":        toJSON,
		"mustToJson":    mustToJSON,
		"fromJson":      fromJSON,
		"fromJsonArray": fromJSONArray,
		"lookup": func(string, string, string, string) (map[string]interface{}, error) {
			return map[string]interface{}{}, nil
		},
		"required": func(warn string, val interface{}) (interface{}, error) {
			if val == nil {
				return val, errors.New(warnWrap(warn))
			} else if s, ok := val.(string); ok && s == "" {
				return val, errors.New(warnWrap(warn))
			}
			return val, nil
		},
		"fail": func(msg string) (string, error) {
			return "", errors.New(warnWrap(msg))
		},
		"getHostByName": func(string) string { return "" },
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func includeFun(t *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(name string, data interface{}) (string, error) {
		var buf strings.Builder
		if v, ok := includedNames[name]; ok {
			if v > recursionMaxNums {
				return "", fmt.Errorf("rendering template has a nested reference name: %s: unable to execute template", name)
			}
			includedNames[name]++
		} else {
			includedNames[name] = 1
		}
		err := t.ExecuteTemplate(&buf, name, data)
		includedNames[name]--
		return buf.String(), err
	}
}

func tplFun(parent *template.Template, includedNames map[string]int) func(string, interface{}) (string, error) {
	return func(tpl string, vals interface{}) (string, error) {
		t, err := parent.Clone()
		if err != nil {
			return "", fmt.Errorf("cannot clone template: %w", err)
		}
		t.Option("missingkey=zero")
		t.Funcs(template.FuncMap{
			"include": includeFun(t, includedNames),
			"tpl":     tplFun(t, includedNames),
		})
		t, err = t.New(parent.Name()).Parse(tpl)
		if err != nil {
			return "", fmt.Errorf("cannot parse template %q: %w", tpl, err)
		}
		var buf strings.Builder
		if err := t.Execute(&buf, vals); err != nil {
			return "", fmt.Errorf("error during tpl function execution for %q: %w", tpl, err)
		}
		return strings.ReplaceAll(buf.String(), "<no value>", ""), nil
	}
}

// ---------------------------------------------------------------------------------------------
// Values coalescing (helm.sh/helm/v3/pkg/cli/values mergeMaps and pkg/chartutil coalesce)

func mergeMaps(a, b map[string]interface{}) map[string]interface{} {
	out := make(map[string]interface{}, len(a))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if vm, ok := v.(map[string]interface{}); ok {
			if bv, ok := out[k]; ok {
				if bm, ok := bv.(map[string]interface{}); ok {
					out[k] = mergeMaps(bm, vm)
					continue
				}
			}
		}
		out[k] = v
	}
	return out
}

func warnf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "coalesce.go: warning: "+format+"\n", args...)
}

// coalesceTables merges defaults (src) under user values (dst): dst wins, a nil in dst deletes the key.
func coalesceTables(dst, src map[string]interface{}, prefix string) map[string]interface{} {
	if src == nil {
		return dst
	}
	if dst == nil {
		return src
	}
	for key, val := range src {
		fullkey := prefix + key
		if dv, ok := dst[key]; ok && dv == nil {
			delete(dst, key)
		} else if !ok {
			dst[key] = val
		} else if sm, isMap := val.(map[string]interface{}); isMap {
			if dm, dIsMap := dv.(map[string]interface{}); dIsMap {
				coalesceTables(dm, sm, fullkey+".")
			} else {
				warnf("cannot overwrite table with non table for %s (%v)", fullkey, val)
			}
		} else if _, dIsMap := dv.(map[string]interface{}); dIsMap && val != nil {
			warnf("destination for %s is a table. Ignoring non-table value (%v)", fullkey, val)
		}
	}
	return dst
}

func deepCopy(v interface{}) interface{} {
	switch x := v.(type) {
	case map[string]interface{}:
		out := make(map[string]interface{}, len(x))
		for k, vv := range x {
			out[k] = deepCopy(vv)
		}
		return out
	case []interface{}:
		out := make([]interface{}, len(x))
		for i, vv := range x {
			out[i] = deepCopy(vv)
		}
		return out
	}
	return v
}

// setPath applies one Helm `--set-json a.b.c=<json>` (the leaf is replaced, parents are created).
func setPath(m map[string]interface{}, key string, value interface{}) {
	parts := strings.Split(key, ".")
	cur := m
	for _, p := range parts[:len(parts)-1] {
		next, ok := cur[p].(map[string]interface{})
		if !ok {
			next = map[string]interface{}{}
			cur[p] = next
		}
		cur = next
	}
	cur[parts[len(parts)-1]] = value
}

// ---------------------------------------------------------------------------------------------
// Chart loading

type chart struct {
	dir       string
	meta      Metadata
	values    map[string]interface{}
	templates map[string]string // "templates/x.yaml" -> source
	files     Files
}

type ignoreRule struct {
	pattern string
	dirOnly bool
	negate  bool
}

func readIgnore(dir string) []ignoreRule {
	rules := []ignoreRule{{pattern: "templates/.?*"}}
	data, err := os.ReadFile(filepath.Join(dir, ".helmignore"))
	if err != nil {
		return rules
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r := ignoreRule{}
		if strings.HasPrefix(line, "!") {
			r.negate = true
			line = line[1:]
		}
		if strings.HasSuffix(line, "/") {
			r.dirOnly = true
			line = strings.TrimSuffix(line, "/")
		}
		r.pattern = strings.TrimPrefix(line, "/")
		rules = append(rules, r)
	}
	return rules
}

func ignored(rules []ignoreRule, rel string, isDir bool) bool {
	result := false
	for _, r := range rules {
		if r.dirOnly && !isDir {
			continue
		}
		var ok bool
		if strings.Contains(r.pattern, "/") {
			ok, _ = path.Match(r.pattern, rel)
		} else {
			ok, _ = path.Match(r.pattern, path.Base(rel))
		}
		if ok {
			result = !r.negate
		}
	}
	return result
}

func loadChart(dir string) (*chart, error) {
	st, err := os.Stat(dir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("path %q not found", dir)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, errors.New("Chart.yaml file is missing")
	}
	c := &chart{dir: dir, templates: map[string]string{}, files: Files{}}
	if err := yaml.Unmarshal(raw, &c.meta); err != nil {
		return nil, fmt.Errorf("cannot load Chart.yaml: error converting YAML to JSON: %w", err)
	}
	if err := validateMetadata(&c.meta); err != nil {
		return nil, err
	}
	c.values = map[string]interface{}{}
	if data, err := os.ReadFile(filepath.Join(dir, "values.yaml")); err == nil {
		if c.values, err = parseYAMLMap(data); err != nil {
			return nil, fmt.Errorf("cannot load values.yaml: %w", err)
		}
	}
	rules := readIgnore(dir)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if ignored(rules, rel, d.IsDir()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			if rel == "charts" {
				entries, _ := os.ReadDir(p)
				if len(entries) > 0 {
					return errors.New("helm-render does not support subcharts (charts/ is not empty)")
				}
				return filepath.SkipDir
			}
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		switch {
		case strings.HasPrefix(rel, "templates/"):
			c.templates[rel] = string(data)
		case rel == "Chart.yaml", rel == "values.yaml", rel == "values.schema.json", rel == "Chart.lock",
			rel == "requirements.yaml", rel == "requirements.lock":
		default:
			c.files[rel] = data
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(c.meta.Dependencies) > 0 {
		return nil, errors.New("helm-render does not support chart dependencies (Chart.yaml lists dependencies)")
	}
	return c, nil
}

func validateMetadata(m *Metadata) error {
	if m.APIVersion == "" {
		return errors.New("validation: chart.metadata.apiVersion is required")
	}
	if m.APIVersion != "v1" && m.APIVersion != "v2" {
		return fmt.Errorf("validation: chart.metadata.apiVersion %q is invalid", m.APIVersion)
	}
	if m.Name == "" {
		return errors.New("validation: chart.metadata.name is required")
	}
	if m.Version == "" {
		return errors.New("validation: chart.metadata.version is required")
	}
	if _, err := semverCompare("*", m.Version); err != nil {
		return fmt.Errorf("validation: chart.metadata.version %q is invalid", m.Version)
	}
	if m.Type != "" && m.Type != "application" && m.Type != "library" {
		return errors.New("validation: chart.metadata.type must be application or library")
	}
	return nil
}

// ---------------------------------------------------------------------------------------------
// Rendering

// sortTemplates orders templates as Helm parses them: deepest paths first, then reverse lexical.
func sortTemplates(names []string) {
	sort.SliceStable(names, func(i, j int) bool {
		a, b := names[i], names[j]
		ca, cb := strings.Count(a, "/"), strings.Count(b, "/")
		if ca == cb {
			return a > b
		}
		return ca > cb
	})
}

func cleanupParseError(filename string, err error) error {
	tokens := strings.Split(err.Error(), ": ")
	if len(tokens) == 1 {
		return fmt.Errorf("parse error in (%s): %s", filename, err)
	}
	return fmt.Errorf("parse error at (%s): %s", tokens[1], tokens[len(tokens)-1])
}

func cleanupExecError(filename string, err error) error {
	var execErr template.ExecError
	if !errors.As(err, &execErr) {
		return err
	}
	tokens := strings.SplitN(err.Error(), ": ", 3)
	if len(tokens) != 3 {
		return fmt.Errorf("execution error in (%s): %s", filename, err)
	}
	if parts := warnRegex.FindStringSubmatch(tokens[2]); len(parts) >= 2 {
		return fmt.Errorf("execution error at (%s): %s", tokens[1], parts[1])
	}
	return err
}

func render(c *chart, vals map[string]interface{}, release, namespace string, caps *Capabilities) (rendered map[string]string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering template failed: %v", r)
		}
	}()
	t := template.New("gotpl")
	t.Option("missingkey=zero")
	funcs := baseFuncMap()
	includedNames := map[string]int{}
	funcs["include"] = includeFun(t, includedNames)
	funcs["tpl"] = tplFun(t, includedNames)
	t.Funcs(funcs)

	names := make([]string, 0, len(c.templates))
	for rel := range c.templates {
		names = append(names, path.Join(c.meta.Name, rel))
	}
	sortTemplates(names)
	for _, name := range names {
		rel := strings.TrimPrefix(name, c.meta.Name+"/")
		if _, err := t.New(name).Parse(c.templates[rel]); err != nil {
			return nil, cleanupParseError(name, err)
		}
	}
	top := map[string]interface{}{
		"Values": vals,
		"Release": map[string]interface{}{
			"Name": release, "Namespace": namespace, "IsUpgrade": false, "IsInstall": true,
			"Revision": 1, "Service": "Helm",
		},
		"Chart":        ChartObject{Metadata: c.meta, IsRoot: true},
		"Capabilities": caps,
		"Files":        c.files,
		"Subcharts":    map[string]interface{}{},
	}
	basePath := path.Join(c.meta.Name, "templates")
	rendered = map[string]string{}
	for _, name := range names {
		if strings.HasPrefix(path.Base(name), "_") {
			continue
		}
		top["Template"] = map[string]interface{}{"Name": name, "BasePath": basePath}
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return nil, cleanupExecError(name, err)
		}
		rendered[name] = strings.ReplaceAll(buf.String(), "<no value>", "")
	}
	return rendered, nil
}

// sep is Helm's manifest separator (releaseutil.SplitManifests).
var sep = regexp.MustCompile("(?:^|\\s*\n)---\\s*")

func splitManifests(content string) []string {
	var out []string
	for _, d := range sep.Split(strings.TrimSpace(content), -1) {
		if d == "" {
			continue
		}
		out = append(out, strings.TrimSpace(d))
	}
	return out
}

// semverCompare is sprig's (Masterminds/semver v3): a /v3 import path only resolves in GOPATH mode
// for code inside GOPATH, so this file reaches semver through sprig.
var semverCompare = sprig.TxtFuncMap()["semverCompare"].(func(string, string) (bool, error))

var kubeVersionRe = regexp.MustCompile(`^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?$`)

func parseKubeVersion(s string) (KubeVersion, error) {
	m := kubeVersionRe.FindStringSubmatch(s)
	if m == nil {
		return KubeVersion{}, fmt.Errorf("invalid kube version %q", s)
	}
	minor, patch := m[2], m[3]
	if minor == "" {
		minor = "0"
	}
	if patch == "" {
		patch = "0"
	}
	return KubeVersion{Version: "v" + m[1] + "." + minor + "." + patch, Major: m[1], Minor: minor}, nil
}

func fail(err error) {
	msg := strings.TrimSpace(err.Error())
	fmt.Fprintln(os.Stderr, "Error: "+msg)
	os.Exit(1)
}

func main() {
	var valuesFiles, setJSON, apiVersions multiFlag
	fl := flag.NewFlagSet("helm-render", flag.ContinueOnError)
	fl.SetOutput(os.Stderr)
	chartDir := fl.String("chart", "", "chart directory (required)")
	fl.Var(&valuesFiles, "values", "values file, applied in order (repeatable)")
	fl.Var(&valuesFiles, "f", "alias of --values")
	fl.Var(&setJSON, "set-json", "a JSON object merged over the values, or path.to.key=<json> (repeatable)")
	fl.Var(&apiVersions, "api-versions", "extra .Capabilities.APIVersions entry (repeatable)")
	release := fl.String("release", "release-name", "release name")
	namespace := fl.String("namespace", "default", "release namespace")
	kubeVersion := fl.String("kube-version", "v1.31.0", "Kubernetes version for .Capabilities.KubeVersion")
	showValues := fl.Bool("show-values", false, "print the merged values as JSON and exit")
	notes := fl.Bool("notes", false, "print only the rendered templates/NOTES.txt")
	if err := fl.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fail(err)
	}
	if fl.NArg() > 0 {
		fail(fmt.Errorf("unexpected arguments: %s", strings.Join(fl.Args(), " ")))
	}
	if *chartDir == "" {
		fail(errors.New("--chart is required"))
	}

	c, err := loadChart(*chartDir)
	if err != nil {
		fail(err)
	}
	if strings.EqualFold(c.meta.Type, "library") {
		fail(errors.New("library charts are not installable"))
	}
	kv, err := parseKubeVersion(*kubeVersion)
	if err != nil {
		fail(err)
	}
	if c.meta.KubeVersion != "" {
		if ok, err := semverCompare(c.meta.KubeVersion, kv.Version); err != nil || !ok {
			fail(fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", c.meta.KubeVersion, kv.Version))
		}
	}

	// User-supplied values: -f files in order, then --set-json.
	user := map[string]interface{}{}
	for _, f := range valuesFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			fail(fmt.Errorf("open %s: no such file or directory", f))
		}
		m, err := parseYAMLMap(data)
		if err != nil {
			fail(fmt.Errorf("failed to parse %s: %s", f, err))
		}
		user = mergeMaps(user, m)
	}
	for _, s := range setJSON {
		trimmed := strings.TrimSpace(s)
		if strings.HasPrefix(trimmed, "{") {
			var m map[string]interface{}
			if err := json.Unmarshal([]byte(trimmed), &m); err != nil {
				fail(fmt.Errorf("failed parsing --set-json data %s: %s", s, err))
			}
			user = mergeMaps(user, m)
			continue
		}
		eq := strings.Index(s, "=")
		if eq <= 0 {
			fail(fmt.Errorf("failed parsing --set-json data %s: key %q has no value", s, s))
		}
		var v interface{}
		if err := json.Unmarshal([]byte(s[eq+1:]), &v); err != nil {
			fail(fmt.Errorf("failed parsing --set-json data %s: %s", s, err))
		}
		setPath(user, s[:eq], v)
	}
	vals := coalesceTables(deepCopy(user).(map[string]interface{}), deepCopy(c.values).(map[string]interface{}), "")

	if *showValues {
		out, err := json.MarshalIndent(vals, "", "  ")
		if err != nil {
			fail(err)
		}
		fmt.Println(string(out))
		return
	}

	caps := &Capabilities{
		KubeVersion: kv,
		APIVersions: append(append(VersionSet{}, defaultAPIVersions...), apiVersions...),
		HelmVersion: HelmVersion{Version: "v3.16.0", GitCommit: "", GitTreeState: "clean", GoVersion: "go1.19"},
	}
	rendered, err := render(c, vals, *release, *namespace, caps)
	if err != nil {
		fail(err)
	}

	notesName := path.Join(c.meta.Name, "templates", "NOTES.txt")
	if *notes {
		fmt.Print(rendered[notesName])
		return
	}
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		if strings.HasSuffix(name, "NOTES.txt") {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var out strings.Builder
	for _, name := range names {
		for _, doc := range splitManifests(rendered[name]) {
			var parsed interface{}
			if err := yaml.Unmarshal([]byte(doc), &parsed); err != nil {
				fail(fmt.Errorf("YAML parse error on %s: error converting YAML to JSON: %s", name, err))
			}
			if parsed == nil {
				continue // only comments
			}
			fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", name, doc)
		}
	}
	fmt.Print(out.String())
}
