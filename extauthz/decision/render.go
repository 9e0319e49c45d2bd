package decision

import (
	"encoding/json"
	"strings"
)

// Challenge is the WWW-Authenticate value of a deny, or "" when the contract
// gives that row none. The scheme is DPoP (RFC 9449 §7.1) when DPoPAlgs is
// set, else Bearer (RFC 6750 §3). Attribute order is fixed: realm, error,
// error_description, acr_values, max_age, scope, algs. Every value placed
// here comes from config (validated to be quote-free) or from constant texts
// (this package's and dpop's proof errors), so no escaping is needed.
func (d Decision) Challenge() string {
	if d.Allow || d.Realm == "" {
		return ""
	}
	var b strings.Builder
	if d.DPoPAlgs != "" {
		b.WriteString(`DPoP realm="`)
	} else {
		b.WriteString(`Bearer realm="`)
	}
	b.WriteString(d.Realm)
	b.WriteByte('"')
	if d.Reason != MissingToken {
		quotedParam(&b, "error", d.Error)
		quotedParam(&b, "error_description", d.Description)
	}
	for _, p := range [...]struct{ name, value string }{
		{"acr_values", d.ACRValues}, {"max_age", d.MaxAge}, {"scope", d.Scope}, {"algs", d.DPoPAlgs},
	} {
		if p.value != "" {
			quotedParam(&b, p.name, p.value)
		}
	}
	return b.String()
}

// quotedParam appends `, name="value"` to a challenge.
func quotedParam(b *strings.Builder, name, value string) {
	b.WriteString(", ")
	b.WriteString(name)
	b.WriteString(`="`)
	b.WriteString(value)
	b.WriteByte('"')
}

// Body is the JSON body of a deny: {"error":"...","error_description":"..."}.
func (d Decision) Body() []byte {
	body, err := json.Marshal(struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}{d.Error, d.Description})
	if err != nil { // cannot happen for two strings; keep a valid body anyway
		return []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	return body
}
