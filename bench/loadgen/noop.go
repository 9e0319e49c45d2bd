package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/tokengate/tokengate/bench/internal/profile"
)

// noopPrefix starts the line on which the no-op server announces its
// addresses: "noop-server listening on <gRPC> http <HTTP>".
const (
	noopPrefix    = "noop-server listening on "
	noopHTTPInfix = " http "
)

// noopAuthz is an ext_authz server that allows everything with an empty
// ok_response: the cost floor of a gRPC ext_authz round trip.
type noopAuthz struct {
	authv3.UnimplementedAuthorizationServer
	resp *authv3.CheckResponse
}

// Check implements authv3.AuthorizationServer.
func (n *noopAuthz) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return n.resp, nil
}

// serveNoop is the hidden --noop-server mode: a plain grpc.NewServer() (as
// tokengate uses) on a free loopback port, and the no-op HTTP server
// writing httpHeaders (newNoopHTTPServer) on another, both announced on
// stdout. It stops on ctx (SIGINT/SIGTERM) or when stdin closes, which
// happens when the parent load generator exits.
func serveNoop(ctx context.Context, httpHeaders string) (err error) {
	hdr, err := decodeHeaders(httpHeaders)
	if err != nil {
		return err
	}
	stopProfile, err := profile.Start(os.Getenv(profile.EnvVar))
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); err == nil {
			err = perr
		}
	}()
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("noop server listen: %w", err)
	}
	httpLis, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		lis.Close()
		return fmt.Errorf("noop HTTP server listen: %w", err)
	}
	httpSrv := newNoopHTTPServer(hdr)
	go func() { _ = httpSrv.Serve(httpLis) }()
	defer httpSrv.Close()
	srv := grpc.NewServer()
	authv3.RegisterAuthorizationServer(srv, &noopAuthz{resp: &authv3.CheckResponse{
		Status:       &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	fmt.Printf("%s%s%s%s\n", noopPrefix, lis.Addr(), noopHTTPInfix, httpLis.Addr())

	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err := <-served:
		return fmt.Errorf("noop server: %w", err)
	}
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(3 * time.Second):
		srv.Stop()
	}
	return nil
}

// startNoop re-executes this binary in --noop-server mode, its HTTP server
// writing httpHeaders; it returns the gRPC and the HTTP address.
func startNoop(ctx context.Context, env []string, httpHeaders http.Header) (*child, string, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", "", fmt.Errorf("own executable: %w", err)
	}
	args := []string{"--" + noopFlag, "--" + noopHeadersFlag + "=" + encodeHeaders(httpHeaders)}
	c, addrs, err := startChild(ctx, "noop server", self, args, env, false, noopAddresses, 15*time.Second)
	if err != nil {
		return nil, "", "", err
	}
	grpcAddr, httpAddr, _ := strings.Cut(addrs, noopHTTPInfix)
	return c, grpcAddr, httpAddr, nil
}

// noopAddresses recognises the no-op server's announcement, returning
// "<gRPC> http <HTTP>".
func noopAddresses(line string) (string, bool) {
	addrs, ok := strings.CutPrefix(strings.TrimSpace(line), noopPrefix)
	g, h, both := strings.Cut(addrs, noopHTTPInfix)
	return addrs, ok && both && g != "" && h != ""
}
