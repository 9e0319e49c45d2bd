package grpcauthz

import (
	"slices"
	"strings"
	"sync"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/httpsyntax"
)

// wireRequest is what a check reads of a CheckRequest, decoded from its
// encoding by decode (wire.go). Its strings share one copy of the message.
// It is written by decode only; after that it is safe for concurrent reads.
type wireRequest struct {
	fields requestFields
	// headers are the headers map's entries in the order sent; an entry
	// replaces an earlier one with the same key, as in a protobuf map.
	headers []wireHeader
	// headerMap are header_map's entries, in order (value, else
	// raw_value).
	headerMap []wireHeader
	seen      uint8
	buf       [16]wireHeader // headers, for the usual number of them

	conditionsOnce sync.Once
	conditions     []wireHeader // see At
}

type wireHeader struct{ name, value string }

// Bits of wireRequest.seen: the messages read, each allowed once (protobuf
// merges a message sent twice; the fast path declines that).
const (
	seenAttributes uint8 = 1 << iota
	seenSource
	seenRequest
	seenHTTP
	seenHeaderMap
)

// once marks bit seen and reports whether it was not yet.
func (w *wireRequest) once(bit uint8) bool {
	if w.seen&bit != 0 {
		return false
	}
	w.seen |= bit
	return true
}

// decode reads s, an encoded CheckRequest, into w; false: the fast path
// declines s (see wire.go) and w holds nothing usable.
func (w *wireRequest) decode(s string) bool {
	w.headers = w.buf[:0]
	return fields(s, checkRequestDesc, 0, func(f wireField) (bool, bool) {
		if f.num != checkAttributes {
			return false, true
		}
		return true, f.typ == protowire.BytesType && w.once(seenAttributes) && w.attributes(f.value)
	})
}

func (w *wireRequest) attributes(s string) bool {
	return fields(s, attributesDesc, 1, func(f wireField) (bool, bool) {
		if f.num != attrSource && f.num != attrRequest && f.num != attrExtensions {
			return false, true
		}
		if f.typ != protowire.BytesType {
			return true, false
		}
		switch f.num {
		case attrSource:
			return true, w.once(seenSource) && w.source(f.value)
		case attrRequest:
			return true, w.once(seenRequest) && w.request(f.value)
		default:
			key, value, ok := mapEntry(f.value)
			if ok && key == "route" {
				w.fields.route = value
			}
			return true, ok
		}
	})
}

func (w *wireRequest) source(s string) bool {
	return fields(s, peerDesc, 2, func(f wireField) (bool, bool) {
		if f.num != peerCertificate {
			return false, true
		}
		if f.typ != protowire.BytesType {
			return true, false
		}
		w.fields.certificate = text(f.value)
		return true, true
	})
}

func (w *wireRequest) request(s string) bool {
	return fields(s, requestDesc, 2, func(f wireField) (bool, bool) {
		if f.num != requestHTTP {
			return false, true
		}
		return true, f.typ == protowire.BytesType && w.once(seenHTTP) && w.http(f.value)
	})
}

func (w *wireRequest) http(s string) bool {
	return fields(s, httpDesc, 3, func(f wireField) (bool, bool) {
		var dst *string
		switch f.num {
		case httpMethod:
			dst = &w.fields.method
		case httpPath:
			dst = &w.fields.path
		case httpHost:
			dst = &w.fields.host
		case httpScheme:
			dst = &w.fields.scheme
		case httpHeaders:
			if f.typ != protowire.BytesType || len(w.headers)+len(w.headerMap) >= maxWireHeaders {
				return true, false
			}
			key, value, ok := mapEntry(f.value)
			w.headers = append(w.headers, wireHeader{key, value})
			return true, ok
		case httpHeaderMap:
			return true, f.typ == protowire.BytesType && w.once(seenHeaderMap) && w.headerList(f.value)
		default:
			return false, true
		}
		*dst = text(f.value)
		return true, f.typ == protowire.BytesType
	})
}

