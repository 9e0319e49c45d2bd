package tenant

import (
	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/introspection"
)

// EventsKeys is the key set of the tenant's revocation events (nil with
// events off): the JWT access tokens' key set when both come from the
// same place (the same jwks_url, or both discovered from the same
// issuer), else a new one on the tenant's transport: events.jwks_url, or
// the jwks_uri of KeysIssuer's metadata. Fetches are counted as the JWT
// key set's are (tokengate_jwks_fetches_total).
func (r *Runtime) EventsKeys(cfg *config.Tenant, env Env) (*introspection.JWKS, error) {
	e := &cfg.Events
	if !e.On() {
		return nil, nil
	}
	if r.jwks != nil && e.JWKSURL == cfg.JWT.JWKSURL && (e.JWKSURL != "" || cfg.KeysIssuer() == cfg.Issuer) {
		return r.jwks, nil
	}
	return keySet(cfg, e.JWKSURL, cfg.KeysIssuer(), r.http, env, "events")
}
