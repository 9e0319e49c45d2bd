package grpcauthz

import (
	"context"
	"fmt"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
)

// Register registers s as envoy.service.auth.v3.Authorization on reg, with
// a Check handler that reads the request from its encoding itself
// (wire.go), falling back to protobuf for what that declines. The server
// must decode with Codec() (grpc.ForceServerCodecV2(Codec())); with another
// codec every Check fails with an Internal error, never an allow.
func Register(reg grpc.ServiceRegistrar, s *Server) {
	reg.RegisterService(&grpc.ServiceDesc{
		ServiceName: authv3.Authorization_ServiceDesc.ServiceName,
		HandlerType: (*authv3.AuthorizationServer)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: checkHandler}},
		Metadata:    authv3.Authorization_ServiceDesc.Metadata,
	}, s)
}

// wireCheck is a CheckRequest as Codec decodes it for Register's handler:
// read by the fast path (fast), else decoded by protobuf (slow != nil).
type wireCheck struct {
	fast wireRequest
	slow *authv3.CheckRequest
}

func checkHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wireCheck)
	if err := dec(in); err != nil {
		return nil, err
	}
	s, ok := srv.(*Server) // only Register registers this handler, with a *Server
	if !ok {
		return nil, status.Errorf(codes.Internal, "grpcauthz: Check handler registered with a %T", srv)
	}
	if interceptor == nil {
		return s.checkWire(ctx, in), nil
	}
	return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: authv3.Authorization_Check_FullMethodName},
		func(ctx context.Context, req any) (any, error) {
			w, ok := req.(*wireCheck)
			if !ok {
				return nil, fmt.Errorf("grpcauthz: an interceptor replaced the request with a %T", req)
			}
			return s.checkWire(ctx, w), nil
		})
}

func (s *Server) checkWire(ctx context.Context, in *wireCheck) *authv3.CheckResponse {
	if in.slow != nil {
		resp, _ := s.Check(ctx, in.slow) // never an error: a deny is a response
		return resp
	}
	r := in.fast.checkRequest()
	return s.check(ctx, &r, &in.fast)
}

// unmarshalWire is Codec's Unmarshal for Register's handler: one copy of
// data, read by the fast path, else decoded by protobuf from data.
func (c lenientCodec) unmarshalWire(data mem.BufferSlice, w *wireCheck) error {
	var b strings.Builder
	b.Grow(data.Len())
	for _, buf := range data {
		b.Write(buf.ReadOnlyData())
	}
	if w.fast.decode(b.String()) {
		return nil
	}
	w.fast = wireRequest{}
	w.slow = new(authv3.CheckRequest)
	return c.Unmarshal(data, w.slow)
}
