package app

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tokengate/tokengate/extauthz/dpop/dpoptest"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// TestCheckCommandDPoP: `tokengate check` takes a DPoP proof as a header
// and then sends the token with the DPoP scheme.
func TestCheckCommandDPoP(t *testing.T) {
	key := dpoptest.NewKey(t, "ES256")
	as := introspectiontest.New(t)
	as.Claims("bound", goodClaims(map[string]any{"token_type": "DPoP", "cnf": map[string]any{"jkt": key.Thumbprint()}}))
	path := testsupport.WriteConfig(t, testConfig(as.URL))
	check := func(args ...string) (int, explanation) {
		t.Helper()
		args = append([]string{"check", "--config", path, "--host", "orders.acme.example", "--path", "/orders/1"}, args...)
		code, out, errOut := run(t, context.Background(), args...)
		var e explanation
		if err := json.Unmarshal([]byte(out), &e); err != nil {
			t.Fatalf("%v: output %q is not JSON (%s)", args, out, errOut)
		}
		return code, e
	}
	proof := key.Proof(t, "GET", "https://orders.acme.example/orders/1", "bound")
	if code, e := check("--token", "bound", "--header", "DPoP: "+proof); code != 0 || e.Reason != "allowed" {
		t.Fatalf("token with a proof: exit %d %+v", code, e)
	}
	if code, e := check("--header", "Authorization: DPoP bound", "--header", "dpop: "+key.Proof(t, "GET", "https://orders.acme.example/orders/1", "bound")); code != 0 {
		t.Fatalf("both as headers: exit %d %+v", code, e)
	}
	code, e := check("--token", "bound")
	if code != 1 || e.Reason != "invalid_token" || !strings.HasPrefix(e.WWWAuthenticate, `DPoP realm="acme", error="invalid_token"`) {
		t.Fatalf("without a proof (Bearer scheme): exit %d %+v", code, e)
	}
	if code, e := check("--token", "bound", "--header", "DPoP: not-a-proof"); code != 1 || e.Reason != "invalid_dpop_proof" || as.Calls("bound") != 3 { // no call for it
		t.Fatalf("a malformed proof: exit %d %+v, %d calls", code, e, as.Calls("bound"))
	}
}
