package config

import (
	"reflect"
	"testing"
)

// TestJWTFixtures: the jwt section of the JWT fixtures decodes with its
// defaults; introspection is optional in mode local only.
func TestJWTFixtures(t *testing.T) {
	local := mustParseFixture(t, "valid/jwt_local.yaml").Tenants[0]
	checkEqual(t, "local", local.JWT, JWT{Mode: "local", Algorithms: []string{"ES256", "RS256"}, Types: []string{}})
	if local.HasIntrospection() || !local.JWT.On() {
		t.Errorf("local: HasIntrospection %v, On %v", local.HasIntrospection(), local.JWT.On())
	}
	lti := mustParseFixture(t, "valid/jwt_local_then_introspect.yaml").Tenants[0]
	checkEqual(t, "local_then_introspect", lti.JWT, JWT{Mode: "local_then_introspect",
		JWKSURL: "https://idp.acme.example/jwks", Algorithms: DefaultJWTAlgorithms(), Types: DefaultJWTTypes()})
	if !lti.HasIntrospection() {
		t.Error("local_then_introspect: no introspection")
	}
	off := mustParseFixture(t, "valid/minimal.yaml").Tenants[0]
	if off.JWT.On() || !reflect.DeepEqual(off.JWT, DefaultJWT()) {
		t.Errorf("absent jwt: %+v", off.JWT)
	}
}

// TestJWTKey: the reuse key tells every setting apart.
func TestJWTKey(t *testing.T) {
	base := DefaultJWT()
	keys := map[string]string{base.Key(): "default"}
	for name, j := range map[string]JWT{
		"mode":     {Mode: "local", Algorithms: base.Algorithms, Types: base.Types},
		"url":      {Mode: "off", JWKSURL: "https://x/jwks", Algorithms: base.Algorithms, Types: base.Types},
		"algs":     {Mode: "off", Algorithms: []string{"ES256"}, Types: base.Types},
		"any typ":  {Mode: "off", Algorithms: base.Algorithms, Types: []string{}},
		"one typ":  {Mode: "off", Algorithms: base.Algorithms, Types: []string{"JWT"}},
		"two typs": {Mode: "off", Algorithms: base.Algorithms, Types: []string{"JWT", "at+jwt"}},
	} {
		k := j.Key()
		if other, dup := keys[k]; dup {
			t.Errorf("%s and %s have one key %q", name, other, k)
		}
		keys[k] = name
	}
}
