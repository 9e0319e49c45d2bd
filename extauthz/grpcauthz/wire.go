package grpcauthz

import (
	"strings"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// This file reads a CheckRequest straight from its wire encoding: only the
// fields a check uses, as substrings of one copy of the message, instead of
// protobuf building every nested message, the headers map and a string per
// header (most of what decoding costs a cached check). It takes the
// encodings it can read exactly as protobuf would and declines every other
// one (wireRequest.decode returns false), and the codec then decodes that
// message with protobuf as before; FuzzWireDecode holds it to that.
//
// What it declines: malformed encodings (protobuf's error, then, is the
// caller's), a message field we read sent more than once (protobuf merges
// those), a known field with an unexpected wire type, packed repeated
// fields and groups anywhere, nesting deeper than maxWireDepth, and more
// than maxWireHeaders headers.

// maxWireDepth bounds the nesting the fast path follows; Envoy's messages
// nest a few levels (a Struct in metadata a few more).
const maxWireDepth = 32

// maxWireHeaders bounds the headers the fast path keeps (both lists
// together; Envoy sends at most 100 by default). Beyond it protobuf
// decodes the request: a hostile one repeating a key millions of times
// costs protobuf one map entry, where the fast path would keep every copy.
const maxWireHeaders = 1024

// Field numbers of the fields read, from envoy/service/auth/v3 and
// envoy/config/core/v3.
const (
	checkAttributes = 1 // CheckRequest.attributes

	attrSource     = 1  // AttributeContext.source
	attrRequest    = 4  // AttributeContext.request
	attrExtensions = 10 // AttributeContext.context_extensions

	peerCertificate = 5 // AttributeContext.Peer.certificate

	requestHTTP = 2 // AttributeContext.Request.http

	httpMethod    = 2  // HttpRequest.method
	httpHeaders   = 3  // HttpRequest.headers
	httpPath      = 4  // HttpRequest.path
	httpHost      = 5  // HttpRequest.host
	httpScheme    = 6  // HttpRequest.scheme
	httpHeaderMap = 13 // HttpRequest.header_map

	headerMapHeaders = 1 // HeaderMap.headers
	hvKey            = 1 // HeaderValue.key
	hvValue          = 2 // HeaderValue.value
	hvRawValue       = 3 // HeaderValue.raw_value

	entryKey   = 1 // a map entry's key
	entryValue = 2 // a map entry's value
)

// Descriptors of the messages read, for the fields that are skipped.
var (
	checkRequestDesc = (&authv3.CheckRequest{}).ProtoReflect().Descriptor()
	attributesDesc   = (&authv3.AttributeContext{}).ProtoReflect().Descriptor()
	peerDesc         = (&authv3.AttributeContext_Peer{}).ProtoReflect().Descriptor()
	requestDesc      = (&authv3.AttributeContext_Request{}).ProtoReflect().Descriptor()
	httpDesc         = (&authv3.AttributeContext_HttpRequest{}).ProtoReflect().Descriptor()
	headerMapDesc    = (&corev3.HeaderMap{}).ProtoReflect().Descriptor()
	headerValueDesc  = (&corev3.HeaderValue{}).ProtoReflect().Descriptor()
)

// wireField is one field of an encoded message. value is the field's
// payload for the bytes wire type (a string, bytes or a message), its
// whole encoding otherwise.
type wireField struct {
	num   protowire.Number
	typ   protowire.Type
	value string
}

// nextField splits the first field off s; ok is false when s does not start
// with a well-formed field, or starts with a group (never read here).
func nextField(s string) (f wireField, rest string, ok bool) {
	tag, n := consumeVarint(s)
	if n < 0 || tag>>3 > uint64(protowire.MaxValidNumber) {
		return f, "", false
	}
	f.num, f.typ = protowire.Number(tag>>3), protowire.Type(tag&7)
	if f.num < protowire.MinValidNumber {
		return f, "", false
	}
	s = s[n:]
	switch f.typ {
	case protowire.VarintType:
		_, n = consumeVarint(s)
	case protowire.Fixed32Type:
		n = fixedLen(s, 4)
	case protowire.Fixed64Type:
		n = fixedLen(s, 8)
	case protowire.BytesType:
		var size uint64
		size, n = consumeVarint(s)
		if n < 0 || size > uint64(len(s)-n) {
			return f, "", false
		}
		f.value = s[n : n+int(size)]
		return f, s[n+int(size):], true
	default:
		return f, "", false
	}
	if n < 0 {
		return f, "", false
	}
	f.value = s[:n]
	return f, s[n:], true
}

func fixedLen(s string, n int) int {
	if len(s) < n {
		return -1
	}
	return n
}

// consumeVarint is protowire.ConsumeVarint on a string: the value and its
// length, or a negative length when s does not start with a valid varint.
func consumeVarint(s string) (uint64, int) {
	var v uint64
	for i := 0; i < len(s) && i < 10; i++ {
		b := s[i]
		if i == 9 && b > 1 {
			return 0, -1 // more than 64 bits
		}
		v |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			return v, i + 1
		}
	}
	return 0, -1
}

// text is a string field's value as protobuf (with Codec's repair) gives
// it: invalid UTF-8 replaced by U+FFFD.
func text(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// skippable reports whether f, a field of a message of type md that the
// fast path does not read, is one protobuf decodes without error (and
// without merging into anything read).
func skippable(f wireField, md protoreflect.MessageDescriptor, depth int) bool {
	fd := md.Fields().ByNumber(f.num)
	if fd == nil {
		return true // unknown: kept aside by protobuf, whatever it holds
	}
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return f.typ == protowire.BytesType && wellFormed(f.value, fd.Message(), depth+1)
	case protoreflect.StringKind, protoreflect.BytesKind:
		return f.typ == protowire.BytesType
	case protoreflect.GroupKind:
		return false
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind, protoreflect.FloatKind:
		return f.typ == protowire.Fixed32Type
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind, protoreflect.DoubleKind:
		return f.typ == protowire.Fixed64Type
	default: // the varint kinds; packed lists are declined
		return f.typ == protowire.VarintType
	}
}

// wellFormed reports whether s is an encoding of a message of type md that
// protobuf decodes without error.
func wellFormed(s string, md protoreflect.MessageDescriptor, depth int) bool {
	if depth > maxWireDepth {
		return false
	}
	for len(s) > 0 {
		f, rest, ok := nextField(s)
		if !ok || !skippable(f, md, depth) {
			return false
		}
		s = rest
	}
	return true
}

// fields calls read for each field of s, a message of type md, and checks
// the fields read declines as skippable. read returns handled=false for a
// field it does not read, ok=false to decline the whole message.
func fields(s string, md protoreflect.MessageDescriptor, depth int, read func(f wireField) (handled, ok bool)) bool {
	if depth > maxWireDepth {
		return false
	}
	for len(s) > 0 {
		f, rest, ok := nextField(s)
		if !ok {
			return false
		}
		handled, ok := read(f)
		if !ok || (!handled && !skippable(f, md, depth)) {
			return false
		}
		s = rest
	}
	return true
}

// mapEntry reads a map<string, string> entry: an absent key or value is
// "", a repeated one is the last; other fields are skipped as protobuf
// skips them.
func mapEntry(s string) (key, value string, ok bool) {
	for len(s) > 0 {
		f, rest, ok := nextField(s)
		if !ok {
			return "", "", false
		}
		switch f.num {
		case entryKey, entryValue:
			if f.typ != protowire.BytesType {
				return "", "", false
			}
			if f.num == entryKey {
				key = f.value
			} else {
				value = f.value
			}
		}
		s = rest
	}
	return text(key), text(value), true
}
