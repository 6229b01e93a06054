package ad

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"log"
	"log/slog"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// leakPassword is distinctive, and holds characters that %q and JSON
// escape, so that an escaped copy would be caught as well.
const leakPassword = `Leak-"Pw"<&>\9f7e`

// exportedTypes lists the exported types declared in the package's
// non-test files.
func exportedTypes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	dir, err := os.ReadDir(".")
	require.NoError(t, err)
	var names []string
	for _, fi := range dir {
		if !strings.HasSuffix(fi.Name(), ".go") || strings.HasSuffix(fi.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, fi.Name(), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.TYPE {
				continue
			}
			for _, s := range g.Specs {
				if ts := s.(*ast.TypeSpec); ts.Name.IsExported() {
					names = append(names, ts.Name.Name)
				}
			}
		}
	}
	slices.Sort(names)
	return names
}

// holdsString reports whether v, followed through pointers, interfaces,
// slices, maps and struct fields (unexported ones too), holds s.
func holdsString(v reflect.Value, s string, seen map[uintptr]bool) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.Contains(v.String(), s)
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return false
		}
		seen[v.Pointer()] = true
		return holdsString(v.Elem(), s, seen)
	case reflect.Interface:
		return !v.IsNil() && holdsString(v.Elem(), s, seen)
	case reflect.Struct:
		for i := range v.NumField() {
			if holdsString(v.Field(i), s, seen) {
				return true
			}
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return bytes.Contains(v.Bytes(), []byte(s))
		}
		for i := range v.Len() {
			if holdsString(v.Index(i), s, seen) {
				return true
			}
		}
	case reflect.Map:
		it := v.MapRange()
		for it.Next() {
			if holdsString(it.Key(), s, seen) || holdsString(it.Value(), s, seen) {
				return true
			}
		}
	}
	return false
}

// renderings prints v every way a host might: each fmt verb, log, slog
// text and JSON handlers (as the attribute itself and as a field of a
// struct, where slog does not call LogValue), and encoding/json.
func renderings(t *testing.T, v any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T"} {
		out[verb] = fmt.Sprintf(verb, v)
	}
	out["Sprint"] = fmt.Sprint(v)
	out["Sprintln"] = fmt.Sprintln(v, v)
	var lb bytes.Buffer
	log.New(&lb, "", 0).Println(v)
	out["log"] = lb.String()
	// A struct with a field of v's type: fmt and slog see the field.
	nested := reflect.New(reflect.StructOf([]reflect.StructField{
		{Name: "Inner", Type: reflect.TypeOf(v), Tag: `json:"inner"`},
	})).Elem()
	nested.Field(0).Set(reflect.ValueOf(v))
	out["nested %+v"] = fmt.Sprintf("%+v", nested.Interface())
	out["nested %#v"] = fmt.Sprintf("%#v", nested.Interface())
	for name, h := range map[string]func(*bytes.Buffer) slog.Handler{
		"text": func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
		"json": func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
	} {
		var b bytes.Buffer
		l := slog.New(h(&b))
		l.Info("value", "v", v)
		l.Info("any", slog.Any("v", v))
		l.Info("nested", slog.Any("s", nested.Interface()))
		l.Info("group", slog.Group("g", slog.Any("v", v)))
		l.With("v", v).Info("with")
		out["slog "+name] = b.String()
	}
	if b, err := json.Marshal(v); err == nil {
		out["json"] = string(b)
	}
	if b, err := json.Marshal(nested.Interface()); err == nil {
		out["nested json"] = string(b)
	}
	return out
}

// TestNoSecretInAnyFormatting walks every exported type of the package:
// each must have a sample here (so a new type is looked at), the samples
// that hold the password are built with it, and no rendering of any of
// them, as a value or a pointer, shows it (nor its %q, JSON or hex form).
func TestNoSecretInAnyFormatting(t *testing.T) {
	cfg := validConfig()
	cfg.Password = leakPassword
	// A Logger in the Config changes none of the redaction.
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	conn, err := Open(t.Context(), cfg)
	require.NoError(t, err)
	samples := map[string]any{
		"Config":    cfg,
		"Connector": *conn,
		"OpError":   OpError{Op: "bind as svc", URL: "ldaps://dc1", Err: errors.New("invalid credentials")},
	}
	types := exportedTypes(t)
	require.NotEmpty(t, types)
	for _, name := range types {
		_, ok := samples[name]
		assert.True(t, ok, "exported type %s has no sample in this test: add one (built with the password if it can hold one)", name)
	}
	forms := []string{leakPassword, fmt.Sprintf("%q", leakPassword), hex.EncodeToString([]byte(leakPassword)),
		strings.ToUpper(hex.EncodeToString([]byte(leakPassword)))}
	if b, err := json.Marshal(leakPassword); err == nil {
		forms = append(forms, strings.Trim(string(b), `"`))
	}
	var holding []string
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range samples {
			if !yield(k) {
				return
			}
		}
	}) {
		v := samples[name]
		if holdsString(reflect.ValueOf(v), leakPassword, map[uintptr]bool{}) {
			holding = append(holding, name)
		}
		ptr := reflect.New(reflect.TypeOf(v))
		ptr.Elem().Set(reflect.ValueOf(v))
		for _, x := range []any{v, ptr.Interface(), []any{v}, map[string]any{"k": v}} {
			for how, s := range renderings(t, x) {
				for _, form := range forms {
					assert.NotContains(t, s, form, "%s (%T) through %s shows the password", name, x, how)
				}
			}
		}
	}
	assert.Equal(t, []string{"Config", "Connector"}, holding, "the types that hold the password")
	// The redacted forms still say that a password is set.
	assert.Contains(t, fmt.Sprint(conn), "[redacted]")
	assert.Contains(t, fmt.Sprintf("%+v", conn), "dc1.example.com")
}

// TestConfigJSONRoundTrip: json.Marshal leaves the password out (see
// Config), json.Unmarshal still reads it.
func TestConfigJSONRoundTrip(t *testing.T) {
	cfg := validConfig()
	cfg.Password = leakPassword
	cfg.Attributes = []string{"employeeNumber"}
	b, err := json.Marshal(cfg)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "Leak-")
	var back Config
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Empty(t, back.Password)
	back.Password = cfg.Password
	assert.Equal(t, cfg, back, "every other field survives the round trip")
	require.NoError(t, json.Unmarshal([]byte(`{"urls":["ldaps://dc"],"password":"from-store"}`), &back))
	assert.Equal(t, "from-store", back.Password)
}
