package grpcauthz

import (
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tokengate/tokengate/extauthz/check"
)

// denyMetadata is a deny's Envoy dynamic metadata (the contract's
// "Decisions"): reason always, tenant and route once a route was found,
// sub and client_id when the deny was decided on the token's claims.
// Envoy puts it under the filter's namespace (envoy.filters.http.ext_authz),
// for access logs and rate limits. Empty values are left out, as on allows.
func denyMetadata(out *check.Outcome) *structpb.Struct {
	var sub, clientID string
	if c := out.Claims; c != nil {
		sub, clientID = c.Subject, c.ClientID
	}
	kv := [...]struct{ k, v string }{
		{"reason", string(out.Decision.Reason)}, {"tenant", out.Tenant}, {"route", out.Route},
		{"sub", sub}, {"client_id", clientID},
	}
	// One allocation for the Struct and every Value (two each with
	// structpb.NewStringValue), one for the map.
	buf := new(denyMetadataBuf)
	buf.s.Fields = make(map[string]*structpb.Value, len(kv))
	for i, e := range kv {
		if e.v == "" {
			continue
		}
		buf.str[i].StringValue = e.v
		buf.val[i].Kind = &buf.str[i]
		buf.s.Fields[e.k] = &buf.val[i]
	}
	return &buf.s
}

// denyMetadataBuf holds a deny's metadata in one allocation.
type denyMetadataBuf struct {
	s   structpb.Struct
	val [5]structpb.Value
	str [5]structpb.Value_StringValue
}
