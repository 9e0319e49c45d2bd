package grpcauthz

import (
	"bytes"
	"runtime"
	"slices"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// nestedInvalid is a CheckRequest whose metadata_context holds a Struct
// value nested depth lists deep, with pad bytes of text and an invalid
// byte at the bottom: every level on the way needs repairing.
func nestedInvalid(depth, pad int) []byte {
	v := field(3, append(bytes.Repeat([]byte("a"), pad), 0xff)) // Value.string_value
	for range depth {
		v = field(6, field(1, v)) // Value.list_value{values: v}
	}
	entry := func(k string, x []byte) []byte { return slices.Concat(field(1, []byte(k)), field(2, x)) }
	return attributesField(field(11, field(1, entry("f", field(1, entry("k", v))))))
}

// TestRepairIsLinear: repairing invalid UTF-8 deep in a message costs
// memory in proportion to the message, not to its size times its depth
// (which a copy per level did: gigabytes for a 100 KB request).
func TestRepairIsLinear(t *testing.T) {
	for _, tt := range []struct{ depth, pad int }{{1000, 64 << 10}, {4900, 16 << 10}} {
		data := nestedInvalid(tt.depth, tt.pad)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var w wireCheck
		err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &w)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("depth %d: %v", tt.depth, err)
		}
		if w.slow == nil {
			t.Fatalf("depth %d: read by the fast path, which stops at %d levels", tt.depth, maxWireDepth)
		}
		got, limit := after.TotalAlloc-before.TotalAlloc, uint64(64*len(data))
		if got > limit {
			t.Errorf("depth %d, %d bytes: %d bytes allocated, want under %d", tt.depth, len(data), got, limit)
		}
		t.Logf("depth %d, %d bytes: %d bytes allocated", tt.depth, len(data), got)
	}
}

// TestRepairMatchesProtobuf: the repaired encoding decodes to what the
// message would be had its strings been valid, U+FFFD for each run of
// invalid bytes, at any depth.
func TestRepairMatchesProtobuf(t *testing.T) {
	data := nestedInvalid(40, 3)
	var got authv3.CheckRequest
	if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &got); err != nil {
		t.Fatal(err)
	}
	v := got.GetAttributes().GetMetadataContext().GetFilterMetadata()["f"].GetFields()["k"]
	for range 40 {
		v = v.GetListValue().GetValues()[0]
	}
	if v.GetStringValue() != "aaa\uFFFD" {
		t.Errorf("deepest string %q, want \"aaa\\uFFFD\"", v.GetStringValue())
	}
	fixed, repaired, ok := validUTF8(data, got.ProtoReflect().Descriptor())
	if !ok || !repaired || proto.Unmarshal(fixed, &authv3.CheckRequest{}) != nil {
		t.Errorf("validUTF8: repaired %v, ok %v", repaired, ok)
	}
	if _, repaired, ok := validUTF8(mustMarshal(t, benchEnvoyRequest()), got.ProtoReflect().Descriptor()); repaired || !ok {
		t.Errorf("a valid message: repaired %v, ok %v", repaired, ok)
	}
}
