package grpcauthz

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tokengate/tokengate/testsupport"
)

// serve runs testServer() registered with Register on a loopback port,
// with opts (Codec() unless told otherwise by the caller), until t ends.
func serve(t *testing.T, opts ...grpc.ServerOption) *grpc.ClientConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	Register(srv, testServer())
	go func() { _ = srv.Serve(lis) }() // returns when stopped below
	t.Cleanup(srv.Stop)
	return testsupport.Dial(t, lis.Addr().String())
}

// checkRaw sends data as a CheckRequest's encoding.
func checkRaw(t *testing.T, conn *grpc.ClientConn, data []byte) (*authv3.CheckResponse, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return testsupport.CheckBytes(ctx, conn, data)
}

// Through a gRPC server, Register's handler answers what the fast path
// reads and what it leaves to protobuf alike, denies what protobuf
// repairs, and refuses a malformed message with a gRPC error, as protobuf
// decoding did.
func TestRegisterServesChecks(t *testing.T) {
	conn := serve(t, grpc.ForceServerCodecV2(Codec()))
	withToken := mustMarshal(t, envoyRequest(map[string]string{"authorization": "Bearer good"}))
	noToken := mustMarshal(t, envoyRequest(map[string]string{}))
	// Two encodings of one message: protobuf merges them (the token in
	// one, the path in the other); the fast path leaves that to protobuf.
	merged := slices.Concat(noToken, mustMarshal(t, httpReq(&authv3.AttributeContext_HttpRequest{
		Headers: map[string]string{"authorization": "Bearer good"}}, nil)))
	badPath := bytes.ReplaceAll(mustMarshal(t, envoyRequest(map[string]string{"authorization": "Bearer good", "x": "@@"})), []byte("/orders/1"), []byte("/orders/\xff"))
	for _, tt := range []struct {
		name string
		data []byte
		code codes.Code // the CheckResponse's status
	}{
		{"fast path, token", withToken, codes.OK},
		{"fast path, no token", noToken, codes.Unauthenticated},
		{"merged encodings, read by protobuf", merged, codes.OK},
		{"invalid UTF-8 in the path", badPath, codes.InvalidArgument},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if fast := sameAsProtobuf(t, tt.data); fast == (tt.name == "merged encodings, read by protobuf") {
				t.Fatalf("read by the fast path: %v", fast)
			}
			resp, err := checkRaw(t, conn, tt.data)
			if err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Errorf("status %v (%s), want %v", got, resp.GetStatus().GetMessage(), tt.code)
			}
		})
	}
	if _, err := checkRaw(t, conn, withToken[:len(withToken)-2]); status.Code(err) == codes.OK {
		t.Errorf("truncated message: %v, want a gRPC error", err)
	}
}

// Interceptors see the request Register's handler decoded and can wrap
// the call; replacing the request is refused, never checked.
func TestRegisterWithInterceptor(t *testing.T) {
	var seen any
	observe := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		seen = req
		if info.FullMethod != authv3.Authorization_Check_FullMethodName {
			return nil, fmt.Errorf("method %q", info.FullMethod)
		}
		return h(ctx, req)
	}
	conn := serve(t, grpc.ForceServerCodecV2(Codec()), grpc.UnaryInterceptor(observe))
	client := authv3.NewAuthorizationClient(conn)
	resp, err := client.Check(context.Background(), envoyRequest(map[string]string{"authorization": "Bearer good"}))
	if err != nil || resp.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("Check: %v, %v", resp, err)
	}
	if _, ok := seen.(*wireCheck); !ok {
		t.Errorf("interceptor saw %T", seen)
	}

	replace := func(ctx context.Context, _ any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return h(ctx, envoyRequest(map[string]string{"authorization": "Bearer good"}))
	}
	conn = serve(t, grpc.ForceServerCodecV2(Codec()), grpc.UnaryInterceptor(replace))
	if resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), envoyRequest(nil)); err == nil {
		t.Errorf("a replaced request was answered: %v", resp)
	}
}

// Registered on a server without Codec, every Check is a gRPC error: the
// handler's request is not a protobuf message, so nothing is checked, and
// nothing is allowed.
func TestRegisterWithoutCodecFailsClosed(t *testing.T) {
	conn := serve(t)
	resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), envoyRequest(map[string]string{"authorization": "Bearer good"}))
	if err == nil {
		t.Fatalf("answered %v without Codec", resp)
	}
	var se interface{ GRPCStatus() *status.Status }
	if !errors.As(err, &se) {
		t.Errorf("error %v is not a gRPC status", err)
	}
}
