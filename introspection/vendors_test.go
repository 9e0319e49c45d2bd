package introspection_test

// Fake authorization servers that answer the way the seed vendor documents
// (WSO2 Identity Server, Schibsted SPiD, WorkOS) say they do, and assert
// what they received.

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

// vendorOptions are options(url) with a vendor's client credentials.
func vendorOptions(url, clientID, clientSecret string) introspection.Options {
	o := options(url)
	o.ClientID, o.ClientSecret = clientID, clientSecret
	return o
}

// wso2 behaves like WSO2 Identity Server's /oauth2/introspect: Basic auth,
// `{'error': 'Invalid input'}` (not JSON) for an empty token and
// `{'active':false}` (not JSON either, as the docs show it) for an unknown
// one. tokens maps a tenant domain ("" for the super tenant) to its tokens.
func wso2(t *testing.T, clientID, clientSecret string, tokens map[string]map[string]string) *introspectiontest.Server {
	mux := http.NewServeMux()
	serve := func(domain string, w http.ResponseWriter, r *http.Request) {
		id, secret, ok := introspectiontest.ClientSecretBasic(r)
		if !ok || id != clientID || secret != clientSecret {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		token := r.PostForm.Get("token")
		if token == "" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, "{'error': 'Invalid input'}")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if body, ok := tokens[domain][token]; ok {
			_, _ = io.WriteString(w, body)
			return
		}
		_, _ = io.WriteString(w, "{'active':false}")
	}
	mux.HandleFunc("POST /oauth2/introspect", func(w http.ResponseWriter, r *http.Request) { serve("", w, r) })
	mux.HandleFunc("POST /t/{domain}/oauth2/introspect", func(w http.ResponseWriter, r *http.Request) {
		serve(r.PathValue("domain"), w, r)
	})
	return newAS(t, mux.ServeHTTP)
}

func TestWSO2SuperTenant(t *testing.T) {
	t.Parallel()
	const id, secret = "rgfKVdnMQnJSSr_pKFTxj3apiwYa", "BRebJ0aqfclQB9v7yZwhj0JfW0ga"
	as := wso2(t, id, secret, map[string]map[string]string{"": {
		"fbc4e794-23db-3394-b1e5-f2c3e511d01f": `{"exp":1464161608,"username":"admin@carbon.super","active":true,"token_type":"Bearer","client_id":"rgfKVdnMQnJSSr_pKFTxj3apiwYa","iat":1464158008}`,
		"34060588-dd4e-36a5-ad93-440cc77a1cfb": `{"exp":1464161560,"username":"admin@carbon.super","scope":"test1 test2","active":true,"token_type":"Bearer","client_id":"rgfKVdnMQnJSSr_pKFTxj3apiwYa","iat":1464157960}`,
	}})
	opts := vendorOptions(as.URL+"/oauth2/introspect", id, secret)
	c := newClient(t, opts)

	res := mustIntrospect(t, c, "fbc4e794-23db-3394-b1e5-f2c3e511d01f")
	cl := res.Claims
	if !cl.Active || cl.Username != "admin@carbon.super" || cl.TokenType != "Bearer" || cl.ClientID != id {
		t.Errorf("claims = %+v", cl)
	}
	if !cl.Expiry.Equal(time.Unix(1464161608, 0)) || !cl.IssuedAt.Equal(time.Unix(1464158008, 0)) {
		t.Errorf("exp/iat = %v/%v", cl.Expiry, cl.IssuedAt)
	}
	if len(cl.Scopes) != 0 {
		t.Errorf("scopes = %q, want none", cl.Scopes)
	}
	if res.Cache != introspection.CacheNone {
		t.Errorf("Cache = %q, want none", res.Cache)
	}

	res = mustIntrospect(t, c, "34060588-dd4e-36a5-ad93-440cc77a1cfb")
	if !reflect.DeepEqual(res.Claims.Scopes, []string{"test1", "test2"}) {
		t.Errorf("scopes = %q", res.Claims.Scopes)
	}
	for _, r := range as.Requests() {
		if r.URL.Path != "/oauth2/introspect" || r.Method != http.MethodPost {
			t.Errorf("request %s %s", r.Method, r.URL.Path)
		}
	}
}

