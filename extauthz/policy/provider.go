package policy

import (
	"reflect"
	"strings"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/common/types/traits"
)

// requestProvider is the environment's type registry with faster getters
// for the fields of the request variable: the registry's own (by
// reflection) convert each field to a CEL value when it is read (a list
// object for segments, a map object for headers), while these hand the Go
// value on (the segments as a segmentList), which CEL indexes directly
// (request.segments[1], request.headers["x-env"]) and converts only what
// is read. Everything
// else, the fields' types and presence tests included, is the registry's.
type requestProvider struct {
	*types.Registry
	fields map[string]*types.FieldType
}

// newRequestProvider wraps reg, in which Request is registered.
func newRequestProvider(reg *types.Registry) *requestProvider {
	p := &requestProvider{Registry: reg, fields: map[string]*types.FieldType{}}
	getters := map[string]func(*Request) any{
		"method":   func(r *Request) any { return types.String(r.Method) },
		"host":     func(r *Request) any { return types.String(r.Host) },
		"path":     func(r *Request) any { return types.String(r.Path) },
		"segments": func(r *Request) any { return (*segmentList)(r) },
		"headers":  func(r *Request) any { return r.Headers },
	}
	for name, get := range getters {
		ft, ok := reg.FindStructFieldType(requestTypeName, name)
		if !ok {
			continue // NewCompiler's type check of the expressions fails instead
		}
		fast := *ft
		native := ft.GetFrom
		fast.GetFrom = func(target any) (any, error) {
			if r, ok := target.(*Request); ok {
				return get(r), nil
			}
			return native(target)
		}
		if name == "segments" {
			// Split when read (nil in the struct until then), so always set,
			// as a list of the path's segments (empty for "/") is.
			nativeSet := ft.IsSet
			fast.IsSet = func(target any) bool {
				if _, ok := target.(*Request); ok {
					return true
				}
				return nativeSet(target)
			}
		}
		p.fields[name] = &fast
	}
	return p
}

// FindStructFieldType implements types.Provider.
func (p *requestProvider) FindStructFieldType(structType, fieldName string) (*types.FieldType, bool) {
	if structType == requestTypeName {
		if ft, ok := p.fields[fieldName]; ok {
			return ft, true
		}
	}
	return p.Registry.FindStructFieldType(structType, fieldName)
}

// segments are r.Segments, or else the non-empty segments of r.Path,
// split once per evaluation (up to eight without an allocation).
func (r *Request) segments() []string {
	if r.Segments != nil {
		return r.Segments
	}
	if !r.split {
		r.split = true
		r.segs = r.segBuf[:0]
		for s := range strings.SplitSeq(r.Path, "/") {
			if s != "" {
				r.segs = append(r.segs, s)
			}
		}
	}
	return r.segs
}

// segmentList is a Request's path segments as a CEL list that converts
// only the elements read: indexing it costs one allocation (the element),
// where a list of strings costs three (the list, the element read as a Go
// value, then as a CEL one). What a read does not need is left to
// CEL's own list of the segments.
type segmentList Request

func (l *segmentList) segments() []string { return (*Request)(l).segments() }

func (l *segmentList) list() traits.Lister {
	return types.NewStringList(types.DefaultTypeAdapter, l.segments())
}

// GetInt64Index is CEL's interface for indexing a list with a constant.
func (l *segmentList) GetInt64Index(i int64) (any, bool) {
	if s := l.segments(); i >= 0 && i < int64(len(s)) {
		return types.String(s[i]), true
	}
	return nil, false
}

func (l *segmentList) Get(index ref.Val) ref.Val {
	if i, ok := index.(types.Int); ok {
		if s := l.segments(); i >= 0 && int64(i) < int64(len(s)) {
			return types.String(s[i])
		}
	}
	return l.list().Get(index)
}

func (l *segmentList) Size() ref.Val                    { return types.Int(len(l.segments())) }
func (l *segmentList) Type() ref.Type                   { return types.ListType }
func (l *segmentList) Value() any                       { return l.segments() }
func (l *segmentList) Equal(other ref.Val) ref.Val      { return l.list().Equal(other) }
func (l *segmentList) Add(other ref.Val) ref.Val        { return l.list().Add(other) }
func (l *segmentList) Contains(v ref.Val) ref.Val       { return l.list().Contains(v) }
func (l *segmentList) Iterator() traits.Iterator        { return l.list().Iterator() }
func (l *segmentList) ConvertToType(t ref.Type) ref.Val { return l.list().ConvertToType(t) }
func (l *segmentList) ConvertToNative(t reflect.Type) (any, error) {
	return l.list().ConvertToNative(t)
}
