package introspection

// Middleware is one layer of a tenant's decorator chain: it returns an
// Introspector that does something around next (a cache, a circuit
// breaker, a concurrency limit, metrics), the way otelhttp.NewTransport
// wraps an http.RoundTripper. Every layer has this one shape, so the order
// of the layers is stated once, by the Chain call that assembles them,
// rather than by nested constructor calls read inside out.
//
// A Middleware is called once per chain built (at start and on every
// reload). The Introspector it returns must be safe for concurrent use if
// next is. State that must outlive a rebuilt chain (a cache store, a
// breaker's state) belongs to whoever made the Middleware, not to the
// Introspector it returns.
type Middleware func(next Introspector) Introspector

// Chain returns client behind the layers, the first one outermost:
// Chain(c, a, b) is a(b(c)), so a call goes through a, then b, then
// reaches c. A nil Middleware is skipped, so a layer that is off can be
// left in the list.
func Chain(client Introspector, outermostFirst ...Middleware) Introspector {
	next := client
	for i := len(outermostFirst) - 1; i >= 0; i-- {
		if m := outermostFirst[i]; m != nil {
			next = m(next)
		}
	}
	return next
}
