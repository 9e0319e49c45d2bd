package grpcauthz

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// validUTF8 rewrites the wire encoding of a message of type md so that every
// string field (in nested messages and maps too) is valid UTF-8, each run
// of invalid bytes replaced by U+FFFD; repaired says whether any was not.
// ok is false when the bytes are not a well-formed encoding, or nest deeper
// than protobuf decodes.
//
// It takes two passes in linear time and memory, whatever the nesting: the
// first computes the repaired size of every nested message (in the order
// they occur), the second writes the repaired encoding into one buffer,
// length prefixes from those sizes. Repairing each level into a buffer of
// its own would hold a copy per level, quadratic in a deeply nested
// request.
func validUTF8(b []byte, md protoreflect.MessageDescriptor) (out []byte, repaired, ok bool) {
	r := repairer{}
	size, ok := r.measure(b, md, 0)
	if !ok || !r.repaired {
		return nil, r.repaired, ok
	}
	out = r.write(make([]byte, 0, size), b, md)
	return out, true, true
}

// repairer holds the repaired sizes of the nested messages, in the order
// measure meets them and write consumes them.
type repairer struct {
	sizes    []int
	next     int
	repaired bool
}

// maxRepairDepth is protobuf's own recursion limit: what it decodes, this
// repairs.
const maxRepairDepth = protowire.DefaultRecursionLimit

// measure returns the repaired size of b, a message of type md, and records
// the repaired size of each nested message.
func (r *repairer) measure(b []byte, md protoreflect.MessageDescriptor, depth int) (int, bool) {
	if depth > maxRepairDepth {
		return 0, false
	}
	size := 0
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, false
		}
		b = b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return 0, false
			}
			size += n + m
			b = b[m:]
			continue
		}
		value, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return 0, false
		}
		b = b[m:]
		inner := len(value)
		switch kind := fieldKind(md, num); kind {
		case protoreflect.StringKind:
			if !utf8.Valid(value) {
				inner = len(strings.ToValidUTF8(string(value), "\uFFFD"))
				r.repaired = true
			}
		case protoreflect.MessageKind:
			slot := len(r.sizes)
			r.sizes = append(r.sizes, 0)
			var ok bool
			if inner, ok = r.measure(value, md.Fields().ByNumber(num).Message(), depth+1); !ok {
				return 0, false
			}
			r.sizes[slot] = inner
		}
		size += n + protowire.SizeVarint(uint64(inner)) + inner
	}
	return size, true
}

// write appends the repaired encoding of b, a message of type md that
// measure accepted, to dst.
func (r *repairer) write(dst, b []byte, md protoreflect.MessageDescriptor) []byte {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		dst = append(dst, b[:n]...)
		b = b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			dst = append(dst, b[:m]...)
			b = b[m:]
			continue
		}
		value, m := protowire.ConsumeBytes(b)
		b = b[m:]
		switch fieldKind(md, num) {
		case protoreflect.StringKind:
			if !utf8.Valid(value) {
				value = []byte(strings.ToValidUTF8(string(value), "\uFFFD"))
			}
			dst = protowire.AppendBytes(dst, value)
		case protoreflect.MessageKind:
			dst = protowire.AppendVarint(dst, uint64(r.sizes[r.next]))
			r.next++
			dst = r.write(dst, value, md.Fields().ByNumber(num).Message())
		default:
			dst = protowire.AppendBytes(dst, value)
		}
	}
	return dst
}

// fieldKind is the kind of md's field num (0 for an unknown field).
func fieldKind(md protoreflect.MessageDescriptor, num protowire.Number) protoreflect.Kind {
	if fd := md.Fields().ByNumber(num); fd != nil {
		return fd.Kind()
	}
	return 0
}
