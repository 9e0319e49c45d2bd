package redisstore

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tokengate/tokengate/introspection/sharedstore"
)

// ClientOptions says how to reach Redis.
type ClientOptions struct {
	Address   string   // a single server
	Addresses []string // cluster seed addresses (exclusive with Address)
	Username  string
	Password  string
	DB        int
	TLS       *tls.Config // nil: plaintext
	// Timeout bounds each call (default sharedstore.DefaultTimeout);
	// calls are never retried: a slow Redis is a miss, not something to
	// wait for.
	Timeout time.Duration
}

// NewClient returns a client for o. It does not connect yet: connections
// are made on first use, so a Redis that is down at start does not stop
// tokengate from serving. (Where go-redis's own messages go is set for the
// whole process: see RouteRedisLogs.)
func NewClient(o ClientOptions) redis.UniversalClient {
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = sharedstore.DefaultTimeout
	}
	const dial = time.Second // bounded by the caller's context on lookups
	addrs := o.Addresses
	if len(addrs) == 0 {
		addrs = []string{o.Address}
	}
	// One set of options for both kinds: a cluster client ignores DB, a
	// single-server one MaxRedirects.
	u := &redis.UniversalOptions{
		Addrs:                 addrs,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		TLSConfig:             o.TLS,
		DialTimeout:           dial,
		ReadTimeout:           timeout,
		WriteTimeout:          timeout,
		PoolTimeout:           timeout,
		ContextTimeoutEnabled: true,
		MaxRetries:            -1,
		// One dial attempt: go-redis's default of 5 retries would wait out
		// the whole call timeout on a refused connection or a bad
		// certificate, and log "context deadline exceeded" instead of why.
		DialerRetries:   1,
		MaxRedirects:    1,
		DisableIdentity: true,
	}
	if len(o.Addresses) == 0 {
		return redis.NewClient(u.Simple())
	}
	c := u.Cluster() // cluster mode even with one seed address
	// After a failover the slot map is reloaded within a second (go-redis's
	// default is a minute, during which lookups go to the dead master and
	// sharing stays off).
	c.ClusterStateReloadInterval = time.Second
	return redis.NewClusterClient(c)
}

// RouteRedisLogs sends go-redis's own messages (one per failed dial while
// Redis is down, as plain text on stderr by default) to logger at debug
// level: the errors that matter are counted and logged by sharedcache, and
// stderr stays JSON lines. go-redis has one logger for the whole process
// (redis.SetLogger; a client takes none of its own), so this package does
// not set it behind its callers' backs: a program calls this once, at
// start, before it makes clients (tokengate serve does).
func RouteRedisLogs(logger *slog.Logger) { redis.SetLogger(debugLogger{logger}) }

type debugLogger struct{ log *slog.Logger }

func (d debugLogger) Printf(ctx context.Context, format string, v ...any) {
	d.log.DebugContext(ctx, "redis client: "+fmt.Sprintf(format, v...))
}