func TestWSO2TenantPath(t *testing.T) {
	t.Parallel()
	const id, secret = "okaN2IXAsLx5SBH9Los1C6zX1RIa", "tenant-secret"
	const tok = "334060588-dd4e-36a5-ad93-440cc77a1cfb"
	as := wso2(t, id, secret, map[string]map[string]string{"foo.com": {
		tok: `{"scope":"1 test","active":true,"token_type":"Bearer","exp":1517922663,"iat":1517919063,"client_id":"okaN2IXAsLx5SBH9Los1C6zX1RIa","username":"admin@foo.com"}`,
	}})
	opts := vendorOptions(as.URL+"/t/foo.com/oauth2/introspect", id, secret)
	res := mustIntrospect(t, newClient(t, opts), tok)
	if res.Claims.Username != "admin@foo.com" || !reflect.DeepEqual(res.Claims.Scopes, []string{"1", "test"}) {
		t.Errorf("claims = %+v", res.Claims)
	}
	if got := as.Requests()[0].URL.Path; got != "/t/foo.com/oauth2/introspect" {
		t.Errorf("path = %q", got)
	}

	// The same token at the super tenant path is unknown there: WSO2 says
	// {'active':false}, which is not JSON, so it is an error, not "inactive".
	opts.URL = as.URL + "/oauth2/introspect"
	_, err := introspect(t, newClient(t, opts), tok)
	if err == nil {
		t.Fatal("token of tenant foo.com accepted at the super tenant")
	}
}

// Client ids and secrets with ":", "%", "+", space and non-ASCII must be
// form-url-encoded before Basic, or a server splitting at ":" gets them
// wrong.
func TestWSO2BasicAuthEncoding(t *testing.T) {
	t.Parallel()
	const id, secret = "rs:client 1%ü", "pa ss:w%rd+é/"
	const tok = "fbc4e794-23db-3394-b1e5-f2c3e511d01f"
	as := wso2(t, id, secret, map[string]map[string]string{"": {tok: `{"active":true,"username":"admin@carbon.super","token_type":"Bearer"}`}})
	opts := vendorOptions(as.URL+"/oauth2/introspect", id, secret)
	if _, err := introspect(t, newClient(t, opts), tok); err != nil {
		t.Fatal(err) // the fake answers 401 unless decoding gives the originals back
	}
	// Written out by hand from RFC 6749 Appendix B (space → "+").
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("rs%3Aclient+1%25%C3%BC:pa+ss%3Aw%25rd%2B%C3%A9%2F"))
	r := as.Requests()[0]
	if got := r.Header.Get("Authorization"); got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
	if _, ok := r.Form["client_secret"]; ok {
		t.Error("client_secret sent in the form with client_secret_basic")
	}
}

func TestWSO2EmptyToken(t *testing.T) {
	t.Parallel()
	as := wso2(t, "id", "secret", nil)
	res, err := introspect(t, newClient(t, vendorOptions(as.URL+"/oauth2/introspect", "id", "secret")), "")
	err = mustFail(t, res, err)
	se := mustStatus(t, err, http.StatusBadRequest)
	if se.OAuthError != "" {
		t.Errorf("OAuthError = %q from a non-JSON body", se.OAuthError)
	}
	if strings.Contains(err.Error(), "Invalid input") {
		t.Errorf("error echoes the body: %q", err)
	}
	if f := as.Requests()[0].Form; f.Get("token") != "" || !f.Has("token") {
		t.Errorf("form = %v, want an empty token field", f)
	}
}

