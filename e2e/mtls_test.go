package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/tokengate/tokengate/testsupport"
)

// TestGRPCMutualTLS: with grpc.tls.client_ca_file the gRPC listener
// answers only clients with a certificate from that CA; the tenant's
// secret comes from client_secret_file, its surrounding whitespace
// trimmed.
func TestGRPCMutualTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca, other := testsupport.NewCA(t, "e2e mesh CA"), testsupport.NewCA(t, "somebody else")
	certPEM, keyPEM := ca.Issue(t, 2, "tokengate", true)
	tlsYAML := fmt.Sprintf("{cert_file: %q, key_file: %q, client_ca_file: %q}",
		writeFile(t, dir, "server.pem", string(certPEM)), writeFile(t, dir, "server.key", string(keyPEM)),
		writeFile(t, dir, "ca.pem", string(ca.CertPEM)))
	as := newAS(t)
	as.Claims("tok-mtls", goodClaims(nil))
	secretFile := writeFile(t, dir, "secret", "\n  "+acmeSecret+" \n")
	conf := strings.Replace(cfg{as: as.URL, grpcTLS: tlsYAML}.String(),
		`client_secret: "${E2E_ACME_SECRET}"`, fmt.Sprintf("client_secret_file: %q", secretFile), 1)
	client := ca.KeyPair(t, 3, "envoy", false)
	p := startServe(t, writeFile(t, dir, "tokengate.yaml", conf),
		serveOpts{grpcTLS: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{client}, MinVersion: tls.VersionTLS12}})

	if a := p.check(t, req{auth: bearer("tok-mtls")}); !a.allow {
		t.Fatalf("with a client certificate from the CA: %d %v (the secret from the file must be trimmed)", a.status, a.body)
	}
	for name, certs := range map[string][]tls.Certificate{
		"no client certificate":         nil,
		"a certificate from another CA": {other.KeyPair(t, 4, "intruder", false)},
	} {
		conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(
			&tls.Config{RootCAs: ca.Pool(), Certificates: certs, MinVersion: tls.VersionTLS12})))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		resp, err := authv3.NewAuthorizationClient(conn).Check(ctx, req{auth: bearer("tok-mtls")}.proto())
		cancel()
		_ = conn.Close()
		if err == nil {
			t.Errorf("%s: answered %v, want the handshake refused", name, resp.GetStatus())
		}
	}
}
