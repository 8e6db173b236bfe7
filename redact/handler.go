package redact

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
)

// handler is the slog.Handler returned by NewHandler.
type handler struct {
	inner slog.Handler
	// masked is set below a group named like a credential: every value
	// under it is masked.
	masked bool
}

// NewHandler returns a slog.Handler that masks credentials and passes every
// record on to inner. It masks
//
//   - the whole value of an attribute, group, http.Header or map entry whose
//     key names a credential (see [SensitiveKey]), at any depth;
//   - anything shaped like an API key, a JWT or a bearer credential (see
//     [String]) in the message, in string values, in errors, in
//     []string, []byte and map values, and in any other value as fmt's %+v,
//     encoding.TextMarshaler or json.Marshaler would print it; such a value
//     is then logged as its masked %+v text.
//
// Values of other kinds (numbers, times, durations, booleans) pass
// unchanged, as do LogValuers after they are resolved and masked.
func NewHandler(inner slog.Handler) slog.Handler {
	return &handler{inner: inner}
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	msg := String(r.Message)
	masked := h.masked
	// Most records hold nothing to mask: check first, and hand those on
	// untouched rather than copying every attribute into a new record.
	changed := msg != r.Message
	if !changed {
		r.Attrs(func(a slog.Attr) bool {
			_, changed = attr(a, masked)
			return !changed
		})
	}
	if !changed {
		return h.inner.Handle(ctx, r)
	}
	nr := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		na, _ := attr(a, masked)
		nr.AddAttrs(na)
		return true
	})
	return h.inner.Handle(ctx, nr)
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(as))
	for i, a := range as {
		out[i], _ = attr(a, h.masked)
	}
	return &handler{inner: h.inner.WithAttrs(out), masked: h.masked}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	return &handler{inner: h.inner.WithGroup(name), masked: h.masked || SensitiveKey(name)}
}

// attr returns a with credentials masked, and whether anything changed;
// masked says a is inside a group named like a credential.
func attr(a slog.Attr, masked bool) (slog.Attr, bool) {
	masked = masked || SensitiveKey(a.Key)
	v := a.Value.Resolve()
	resolved := a.Value.Kind() == slog.KindLogValuer
	if masked && v.Kind() != slog.KindGroup {
		nv, changed := maskAll(v)
		return slog.Attr{Key: a.Key, Value: nv}, changed || resolved
	}
	if nv, changed := value(v, masked); changed || resolved {
		return slog.Attr{Key: a.Key, Value: nv}, true
	}
	return a, false
}

// maskAll is the value of an attribute whose key names a credential.
func maskAll(v slog.Value) (slog.Value, bool) {
	switch v.Kind() {
	case slog.KindString:
		if v.String() == "" {
			return v, false // an absent credential reveals nothing and helps debugging
		}
		return slog.StringValue(maskValue(v.String())), true
	case slog.KindAny:
		switch x := v.Any().(type) {
		case nil:
			return v, false
		case []string:
			out := make([]string, len(x))
			for i, s := range x {
				out[i] = maskValue(s)
			}
			return slog.AnyValue(out), true
		}
	}
	return slog.StringValue(Mask), true
}

// value masks v, reporting whether anything changed.
func value(v slog.Value, masked bool) (slog.Value, bool) {
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		if m := String(s); m != s {
			return slog.StringValue(m), true
		}
	case slog.KindGroup:
		as := v.Group()
		var out []slog.Attr
		for i, a := range as {
			na, changed := attr(a, masked)
			if out == nil && changed {
				out = slices.Clone(as[:i:i])
			}
			if out != nil {
				out = append(out, na)
			}
		}
		if out != nil {
			return slog.GroupValue(out...), true
		}
	case slog.KindAny:
		return anyValue(v.Any())
	}
	return v, false
}

