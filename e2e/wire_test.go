package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/tokengate/tokengate/testsupport"
)

// TestCheckRequestEncodings: the binary reads a CheckRequest from its bytes
// as protobuf defines them, whichever decoder takes it: the server's own
// for what Envoy sends (a headers map, header_map), protobuf for a message
// sent as two encodings (merged: the later scalar wins, maps merge). Bytes
// that are not UTF-8 are a deny, and a malformed message a gRPC error,
// never an allow.
func TestCheckRequestEncodings(t *testing.T) {
	t.Parallel()
	as, p := serveAcme(t, cfg{})
	as.Claims("good", goodClaims(nil))
	enc := func(r req) []byte {
		b, err := proto.Marshal(r.proto())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// The same header twice: only the later encoding's value counts.
	twice := append(enc(req{auth: bearer("nope")}), enc(req{auth: bearer("good")})...)
	for _, tt := range []struct {
		name   string
		data   []byte
		status int // 200: allow
	}{
		{"headers map", enc(req{auth: bearer("good"), headers: map[string]string{"user-agent": "e2e"}}), 200},
		{"header_map", enc(req{auth: bearer("good"), raw: true}), 200},
		{"no token", enc(req{}), 401},
		{"token in the later encoding", append(enc(req{}), enc(req{auth: bearer("good")})...), 200},
		{"key in both encodings", twice, 200},
		{"path made unsafe by the later encoding", append(enc(req{auth: bearer("good")}), enc(req{path: "/orders/../admin"})...), 400},
		{"invalid UTF-8 in the path", bytes.Replace(enc(req{auth: bearer("good"), path: "/orders/é"}), []byte("é"), []byte{0xff, 0xfe}, -1), 400},
		{"invalid UTF-8 in the token", bytes.Replace(enc(req{auth: bearer("goodé")}), []byte("é"), []byte{0xff, 0xfe}, -1), 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := checkBytes(t, p.grpcConn(t), tt.data)
			if err != nil {
				t.Fatalf("gRPC error instead of a decision: %v", err)
			}
			if a := parseAnswer(t, resp); a.status != tt.status {
				t.Errorf("status %d (%v), want %d", a.status, a.body, tt.status)
			}
		})
	}
	good := enc(req{auth: bearer("good")})
	if resp, err := checkBytes(t, p.grpcConn(t), good[:len(good)-1]); err == nil {
		t.Errorf("a truncated message was answered: %v", resp)
	}
	if a := p.check(t, req{auth: bearer("good")}); !a.allow {
		t.Errorf("after the malformed message: %d", a.status)
	}
}

// checkBytes sends data as a CheckRequest's encoding, bounded by 10 s.
func checkBytes(t *testing.T, conn *grpc.ClientConn, data []byte) (*authv3.CheckResponse, error) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return testsupport.CheckBytes(ctx, conn, data)
}
