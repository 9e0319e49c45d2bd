package introspection_test

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/introspectiontest"
)

const activeBody = `{"active":true,"sub":"user-1","scope":"a b"}`

func TestRequestShape(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		hint     string
		token    string
		wantForm url.Values
	}{
		{"with hint", "access_token", "abc", url.Values{"token": {"abc"}, "token_type_hint": {"access_token"}}},
		{"without hint", "", "abc", url.Values{"token": {"abc"}}},
		{"token needing escapes", "refresh_token", "a+b/c=&d", url.Values{"token": {"a+b/c=&d"}, "token_type_hint": {"refresh_token"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, activeBody))
			opts := options(as.URL + "/introspect?realm=x")
			opts.TokenTypeHint = tc.hint
			mustIntrospect(t, newClient(t, opts), tc.token)
			r := as.Requests()[0]
			if r.Method != http.MethodPost || r.URL.Path != "/introspect" {
				t.Errorf("request = %s %s", r.Method, r.URL.Path)
			}
			if !reflect.DeepEqual(r.Form, tc.wantForm) {
				t.Errorf("form = %v, want %v", r.Form, tc.wantForm)
			}
			for name, want := range map[string]string{
				"Content-Type": "application/x-www-form-urlencoded",
				"Accept":       "application/json",
				"User-Agent":   "tokengate",
			} {
				if got := r.Header.Get(name); got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestExtraHeadersAndUserAgent(t *testing.T) {
	t.Parallel()
	as := newAS(t, introspectiontest.Reply(200, activeBody))
	opts := options(as.URL)
	opts.UserAgent = "tokengate/1.2.3"
	opts.Headers = map[string]string{"x-api-key": "k-123", "X-Tenant": "acme", "Host": "idp.acme.example"}
	mustIntrospect(t, newClient(t, opts), testToken)
	r := as.Requests()[0]
	if r.Header.Get("X-Api-Key") != "k-123" || r.Header.Get("X-Tenant") != "acme" {
		t.Errorf("extra headers missing: %v", r.Header)
	}
	if r.Header.Get("User-Agent") != "tokengate/1.2.3" {
		t.Errorf("User-Agent = %q", r.Header.Get("User-Agent"))
	}
	if r.Host != "idp.acme.example" {
		t.Errorf("Host = %q", r.Host)
	}
}

func TestAuthNone(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		clientID string
		headers  map[string]string
		wantForm url.Values
		wantAuth string
	}{
		{"no client id", "", nil, url.Values{"token": {"t"}}, ""},
		{"client id", "rs-acme", nil, url.Values{"token": {"t"}, "client_id": {"rs-acme"}}, ""},
		{"static authorization header", "", map[string]string{"Authorization": "ApiKey k"}, url.Values{"token": {"t"}}, "ApiKey k"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, introspectiontest.Reply(200, activeBody))
			opts := introspection.Options{URL: as.URL, AuthMethod: introspection.AuthNone, ClientID: tc.clientID, ClientSecret: "unused", Headers: tc.headers}
			mustIntrospect(t, newClient(t, opts), "t")
			r := as.Requests()[0]
			if !reflect.DeepEqual(r.Form, tc.wantForm) {
				t.Errorf("form = %v, want %v", r.Form, tc.wantForm)
			}
			if got := r.Header.Get("Authorization"); got != tc.wantAuth {
				t.Errorf("Authorization = %q, want %q", got, tc.wantAuth)
			}
		})
	}
}

func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	target := newAS(t, introspectiontest.Reply(200, activeBody))
	for _, code := range []int{301, 302, 303, 307, 308} {
		t.Run(strconv.Itoa(code), func(t *testing.T) {
			t.Parallel()
			_, err := failAt(t, func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+"/elsewhere", code)
			})
			mustStatus(t, err, code)
			if !strings.Contains(err.Error(), "redirects are not followed") {
				t.Errorf("error = %q", err)
			}
		})
	}
	t.Cleanup(func() { wantTotal(t, target, 0, " at the redirect target") })
}