// anyValue masks the value of a KindAny attribute.
func anyValue(x any) (slog.Value, bool) {
	switch x := x.(type) {
	case nil:
		return slog.AnyValue(nil), false
	case error:
		s, ok := safeError(x)
		if !ok {
			return formatted(x) // fmt reports the panic of a nil receiver
		}
		if m := String(s); m != s {
			return slog.StringValue(m), true
		}
		return slog.AnyValue(x), false
	case []string:
		if out, ok := maskStrings(x); ok {
			return slog.AnyValue(out), true
		}
		return slog.AnyValue(x), false
	case []byte:
		s := string(x)
		if m := String(s); m != s {
			return slog.StringValue(m), true
		}
		return slog.AnyValue(x), false
	case http.Header:
		return header(x)
	case map[string][]string:
		return header(x)
	case url.Values:
		return header(x)
	case map[string]string:
		return stringMap(x)
	case map[string]any:
		return anyMap(x)
	}
	return formatted(x)
}

// maskStrings masks each element of ss, returning a copy if any changed.
func maskStrings(ss []string) ([]string, bool) {
	var out []string
	for i, s := range ss {
		m := String(s)
		if out == nil && m != s {
			out = slices.Clone(ss)
		}
		if out != nil {
			out[i] = m
		}
	}
	return out, out != nil
}

// header masks a header map as a group with its keys sorted: entries named
// like credentials whole, the others by shape. An unchanged map is logged
// as it is.
func header(h map[string][]string) (slog.Value, bool) {
	changed := false
	for k, vs := range h {
		if SensitiveKey(k) {
			changed = true
			break
		}
		if _, ok := maskStrings(vs); ok {
			changed = true
			break
		}
	}
	if !changed {
		return slog.AnyValue(h), false
	}
	as := make([]slog.Attr, 0, len(h))
	for _, k := range sortedKeys(h) {
		a, _ := attr(slog.Any(k, h[k]), false)
		as = append(as, a)
	}
	return slog.GroupValue(as...), true
}

func stringMap(m map[string]string) (slog.Value, bool) {
	changed := false
	for k, v := range m {
		if SensitiveKey(k) || String(v) != v {
			changed = true
			break
		}
	}
	if !changed {
		return slog.AnyValue(m), false
	}
	as := make([]slog.Attr, 0, len(m))
	for _, k := range sortedKeys(m) {
		a, _ := attr(slog.String(k, m[k]), false)
		as = append(as, a)
	}
	return slog.GroupValue(as...), true
}

func anyMap(m map[string]any) (slog.Value, bool) {
	as := make([]slog.Attr, 0, len(m))
	changed := false
	for _, k := range sortedKeys(m) {
		a, c := attr(slog.Any(k, m[k]), false)
		changed = changed || c
		as = append(as, a)
	}
	if !changed {
		return slog.AnyValue(m), false
	}
	return slog.GroupValue(as...), true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// formatted masks a value of any other type by the text it would be
// logged as. If its %+v text, MarshalText or MarshalJSON reveals a
// credential, the value is replaced by that text, masked; otherwise it is
// kept as it is.
func formatted(x any) (slog.Value, bool) {
	text := fmt.Sprintf("%+v", x)
	if m := String(text); m != text {
		return slog.StringValue(m), true
	}
	if tm, ok := x.(encoding.TextMarshaler); ok {
		if b, err := safeMarshal(tm.MarshalText); err == nil {
			if m := String(string(b)); m != string(b) {
				return slog.StringValue(m), true
			}
		}
	}
	if jm, ok := x.(json.Marshaler); ok {
		if b, err := safeMarshal(jm.MarshalJSON); err == nil {
			if m := String(string(b)); m != string(b) {
				return slog.StringValue(m), true
			}
		}
	}
	return slog.AnyValue(x), false
}

// safeMarshal calls a marshal method, turning a panic (a nil receiver) into
// an error as fmt does.
func safeMarshal(f func() ([]byte, error)) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("marshal panicked: %v", r)
		}
	}()
	return f()
}

// safeError calls err.Error, reporting false if it panics (a nil pointer
// receiver).
func safeError(err error) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return err.Error(), true
}
