package config

import (
	"reflect"
	"testing"
	"time"
)

func TestRoutePolicy(t *testing.T) {
	cfg := mustParseFixture(t, "valid/route_policy.yaml")
	pay, orgs := cfg.Routes[0], cfg.Routes[1]
	if !reflect.DeepEqual(pay.ACRValues, []string{"urn:acme:mfa", "phr"}) || pay.MaxAge != 5*time.Minute {
		t.Errorf("payments: acr_values %q, max_age %v", pay.ACRValues, pay.MaxAge)
	}
	if pay.When != nil || pay.Conditions != nil || pay.Shadow {
		t.Errorf("payments: when %q, conditions %v, shadow %v", pay.When, pay.Conditions, pay.Shadow)
	}
	if len(orgs.When) != 2 || orgs.Conditions == nil || orgs.Conditions.Len() != 2 || !orgs.Shadow {
		t.Fatalf("orgs: when %q, conditions %v, shadow %v", orgs.When, orgs.Conditions, orgs.Shadow)
	}
	if u := orgs.Conditions.Uses(); !u.Segments || u.Headers {
		t.Errorf("orgs: uses %+v, want segments only", u)
	}
	if orgs.ACRValues != nil || orgs.MaxAge != 0 {
		t.Errorf("orgs: acr_values %q, max_age %v", orgs.ACRValues, orgs.MaxAge)
	}
}

// TestRoutePolicyDiff: the same conditions, compiled again on reload, are
// no change; other text is.
func TestRoutePolicyDiff(t *testing.T) {
	a := mustParseFixture(t, "valid/route_policy.yaml")
	b := mustParseFixture(t, "valid/route_policy.yaml")
	if c := Diff(a, b); !c.Empty() {
		t.Errorf("same file: %+v", c)
	}
	b.Routes[1].When = []string{"true"}
	if c := Diff(a, b); !reflect.DeepEqual(c.RoutesChanged, []string{"orgs"}) {
		t.Errorf("changed when: %+v", c)
	}
}