func TestNon200(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		code int
		body string
	}{
		{201, activeBody}, // a valid answer under the wrong status is still not trusted
		{202, activeBody},
		{204, ""},
		{400, `{"error":"invalid_request"}`},
		{401, ""},
		{403, `{"error":"access_denied"}`},
		{404, "not found"},
		{429, `{"error":"slow_down"}`},
		{500, "<html><body><h1>Internal Server Error</h1><p>" + testToken + "</p></body></html>"},
		{502, "<html>Bad Gateway</html>"},
		{503, `{"error":"temporarily_unavailable"}`},
	} {
		t.Run(strconv.Itoa(tc.code), func(t *testing.T) {
			t.Parallel()
			as, err := failAt(t, introspectiontest.Reply(tc.code, tc.body))
			mustStatus(t, err, tc.code)
			if strings.Contains(err.Error(), "html") || strings.Contains(err.Error(), "Error<") {
				t.Errorf("error echoes the body: %q", err)
			}
			wantTotal(t, as, 1, " (HTTP answers are never retried)")
		})
	}
}

func TestOAuthErrorField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		want string
	}{
		{`{"error":"invalid_client","error_description":"bad secret"}`, "invalid_client"},
		{`{"error":"urn.vendor-code_1"}`, "urn.vendor-code_1"},
		{`{'error': 'Invalid input'}`, ""},
		{`{"error":"Invalid input"}`, ""},
		{`{"error":"` + strings.Repeat("a", 65) + `"}`, ""},
		{`{"error":"` + strings.Repeat("a", 64) + `"}`, strings.Repeat("a", 64)},
		{`{"error":"<script>"}`, ""},
		{`{"error":"a\nb"}`, ""},
		{`{"error":5}`, ""},
		{`{"error":"` + testToken + `"}`, ""},       // a server echoing the token
		{`{"error":"` + testToken[4:20] + `"}`, ""}, // or a long piece of it
		{`{"error":"` + testSecret + `"}`, ""},      // or our secret
		{`{"error":"bad_` + testToken + `"}`, ""},
		{`["invalid_client"]`, ""},
	} {
		t.Run(tc.body, func(t *testing.T) {
			t.Parallel()
			_, err := failAt(t, introspectiontest.Reply(401, tc.body))
			se := mustStatus(t, err, 401)
			if se.OAuthError != tc.want {
				t.Errorf("OAuthError = %q, want %q", se.OAuthError, tc.want)
			}
			if tc.want == "" && strings.Contains(err.Error(), "(error") {
				t.Errorf("error quotes an unsafe code: %q", err)
			}
		})
	}
}

func TestNewClientErrors(t *testing.T) {
	t.Parallel()
	notPEM := t.TempDir() + "/not.pem"
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	// bearer is edit after switching to auth_method bearer (RFC 6750, a
	// token from token_url).
	bearer := func(edit func(*introspection.Options)) func(*introspection.Options) {
		return func(o *introspection.Options) {
			o.AuthMethod, o.TokenURL = introspection.AuthBearer, "https://idp.acme.example/token"
			edit(o)
		}
	}
	for _, tc := range []struct {
		name string
		edit func(*introspection.Options)
		want string
	}{
		{"empty url", func(o *introspection.Options) { o.URL = "" }, "url"},
		{"relative url", func(o *introspection.Options) { o.URL = "/oauth2/introspect" }, "url"},
		{"ftp url", func(o *introspection.Options) { o.URL = "ftp://idp/x" }, "url"},
		{"bad url", func(o *introspection.Options) { o.URL = "http://[::1" }, "url"},
		{"userinfo", func(o *introspection.Options) { o.URL = "https://u:" + testSecret + "@idp/x" }, "credentials"},
		{"unknown method", func(o *introspection.Options) { o.AuthMethod = "digest" }, "unknown auth_method"},
		{"private_key_jwt", func(o *introspection.Options) { o.AuthMethod = introspection.AuthPrivateKeyJWT }, "private_key_file"},
		{"bearer", func(o *introspection.Options) { o.AuthMethod = introspection.AuthBearer }, "token_url"},
		{"basic without id", func(o *introspection.Options) { o.ClientID = "" }, "client_id"},
		{"post without secret", func(o *introspection.Options) {
			o.AuthMethod, o.ClientSecret = introspection.AuthClientSecretPost, ""
		}, "client_secret"},
		{"negative timeout", func(o *introspection.Options) { o.Timeout = -time.Second }, "timeout"},
		{"header name", func(o *introspection.Options) { o.Headers = map[string]string{"X Bad": "v"} }, "header name"},
		{"header value", func(o *introspection.Options) { o.Headers = map[string]string{"X-Key": testSecret + "\r\nX-Evil: 1"} }, "control character"},
		{"content-type header", func(o *introspection.Options) { o.Headers = map[string]string{"content-type": "text/plain"} }, "Content-Type"},
		{"authorization with basic", func(o *introspection.Options) { o.Headers = map[string]string{"Authorization": "x"} }, "Authorization"},
		{"missing ca_file", func(o *introspection.Options) { o.CAFile = "/nonexistent/ca.pem" }, "ca_file"},
		{"ca_file without PEM", func(o *introspection.Options) { o.CAFile = notPEM }, "no PEM certificate"},
		{"bearer with a relative token_url", bearer(func(o *introspection.Options) { o.TokenURL = "/token" }), "token_url"},
		{"bearer token_url with userinfo", bearer(func(o *introspection.Options) { o.TokenURL = "https://u:" + testSecret + "@idp/token" }), "token_url"},
		{"bearer without secret", bearer(func(o *introspection.Options) { o.ClientSecret = "" }), "client_secret"},
		{"bearer with an Authorization header", bearer(func(o *introspection.Options) { o.Headers = map[string]string{"Authorization": "x"} }), "Authorization"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := options("https://idp.acme.example/oauth2/introspect")
			tc.edit(&opts)
			c, err := introspection.NewClient(opts)
			if err == nil {
				c.Close()
				t.Fatal("NewClient accepted it")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || !strings.Contains(msg, `"acme"`) || strings.Contains(msg, testSecret) {
				t.Errorf("error = %q, want it to mention %q and the tenant, and not the secret", err, tc.want)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %q", err)
			}
		})
	}
	// The zero AuthMethod means client_secret_basic and is valid.
	c, err := introspection.NewClient(options("https://idp.acme.example/oauth2/introspect"))
	if err != nil {
		t.Fatalf("valid options rejected: %v", err)
	}
	c.Close()
}

