package testsupport

import (
	"context"
	"fmt"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// Dial is a gRPC connection without TLS to addr (such as tokengate's gRPC
// listener), closed when the test ends; an error fails the test. The
// connection is made at the first call.
func Dial(t testing.TB, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() }) // the test is over: a close error changes nothing
	return conn
}

// AuthorizationClient is an ext_authz client of addr over Dial's
// connection.
func AuthorizationClient(t testing.TB, addr string) authv3.AuthorizationClient {
	t.Helper()
	return authv3.NewAuthorizationClient(Dial(t, addr))
}

// CheckBytes sends data, as it is, as the encoding of a CheckRequest on
// conn and decodes the answer: for messages a Go client will not encode
// (invalid UTF-8, a message sent as two encodings, truncated bytes).
func CheckBytes(ctx context.Context, conn *grpc.ClientConn, data []byte) (*authv3.CheckResponse, error) {
	raw := rawMessage(data)
	resp := &authv3.CheckResponse{}
	err := conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, &raw, resp, grpc.ForceCodecV2(rawCodec{}))
	return resp, err
}

// rawMessage is an encoded request, sent as it is by rawCodec.
type rawMessage []byte

// rawCodec sends a rawMessage's bytes and decodes answers as protobuf.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*rawMessage)
	if !ok {
		return nil, fmt.Errorf("rawCodec: %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*m)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("rawCodec: %T", v)
	}
	return proto.Unmarshal(data.Materialize(), m)
}
