package events

import (
	"encoding/json"
	"math"
	"net/http"
	"time"
)

// Problem is why an event was refused: Code is an RFC 8935 §2.3 error code
// (invalid_request, invalid_key, invalid_issuer, invalid_audience,
// authentication_failed, access_denied), Description a short text for the
// sender (never a token or a part of one), Status the HTTP status.
type Problem struct {
	Status      int
	Code        string
	Description string
	// Result is the metric's result word (rejected, replayed, limited,
	// too_large, error).
	Result string
}

func (p *Problem) Error() string { return p.Code + ": " + p.Description }

// invalid is a 400 with code.
func invalid(code, desc string) *Problem {
	return &Problem{Status: http.StatusBadRequest, Code: code, Description: desc, Result: "rejected"}
}

// payload is a verified JWT payload, its members unparsed.
type payload map[string]json.RawMessage

func parsePayload(b []byte) (payload, *Problem) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil || p == nil {
		return nil, invalid("invalid_request", "the payload is not a JSON object")
	}
	return p, nil
}

// has reports whether member name is present and not null.
func (p payload) has(name string) bool {
	raw, ok := p[name]
	return ok && string(raw) != "null"
}

// str is member name as a string: ok false when absent or null, a
// Problem when of another type.
func (p payload) str(name string) (string, bool, *Problem) {
	if !p.has(name) {
		return "", false, nil
	}
	var s string
	if err := json.Unmarshal(p[name], &s); err != nil {
		return "", false, invalid("invalid_request", name+" is not a string")
	}
	return s, true, nil
}

// date is member name as a NumericDate (seconds, fractions allowed).
func (p payload) date(name string) (time.Time, bool, *Problem) {
	if !p.has(name) {
		return time.Time{}, false, nil
	}
	return numericDate(p[name], name)
}

func numericDate(raw json.RawMessage, name string) (time.Time, bool, *Problem) {
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
		return time.Time{}, false, invalid("invalid_request", name+" is not a NumericDate")
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, nil
}

// audience is the aud member: a string or an array of strings.
func (p payload) audience() ([]string, *Problem) {
	if !p.has("aud") {
		return nil, nil
	}
	var one string
	if json.Unmarshal(p["aud"], &one) == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(p["aud"], &many); err != nil {
		return nil, invalid("invalid_audience", "aud is not a string or an array of strings")
	}
	return many, nil
}

// issuedFor checks the token's issuer and audience: iss must be issuer
// and aud contain audience, else invalid_issuer or invalid_audience, the
// description naming the expected value as issuerIs and audienceIs do.
func (p payload) issuedFor(issuer, issuerIs, audience, audienceIs string) *Problem {
	iss, _, prob := p.str("iss")
	if prob != nil {
		return prob
	}
	if iss != issuer {
		return invalid("invalid_issuer", "iss is not "+issuerIs)
	}
	aud, prob := p.audience()
	if prob != nil {
		return prob
	}
	if !contains(aud, audience) {
		return invalid("invalid_audience", "aud does not contain "+audienceIs)
	}
	return nil
}

// object is member name as a JSON object.
func (p payload) object(name string) (payload, bool, *Problem) {
	if !p.has(name) {
		return nil, false, nil
	}
	var o payload
	if err := json.Unmarshal(p[name], &o); err != nil || o == nil {
		return nil, false, invalid("invalid_request", name+" is not a JSON object")
	}
	return o, true, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
