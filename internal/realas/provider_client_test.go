package realas

// The provider's endpoints as a client calls them: tokens, revocation,
// introspection; and the log checks that no secret leaked.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// tokenResponse is the token endpoint's answer.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
	TokenType   string `json:"token_type"`
	Scope       string `json:"scope"`
}

// getToken obtains an access token for resource with client credentials
// as the "app" client.
func (p *provider) getToken(t *testing.T, resource, scope string) tokenResponse {
	t.Helper()
	return p.getTokenAs(t, appClient, appSecret, resource, scope)
}

func (p *provider) getTokenAs(t *testing.T, client, secret, resource, scope string) tokenResponse {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {scope}}
	status, body := p.post(t, p.Token, client, secret, form, "")
	if status != http.StatusOK {
		t.Fatalf("token endpoint: %d %s", status, body)
	}
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		t.Fatalf("token response %s: %v", body, err)
	}
	remember(tr.AccessToken)
	return tr
}

// remember adds token to the issued ones, which tokengate must never log.
func remember(token string) {
	issued.Lock()
	issued.tokens = append(issued.tokens, token)
	issued.Unlock()
}

// issued holds every access token the tests obtained.
var issued struct {
	sync.Mutex
	tokens []string
}

// noSecretsInLogs fails t if tokengate logged one of secrets or an issued
// token.
func noSecretsInLogs(t *testing.T, g *gate, secrets ...string) {
	t.Helper()
	logs := g.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Errorf("a client secret appears in tokengate's logs")
		}
	}
	issued.Lock()
	defer issued.Unlock()
	for _, tok := range issued.tokens {
		if strings.Contains(logs, tok) {
			t.Errorf("an access token appears in tokengate's logs")
			return
		}
	}
}

// revoke revokes token (RFC 7009) as the "app" client, which owns it.
func (p *provider) revoke(t *testing.T, token string) {
	t.Helper()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	if status, body := p.post(t, p.Revocation, appClient, appSecret, form, ""); status != http.StatusOK {
		t.Fatalf("revocation endpoint: %d %s", status, body)
	}
}

// introspect asks the server directly (as rs:basic), for what tokengate
// should see.
func (p *provider) introspect(t *testing.T, token string) map[string]any {
	t.Helper()
	status, body := p.post(t, p.Introspection, basicClient, basicSecret, url.Values{"token": {token}}, "")
	if status != http.StatusOK {
		t.Fatalf("introspection endpoint: %d %s", status, body)
	}
	var claims map[string]any
	if err := json.Unmarshal(body, &claims); err != nil {
		t.Fatalf("introspection response %s: %v", body, err)
	}
	return claims
}

// post sends form with HTTP Basic client authentication (each half
// form-url-encoded, RFC 6749 §2.3.1) when client is set, or with
// authorization as the Authorization header when that is set.
func (p *provider) post(t *testing.T, endpoint, client, secret string, form url.Values, authorization string) (int, []byte) {
	t.Helper()
	header := http.Header{}
	if client != "" {
		header.Set("Authorization", basicAuth(client, secret))
	}
	if authorization != "" {
		header.Set("Authorization", authorization)
	}
	status, _, body := postForm(t, http.DefaultClient, endpoint, form, header)
	return status, body
}

// postForm POSTs form to endpoint with header through hc and returns the
// status, the response headers and the trimmed body.
func postForm(t *testing.T, hc *http.Client, endpoint string, form url.Values, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("POST %s: %v", endpoint, err)
	}
	return resp.StatusCode, resp.Header, bytes.TrimSpace(body)
}
