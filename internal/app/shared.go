package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

	"github.com/tokengate/tokengate/internal/config"
	"github.com/tokengate/tokengate/internal/telemetry"
	"github.com/tokengate/tokengate/introspection"
	"github.com/tokengate/tokengate/introspection/cache"
	"github.com/tokengate/tokengate/introspection/revocation"
	"github.com/tokengate/tokengate/introspection/sharedcache"
	"github.com/tokengate/tokengate/introspection/sharedstore/redisstore"
)

// The redis and admin sections are fixed at start, like the listeners: a
// reload that changes them keeps the running ones (and says so).

// redisTLS is the client TLS configuration of the redis section (nil:
// plaintext): the server verified against the system roots, an optional
// client certificate.
func redisTLS(r *config.Redis) (*tls.Config, error) {
	if r.TLS == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(r.TLS.CertFile, r.TLS.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: loading client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	if r.TLS.CAFile != "" {
		pool, err := introspection.RootsWithCA(r.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis.tls: %w", err)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// startShared makes the redis section's store and shared cache, and the
// revoker. Without redis there is neither store nor shared cache, and the
// revoker evicts this replica's local caches only (the admin listener's
// revocations).
func (s *Server) startShared(cfg *config.Config) error {
	r := cfg.Redis
	if r == nil {
		s.revoker = revocation.New(revocation.Options{Logger: s.log})
		return nil
	}
	tlsConf, err := redisTLS(r)
	if err != nil {
		return err
	}
	s.store = redisstore.New(redisstore.NewClient(redisstore.ClientOptions{
		Address: r.Address, Addresses: r.Addresses, Username: r.Username, Password: r.Password,
		DB: r.DB, TLS: tlsConf, Timeout: r.Timeout,
	}), r.KeyPrefix)
	s.revoker = revocation.New(revocation.Options{Store: s.store, Logger: s.log})
	o := sharedcache.Options{Store: s.store, Timeout: r.Timeout, IndexTTL: s.revoker.MarkerTTL, Logger: s.log}
	if r.SigningKey != "" {
		o.SigningKey = []byte(r.SigningKey)
	}
	s.shared = sharedcache.New(o)
	return nil
}

// closeShared waits for the shared cache's writes and stops receiving
// revocations, then closes the store, which both use until then.
func (s *Server) closeShared() {
	s.shared.Close()
	s.revoker.Close()
	if s.store == nil {
		return
	}
	if err := s.store.Close(); err != nil {
		s.log.Warn("shared cache close", slog.String("error", err.Error()))
	}
}

// stores is each tenant's local cache store, which revocations evict from.
func (b *built) stores() map[string]*cache.Store {
	m := make(map[string]*cache.Store, len(b.tenants))
	for name, t := range b.tenants {
		m[name] = t.Store()
	}
	return m
}

// Shared is the shared cache (nil without a redis section).
func (s *Server) Shared() *sharedcache.Shared { return s.shared }

// stopShared stops the admin listener, the revoker and the store.
func (s *Server) stopShared(ctx context.Context) {
	if s.admin != nil {
		if err := s.admin.Shutdown(ctx); err != nil {
			_ = s.admin.Close() // forced, as for the HTTP listener
		}
		<-s.adminDone
	}
	s.closeShared()
}

// sharedStats reads the shared cache's and the revoker's counters for the
// metrics (the lookups all 0 without redis).
func (s *Server) sharedStats() telemetry.SharedStats {
	st, rv := s.shared.Stats(), s.revoker.Stats()
	return telemetry.SharedStats{
		Lookups: map[string]int64{
			"hit": st.Hits.Load(), "miss": st.Misses.Load(), "error": st.Errors.Load(),
			"skipped": st.Skipped.Load(), "revoked": st.Revoked.Load(), "forged": st.Forged.Load(),
			"replay_fallback": st.ReplayFallbacks.Load(),
		},
		Revocations: map[string]int64{"local": rv.Revocations.Load(), "remote": rv.Received.Load()},
	}
}