// WSO2's docs show {'active':false} for an invalid token; that is not JSON,
// so tokengate cannot know what it meant and fails closed.
func TestWSO2InvalidTokenNonJSON(t *testing.T) {
	t.Parallel()
	as := wso2(t, "id", "secret", nil)
	res, err := introspect(t, newClient(t, vendorOptions(as.URL+"/oauth2/introspect", "id", "secret")), "unknown-token")
	err = mustFail(t, res, err)
	if !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("error = %q, want it to say the body is not JSON", err)
	}
	wantTotal(t, as, 1, "")
}

// spid behaves like Schibsted SPiD's POST /oauth/introspect.
func spid(t *testing.T, clientID, clientSecret string) *introspectiontest.Server {
	return newAS(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/introspect" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		if id, secret, ok := introspectiontest.ClientSecretBasic(r); !ok || id != clientID || secret != clientSecret {
			introspectiontest.Reply(http.StatusUnauthorized, `{"error":"invalid_client","error_description":"Invalid client credentials"}`)(w, r)
			return
		}
		switch tok := r.PostForm.Get("token"); tok {
		case "":
			introspectiontest.Reply(http.StatusBadRequest, `{"error":"invalid_request","error_description":"Missing token"}`)(w, r)
		case "eyJ0eXAiOiJK.valid.jUaR-nZOx5MGg":
			introspectiontest.Reply(http.StatusOK, `{
    "sub": "5d75167d-8841-5072-89cb-985915e2dbb3",
    "aud": [
        "http://example.com"
    ],
    "scope": "profile address email phone",
    "iss": "https://login.schibsted.com/",
    "active": true,
    "token_type": "Bearer",
    "exp": 1503928222,
    "iat": 1503924622,
    "client_id": "4e8463569caf7ca019000007",
    "jti": "45e73931-fcd6-4260-b5eb-51286c781e53"
}`)(w, r)
		default:
			introspectiontest.Reply(http.StatusOK, "{\n    \"active\": false\n}")(w, r)
		}
	})
}

func TestSPiD(t *testing.T) {
	t.Parallel()
	const id, secret = "4e8463569caf7ca019000007", "foobar"
	as := spid(t, id, secret)
	opts := vendorOptions(as.URL+"/oauth/introspect", id, secret)
	c := newClient(t, opts)

	t.Run("valid", func(t *testing.T) {
		res := mustIntrospect(t, c, "eyJ0eXAiOiJK.valid.jUaR-nZOx5MGg")
		cl := res.Claims
		if !reflect.DeepEqual(cl.Audience, []string{"http://example.com"}) {
			t.Errorf("aud = %q", cl.Audience)
		}
		if cl.Issuer != "https://login.schibsted.com/" {
			t.Errorf("iss = %q, want the trailing slash kept", cl.Issuer)
		}
		if cl.Subject != "5d75167d-8841-5072-89cb-985915e2dbb3" || cl.JTI != "45e73931-fcd6-4260-b5eb-51286c781e53" {
			t.Errorf("sub/jti = %q/%q", cl.Subject, cl.JTI)
		}
		if !cl.HasScope("email") || cl.ScopeString() != "profile address email phone" {
			t.Errorf("scopes = %q", cl.Scopes)
		}
	})
	t.Run("inactive", func(t *testing.T) {
		res := mustIntrospect(t, c, "expired-token")
		if res.Claims == nil || res.Claims.Active {
			t.Errorf("claims = %+v, want inactive", res.Claims)
		}
	})
	t.Run("missing token", func(t *testing.T) {
		res, err := introspect(t, c, "")
		se := mustStatus(t, mustFail(t, res, err), http.StatusBadRequest)
		if se.OAuthError != "invalid_request" {
			t.Errorf("OAuthError = %q", se.OAuthError)
		}
	})
	t.Run("bad client credentials", func(t *testing.T) {
		bad := opts
		bad.ClientSecret = "wrong-" + testSecret
		res, err := introspect(t, newClient(t, bad), "eyJ0eXAiOiJK.valid.jUaR-nZOx5MGg")
		err = mustFail(t, res, err)
		se := mustStatus(t, err, http.StatusUnauthorized)
		if se.OAuthError != "invalid_client" {
			t.Errorf("OAuthError = %q", se.OAuthError)
		}
		const want = `introspection failed: tenant acme: authorization server answered 401 (error "invalid_client")`
		if err.Error() != want {
			t.Errorf("error = %q\nwant    %q", err, want)
		}
	})
}

