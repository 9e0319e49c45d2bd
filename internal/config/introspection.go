package config

import (
	"strings"

	"github.com/tokengate/tokengate/httpsyntax"
	"github.com/tokengate/tokengate/introspection"
)

// words is the config-file spelling of an enum's values, for d.enum.
func words[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// introspection decodes parent.introspection into the client's options
// (Introspection is introspection.Options): the auth methods, the response
// formats and the defaults are that package's.
func (d *decoder) introspection(parent *object) Introspection {
	o := d.object(parent.values["introspection"], join(parent.path, "introspection"),
		"url", "auth_method", "client_id", "client_secret", "client_secret_file", "private_key_file",
		"key_id", "token_url", "response_format", "jwks_url", "assertion_audience", "token_type_hint",
		"timeout", "ca_file", "insecure_skip_verify", "headers")
	at := func(key string) string { return join(o.path, key) }
	in := Introspection{
		AuthMethod:     introspection.DefaultAuthMethod,
		ResponseFormat: introspection.DefaultResponseFormat,
		TokenTypeHint:  introspection.DefaultTokenTypeHint,
		Timeout:        d.durationDefault(o, "timeout", introspection.DefaultTimeout, true),
	}

	url, urlSt := d.str(o, "url")
	in.URL = url
	switch {
	case urlSt == absent:
		d.required(o, "url")
	case urlSt == set && url == "":
		d.errorf(at("url"), "must not be empty")
	case urlSt == set:
		d.checkURL(at("url"), in.URL)
	}

	methodOK := true
	if v, st := d.str(o, "auth_method"); st == set {
		methodOK = d.enum(at("auth_method"), v, words(introspection.AuthMethods())...)
		in.AuthMethod = introspection.AuthMethod(v)
	} else if st == invalid {
		methodOK = false
	}
	m := in.AuthMethod
	// only reports a non-empty key that the auth method does not use.
	only := func(key, value string, allowed bool, when string) {
		if value != "" && !allowed && methodOK {
			d.errorf(at(key), "only allowed with %s (auth_method is %s)", when, m)
		}
	}

	var idSt state
	in.ClientID, idSt = d.str(o, "client_id")
	if in.ClientID == "" && idSt != invalid && m != introspection.AuthNone && methodOK && !o.invalid {
		d.errorf(at("client_id"), "required with auth_method %s", m)
	}

	usesSecret := m == introspection.AuthClientSecretBasic || m == introspection.AuthClientSecretPost || m == introspection.AuthBearer
	secret, secretSt := d.str(o, "client_secret")
	secretFile, secretFileSt := d.str(o, "client_secret_file")
	switch {
	case !methodOK || o.invalid:
	case !usesSecret:
		only("client_secret", secret, false, "client_secret_basic, client_secret_post or bearer")
		only("client_secret_file", secretFile, false, "client_secret_basic, client_secret_post or bearer")
	case secret != "" && secretFile != "":
		d.errorf(o.path, "client_secret and client_secret_file are exclusive: give one of them")
	case secret != "":
		in.ClientSecret = secret
	case secretFile != "":
		in.ClientSecret, _ = d.secretFile(at("client_secret_file"), d.file(at("client_secret_file"), secretFile))
	case secretSt == set:
		d.errorf(at("client_secret"), "must not be empty")
	case secretFileSt == set:
		d.errorf(at("client_secret_file"), "must not be empty")
	case secretSt == absent && secretFileSt == absent:
		d.errorf(o.path, "client_secret or client_secret_file is required with auth_method %s", m)
	}

	keyFile, keySt := d.str(o, "private_key_file")
	only("private_key_file", keyFile, m == introspection.AuthPrivateKeyJWT, string(introspection.AuthPrivateKeyJWT))
	if m == introspection.AuthPrivateKeyJWT && methodOK && keySt != invalid && !o.invalid {
		if keyFile == "" {
			d.errorf(at("private_key_file"), "required with auth_method private_key_jwt")
		} else {
			in.PrivateKeyFile = d.file(at("private_key_file"), keyFile)
			d.checkSigningKey(at("private_key_file"), in.PrivateKeyFile)
		}
	}
	in.KeyID, _ = d.str(o, "key_id")
	only("key_id", in.KeyID, m == introspection.AuthPrivateKeyJWT, string(introspection.AuthPrivateKeyJWT))
	in.AssertionAudience, _ = d.str(o, "assertion_audience")
	only("assertion_audience", in.AssertionAudience, m == introspection.AuthPrivateKeyJWT, string(introspection.AuthPrivateKeyJWT))
	if m != introspection.AuthPrivateKeyJWT {
		in.KeyID, in.AssertionAudience = "", ""
	} else if in.AssertionAudience == "" {
		in.AssertionAudience = in.URL
	}

	in.TokenURL, _ = d.str(o, "token_url")
	only("token_url", in.TokenURL, m == introspection.AuthBearer, string(introspection.AuthBearer))
	switch {
	case m != introspection.AuthBearer:
		in.TokenURL = ""
	case in.TokenURL != "":
		d.checkURL(at("token_url"), in.TokenURL)
	case methodOK && !o.invalid:
		d.errorf(at("token_url"), "required with auth_method bearer")
	}

	if v, st := d.str(o, "response_format"); st == set {
		d.enum(at("response_format"), v, words(introspection.ResponseFormats())...)
		in.ResponseFormat = introspection.ResponseFormat(v)
	}
	in.JWKSURL, _ = d.str(o, "jwks_url")
	switch {
	case in.ResponseFormat != introspection.ResponseJWT && in.JWKSURL != "":
		d.errorf(at("jwks_url"), "only allowed with response_format jwt")
	case in.ResponseFormat == introspection.ResponseJWT && in.JWKSURL == "":
		d.errorf(at("jwks_url"), "required with response_format jwt")
	case in.JWKSURL != "":
		d.checkURL(at("jwks_url"), in.JWKSURL)
	}

	if v, st := d.str(o, "token_type_hint"); st == set {
		if !httpsyntax.IsSafeValue(v) {
			d.errorf(at("token_type_hint"), "must not contain control characters")
		}
		in.TokenTypeHint = v
	}
	if v, _ := d.str(o, "ca_file"); v != "" {
		in.CAFile = d.file(at("ca_file"), v)
		d.checkCertPool(at("ca_file"), in.CAFile)
	}
	in.InsecureSkipVerify, _ = d.boolean(o, "insecure_skip_verify")
	in.Headers = d.requestHeaders(o, m)
	return in
}

// requestHeaders decodes the extra headers sent to the authorization
// server. Values are never shown in errors: they often hold API keys.
func (d *decoder) requestHeaders(o *object, method introspection.AuthMethod) map[string]string {
	pairs, _ := d.pairs(o, "headers")
	if len(pairs) == 0 {
		return nil
	}
	out := make(map[string]string, len(pairs))
	seen := map[string]string{}
	for _, p := range pairs {
		lower := strings.ToLower(p.key)
		switch {
		case !httpsyntax.IsToken(p.key):
			d.errorf(p.path, "%q is not a valid header name", p.key)
		case reservedRequestHeaders[lower]:
			d.errorf(p.path, "header %q is set by tokengate and cannot be configured", lower)
		case lower == "authorization" && (method == introspection.AuthClientSecretBasic || method == introspection.AuthBearer):
			d.errorf(p.path, "header \"authorization\" is set by auth_method %s", method)
		case seen[lower] != "":
			d.errorf(p.path, "header %q is also set by %s", lower, seen[lower])
		case !httpsyntax.IsSafeValue(p.value):
			d.errorf(p.path, "value must not contain CR, LF, NUL or other control characters")
		default:
			seen[lower] = p.path
			out[p.key] = p.value
		}
	}
	return out
}
