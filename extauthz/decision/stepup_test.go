package decision

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection"
)

// withRaw is good() with extra raw claims (acr, auth_time) as a parsed
// response carries them.
func withRaw(extra map[string]string) *introspection.Claims {
	c := good()
	c.Raw = map[string]json.RawMessage{}
	for k, v := range extra {
		c.Raw[k] = json.RawMessage(v)
	}
	return c
}

func TestStepUp(t *testing.T) {
	authAt := func(d time.Duration) string { return itoa(now.Add(-d).Unix()) }
	tests := []struct {
		name      string
		step      StepUp
		claims    map[string]string
		allow     bool
		challenge string
	}{
		{name: "nothing required", allow: true},
		{name: "acr listed", step: StepUp{ACRValues: []string{"silver", "gold"}}, claims: map[string]string{"acr": `"gold"`}, allow: true},
		{name: "acr not listed", step: StepUp{ACRValues: []string{"silver", "gold"}}, claims: map[string]string{"acr": `"bronze"`},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="silver gold"`},
		{name: "acr absent", step: StepUp{ACRValues: []string{"gold"}},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="gold"`},
		{name: "acr not a string", step: StepUp{ACRValues: []string{"1"}}, claims: map[string]string{"acr": `1`},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="1"`},
		{name: "acr compared exactly", step: StepUp{ACRValues: []string{"gold"}}, claims: map[string]string{"acr": `"Gold"`},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="gold"`},
		{name: "acr with escapes", step: StepUp{ACRValues: []string{"urn:a/b"}}, claims: map[string]string{"acr": `"urn:a\/b"`}, allow: true},
		{name: "auth_time recent", step: StepUp{MaxAge: 5 * time.Minute}, claims: map[string]string{"auth_time": authAt(time.Minute)}, allow: true},
		{name: "auth_time within leeway", step: StepUp{MaxAge: 5 * time.Minute}, claims: map[string]string{"auth_time": authAt(5*time.Minute + 30*time.Second)}, allow: true},
		{name: "auth_time beyond leeway", step: StepUp{MaxAge: 5 * time.Minute}, claims: map[string]string{"auth_time": authAt(5*time.Minute + 31*time.Second)},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300"`},
		{name: "auth_time absent", step: StepUp{MaxAge: time.Hour},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="3600"`},
		{name: "auth_time a string", step: StepUp{MaxAge: time.Hour}, claims: map[string]string{"auth_time": `"` + authAt(0) + `"`},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="3600"`},
		{name: "auth_time fractional", step: StepUp{MaxAge: time.Hour}, claims: map[string]string{"auth_time": authAt(time.Minute) + ".5"}, allow: true},
		{name: "auth_time absurd", step: StepUp{MaxAge: time.Hour}, claims: map[string]string{"auth_time": `1e300`},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="3600"`},
		{name: "both: acr checked first", step: StepUp{ACRValues: []string{"gold"}, MaxAge: time.Hour}, claims: map[string]string{"acr": `"bronze"`},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a stronger authentication is required", acr_values="gold", max_age="3600"`},
		{name: "both: acr fine, auth_time old", step: StepUp{ACRValues: []string{"gold"}, MaxAge: time.Minute}, claims: map[string]string{"acr": `"gold"`, "auth_time": authAt(time.Hour)},
			challenge: `Bearer realm="acme", error="insufficient_user_authentication", error_description="a more recent authentication is required", acr_values="gold", max_age="60"`},
		{name: "both satisfied", step: StepUp{ACRValues: []string{"gold"}, MaxAge: time.Minute}, claims: map[string]string{"acr": `"gold"`, "auth_time": authAt(time.Second)}, allow: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy()
			p.StepUp = tc.step
			d := Decide(p, withRaw(tc.claims), now, Binding{})
			if d.Allow != tc.allow {
				t.Fatalf("Allow = %v (%s), want %v", d.Allow, d.Reason, tc.allow)
			}
			if tc.allow {
				return
			}
			if d.Reason != InsufficientUserAuthentication || d.Status != 401 || d.Error != "insufficient_user_authentication" {
				t.Errorf("got %+v", d)
			}
			if got := d.Challenge(); got != tc.challenge {
				t.Errorf("challenge\n got %s\nwant %s", got, tc.challenge)
			}
		})
	}
}

// TestStepUpAfterScopes: the order of checks puts scopes (and everything
// before them) first.
func TestStepUpAfterScopes(t *testing.T) {
	p := policy()
	p.StepUp = StepUp{ACRValues: []string{"gold"}}
	c := withRaw(nil)
	c.Scopes = nil
	if d := Decide(p, c, now, Binding{}); d.Reason != InsufficientScope {
		t.Errorf("reason %s, want insufficient_scope", d.Reason)
	}
	c = withRaw(nil)
	c.Audience = []string{"api://elsewhere"}
	if d := Decide(p, c, now, Binding{}); d.Reason != Audience {
		t.Errorf("reason %s, want audience", d.Reason)
	}
}

func TestDenyPolicyAndShadow(t *testing.T) {
	d := DenyPolicy()
	if d.Allow || d.Status != 403 || d.Reason != PolicyDenied || d.Challenge() != "" ||
		string(d.Body()) != `{"error":"access_denied","error_description":"the request does not meet the route's conditions"}` {
		t.Errorf("DenyPolicy = %+v, %s", d, d.Body())
	}
	if s := AllowShadow(); !s.Allow || s.Reason != Shadow {
		t.Errorf("AllowShadow = %+v", s)
	}
	for _, tc := range []struct {
		d    Decision
		want bool
	}{
		{DenyMalformedRequest(), false},
		{DenyDuplicatedHeader(), false},
		{DenyNoRoute(), true},
		{DenyMalformedToken("acme"), true},
		{DenyPolicy(), true},
		{DenyIntrospectionError(), true},
		{Decision{Allow: true, Reason: Allowed}, false},
	} {
		if got := Shadowable(tc.d); got != tc.want {
			t.Errorf("Shadowable(%s) = %v", tc.d.Reason, got)
		}
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }
