package testsupport

import (
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
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
