package grpcauthz

import (
	"errors"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Codec is the gRPC codec of tokengate's server: protobuf, except that
// Register's Check handler reads most requests itself (wire.go), and that a
// request whose string fields hold invalid UTF-8 is still decoded (the bad
// bytes become U+FFFD) instead of failing the call. Envoy can send such
// bytes (header values are bytes on the wire), and a failed call is a gRPC
// error, where the contract wants a deny. A path carrying U+FFFD is then
// refused by the check, so a replaced byte can never change a decision into
// an allow. It is stateless and safe for concurrent use.
func Codec() encoding.CodecV2 { return lenientCodec{base: encoding.GetCodecV2("proto")} }

type lenientCodec struct{ base encoding.CodecV2 }

func (c lenientCodec) Name() string { return c.base.Name() }

func (c lenientCodec) Marshal(v any) (mem.BufferSlice, error) { return c.base.Marshal(v) }

// Unmarshal decodes as protobuf does. When that fails, it looks at the
// bytes itself, guided by the message's descriptor, rather than at the
// error's text (which protobuf words differently from run to run): if the
// encoding is well formed and some string field holds invalid UTF-8, it
// decodes the encoding with those fields repaired. Any other failure is
// returned as it was.
func (c lenientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if w, ok := v.(*wireCheck); ok {
		return c.unmarshalWire(data, w)
	}
	err := c.base.Unmarshal(data, v)
	if err == nil || !errors.Is(err, proto.Error) {
		return err
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err
	}
	fixed, repaired, ok := validUTF8(data.Materialize(), m.ProtoReflect().Descriptor())
	if !ok || !repaired {
		return err // not (only) a UTF-8 problem
	}
	proto.Reset(m)
	return proto.Unmarshal(fixed, m)
}
