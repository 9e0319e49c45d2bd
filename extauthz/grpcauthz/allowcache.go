package grpcauthz

import (
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/extauthz/decision"
	"github.com/tokengate/tokengate/extauthz/internal/memo"
	"github.com/tokengate/tokengate/introspection"
)

// allowCache holds the encoded allow responses of one snapshot's routes.
// What an allow renders depends only on the claims it was decided on and
// the route (which fixes the tenant and its header settings), and the token
// cache hands out the same *Claims for as long as it keeps an answer, so
// the pair is the key. Encoding the response (its Struct metadata above
// all) is most of what a cached check costs otherwise: see internal/app's
// BenchmarkGRPCCheckCached and BenchmarkAdapterCached.
type allowCache struct {
	// snap is the snapshot the keys' routes belong to. A reload starts a
	// new cache, so that entries keyed by the old routes do not keep the
	// old snapshot, and its tenants' token caches, alive.
	snap    *check.Snapshot
	entries *memo.Cache[allowKey, *authv3.CheckResponse]
}

type allowKey struct {
	claims *introspection.Claims
	route  *check.Route
	// reason is the allow's (allowed, or shadow on a route in shadow
	// mode): the response's status message.
	reason decision.Reason
}

// response is Response(out), except that an allow decided on claims is
// rendered and encoded once and then shared from the allow cache (gRPC
// only reads it). snap is the snapshot in use when the check started.
func (s *Server) response(snap *check.Snapshot, out *check.Outcome) *authv3.CheckResponse {
	if !out.Decision.Allow || out.Claims == nil || out.RouteRef == nil {
		return Response(out)
	}
	key := allowKey{claims: out.Claims, route: out.RouteRef, reason: out.Decision.Reason}
	c := s.allows.Load()
	if c != nil && c.snap == snap {
		if resp, ok := c.entries.Load(key); ok {
			return resp
		}
	}
	resp := preEncoded(Response(out))
	if s.checker.Snapshot() != snap {
		return resp // a reload during the check: out's route may be another snapshot's
	}
	if c == nil || c.snap != snap {
		fresh := &allowCache{snap: snap, entries: memo.New[allowKey, *authv3.CheckResponse](s.allowEntries)}
		if !s.allows.CompareAndSwap(c, fresh) {
			return resp // another check started it: the next allow fills it
		}
		c = fresh
	}
	c.entries.Store(key, resp)
	return resp
}
