package decision

import (
	"encoding/json"
	"strings"
)

// Challenge is the WWW-Authenticate value of a deny, or "" when the contract
// gives that row none. Attribute order is fixed: realm, error,
// error_description, scope. Every value placed here comes from config
// (validated to be quote-free) or from this package's constant texts, so no
// escaping is needed.
func (d Decision) Challenge() string {
	if d.Allow || d.Realm == "" {
		return ""
	}
	var b strings.Builder
	b.WriteString(`Bearer realm="`)
	b.WriteString(d.Realm)
	b.WriteByte('"')
	if d.Reason == MissingToken {
		return b.String()
	}
	b.WriteString(`, error="`)
	b.WriteString(d.Error)
	b.WriteString(`", error_description="`)
	b.WriteString(d.Description)
	b.WriteByte('"')
	if d.Scope != "" {
		b.WriteString(`, scope="`)
		b.WriteString(d.Scope)
		b.WriteByte('"')
	}
	return b.String()
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