// headerList reads header_map (a HeaderMap).
func (w *wireRequest) headerList(s string) bool {
	return fields(s, headerMapDesc, 4, func(f wireField) (bool, bool) {
		if f.num != headerMapHeaders {
			return false, true
		}
		if f.typ != protowire.BytesType || len(w.headers)+len(w.headerMap) >= maxWireHeaders {
			return true, false
		}
		var key, value, raw string
		ok := fields(f.value, headerValueDesc, 5, func(f wireField) (bool, bool) {
			if f.typ != protowire.BytesType {
				return f.num == hvKey || f.num == hvValue || f.num == hvRawValue, false
			}
			switch f.num {
			case hvKey:
				key = text(f.value)
			case hvValue:
				value = text(f.value)
			case hvRawValue:
				raw = f.value // bytes: as they came
			default:
				return false, true
			}
			return true, true
		})
		if !ok {
			return true, false
		}
		if value == "" {
			value = raw
		}
		w.headerMap = append(w.headerMap, wireHeader{key, value})
		return true, true
	})
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// checkRequest is the check.Request of w.
func (w *wireRequest) checkRequest() check.Request {
	r := newRequest(&w.fields, w)
	if len(w.headers) > 0 || len(w.headerMap) > 0 {
		r.MoreHeaders = w
	}
	return r
}

// appendHeader is the wire form of appendHeader (grpcauthz.go): the value
// of every copy of a header by its lowercase name, the headers map's first
// (in key order, one per distinct key), then header_map's.
func (w *wireRequest) appendHeader(values []string, name string) []string {
	values = w.appendMapHeader(values, name)
	for _, h := range w.headerMap {
		if httpsyntax.EqualFold(h.name, name) {
			values = append(values, h.value)
		}
	}
	return values
}

// appendMapHeader appends the values of the headers map's keys equal to
// name but for case, in key order (the map's, with one entry per key).
func (w *wireRequest) appendMapHeader(values []string, name string) []string {
	var buf [4]wireHeader
	found := buf[:0]
	for _, h := range w.headers {
		if httpsyntax.EqualFold(h.name, name) {
			found = append(found, h)
		}
	}
	for _, h := range lastPerKey(found) {
		values = append(values, h.value)
	}
	return values
}

// lastPerKey sorts headers (in the order sent) by key and keeps the last
// of each key, as a protobuf map does: O(n log n), however many times a
// hostile client repeats a key.
func lastPerKey(headers []wireHeader) []wireHeader {
	if len(headers) < 2 {
		return headers
	}
	slices.SortStableFunc(headers, func(a, b wireHeader) int { return strings.Compare(a.name, b.name) })
	out := headers[:0]
	for i, h := range headers {
		if i+1 < len(headers) && headers[i+1].name == h.name {
			continue
		}
		out = append(out, h)
	}
	return out
}

// Len and At make the request's headers a check.HeaderList for `when`
// conditions: the headers map's entries in key order (as policyHeaders
// reads a HeaderMap), then header_map's. It is built on first use only,
// since few routes have conditions.
func (w *wireRequest) Len() int { return len(w.conditionList()) }

func (w *wireRequest) At(i int) (name, value string) {
	h := w.conditionList()[i]
	return h.name, h.value
}

func (w *wireRequest) conditionList() []wireHeader {
	w.conditionsOnce.Do(func() {
		list := lastPerKey(append(make([]wireHeader, 0, len(w.headers)+len(w.headerMap)), w.headers...))
		w.conditions = append(list, w.headerMap...)
	})
	return w.conditions
}

// Get, Set and Keys make the headers map a propagation.TextMapCarrier, as
// the proto path reads it (foldedHeaders): names compared ignoring case,
// the values of keys differing only in case comma-joined.
func (w *wireRequest) Get(key string) string {
	var buf [2]string
	return strings.Join(w.appendMapHeader(buf[:0], key), ",")
}

func (w *wireRequest) Set(string, string) {} // never injected into

func (w *wireRequest) Keys() []string {
	keys := make([]string, 0, len(w.headers))
	for _, h := range w.headers {
		keys = append(keys, httpsyntax.ToLower(h.name))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}