// Errors must never carry the token or the secret, whatever the server
// sends back.
func TestErrorsNeverLeak(t *testing.T) {
	t.Parallel()
	const secret = "Sup3r-Secret-Value-9"
	echo := testToken + " " + secret
	behaviours := map[string]http.HandlerFunc{
		"401 echo":         introspectiontest.Reply(401, `{"error":"invalid_client","error_description":"`+echo+`"}`),
		"401 token code":   introspectiontest.Reply(401, `{"error":"`+testToken+`"}`),
		"401 secret code":  introspectiontest.Reply(401, `{"error":"`+secret+`"}`),
		"500 html echo":    introspectiontest.Reply(500, "<html>"+echo+"</html>"),
		"200 text echo":    introspectiontest.Reply(200, echo),
		"200 wrong active": introspectiontest.Reply(200, `{"active":"`+testToken+`"}`),
		"200 wrong exp":    introspectiontest.Reply(200, `{"active":true,"exp":"`+testToken+`"}`),
		"200 too big":      introspectiontest.Reply(200, `{"active":true,"x":"`+strings.Repeat(testToken, 40000)+`"}`),
		"redirect": func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/?token="+testToken, http.StatusFound)
		},
		// net/http quotes pieces of a malformed status line in its error.
		"malformed status code": rawResponse("HTTP/1.1 " + testToken + " OK\r\n\r\n"),
		"malformed status line": rawResponse(testToken + " " + secret + "\r\n\r\n"),
	}
	for name, h := range behaviours {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			as := newAS(t, h)
			for _, method := range []introspection.AuthMethod{introspection.AuthClientSecretBasic, introspection.AuthClientSecretPost} {
				opts := options(as.URL)
				opts.AuthMethod, opts.ClientSecret = method, secret
				err := mustRefuse(t, newClient(t, opts))
				msg := err.Error()
				for _, leak := range []string{testToken, testToken[:16], secret, url.QueryEscape(secret)} {
					if strings.Contains(msg, leak) {
						t.Errorf("%s: error %q contains %q", method, msg, leak)
					}
				}
				if len(msg) > 200 {
					t.Errorf("error is %d bytes long: %q", len(msg), msg)
				}
			}
		})
	}
}

func TestOptionsStringRedactsSecret(t *testing.T) {
	t.Parallel()
	opts := options("https://idp/x")
	for _, s := range []string{fmt.Sprint(opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts), fmt.Sprintf("%v", &opts)} {
		if strings.Contains(s, testSecret) {
			t.Errorf("%q contains the secret", s)
		}
		if !strings.Contains(s, "acme") || !strings.Contains(s, "REDACTED") {
			t.Errorf("%q lost the useful fields", s)
		}
	}
}

// rawResponse answers with bytes that need not be valid HTTP.
func rawResponse(raw string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		_, _ = buf.WriteString(raw)
		_ = buf.Flush()
		_ = conn.Close()
	}
}