// workos behaves like WorkOS AuthKit's /oauth2/introspection: client
// credentials in the body.
func workos(t *testing.T, clientID, clientSecret string) *introspectiontest.Server {
	as := introspectiontest.New(t)
	as.RequirePostAuth(clientID, clientSecret) // else 401 {"error":"invalid_client"}
	as.Raw("access.jwt.sig", http.StatusOK, `{
  "active": true,
  "client_id": "client_01JP8BD0CZ401TDF9X54NT5ZEK",
  "iss": "https://authkit_domain",
  "aud": "client_123456789",
  "sub": "user_01JPXN6KA7622KJ4VP83X1NTKX",
  "org_id": "org_01HRDMC6CM357W30QMHMQ96Q0S",
  "sid": "app_consent_01JPXN6KAQW83AMXXY5WX3RHTJ",
  "jti": "01JPXN6KFGZQYW3AM2DEVX84YS",
  "exp": 1742604853,
  "iat": 1742604553,
  "token_type": "access_token"
}`)
	as.Raw("refresh-token", http.StatusOK, `{
  "active": true,
  "client_id": "client_01JP8BD0CZ401TDF9X54NT5ZEK",
  "iss": "https://authkit_domain",
  "aud": "client_123456789",
  "sub": "user_01JPXN6KA7622KJ4VP83X1NTKX",
  "iat": 1742604553,
  "token_type": "refresh_token"
}`)
	as.HandleUnknown(introspectiontest.Reply(http.StatusOK, `{"active": false}`))
	return as
}

func TestWorkOS(t *testing.T) {
	t.Parallel()
	const id, secret = "client_01JP8BD0CZ401TDF9X54NT5ZEK", "1eaaf7a47948398d89e2b07dce912b6a9c0282aa20e88c026fcb42fd6b06b73e"
	as := workos(t, id, secret)
	opts := options(as.URL + "/oauth2/introspection")
	opts.AuthMethod = introspection.AuthClientSecretPost
	opts.ClientID, opts.ClientSecret = id, secret
	c := newClient(t, opts)

	res := mustIntrospect(t, c, "access.jwt.sig")
	cl := res.Claims
	if !reflect.DeepEqual(cl.Audience, []string{"client_123456789"}) || cl.TokenType != "access_token" {
		t.Errorf("claims = %+v", cl)
	}
	if got := string(cl.Raw["org_id"]); got != `"org_01HRDMC6CM357W30QMHMQ96Q0S"` {
		t.Errorf("Raw[org_id] = %s", got)
	}
	if got := string(cl.Raw["sid"]); got != `"app_consent_01JPXN6KAQW83AMXXY5WX3RHTJ"` {
		t.Errorf("Raw[sid] = %s", got)
	}

	r := as.Requests()[0]
	want := url.Values{
		"client_id":       {id},
		"client_secret":   {secret},
		"token":           {"access.jwt.sig"},
		"token_type_hint": {"access_token"},
	}
	if !reflect.DeepEqual(r.Form, want) {
		t.Errorf("form = %v\nwant   %v", r.Form, want)
	}
	if h := r.Header.Get("Authorization"); h != "" {
		t.Errorf("Authorization = %q with client_secret_post", h)
	}

	// A refresh token is active and parses; refusing it is the decision
	// layer's job (token_types).
	res = mustIntrospect(t, c, "refresh-token")
	if !res.Claims.Active || res.Claims.TokenType != "refresh_token" || !res.Claims.Expiry.IsZero() {
		t.Errorf("refresh token claims = %+v", res.Claims)
	}
}
