package app

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testpeers/redisserver"
	"github.com/tokengate/tokengate/testsupport"
)

// A reload that points a tenant at another authorization server never
// answers from what the old one said: neither from the local cache nor
// from Redis (issue 12, item 2). The new server says inactive.
func TestReloadToAnotherServerAsksIt(t *testing.T) {
	for _, withRedis := range []bool{false, true} {
		name := "local cache"
		if withRedis {
			name = "local cache and redis"
		}
		t.Run(name, func(t *testing.T) {
			oldAS, newAS := introspectiontest.New(t), introspectiontest.New(t)
			oldAS.Claims("tok", goodClaims(nil))
			cfg := testConfig(oldAS.URL)
			if withRedis {
				rs := redisserver.Start(t)
				cfg += "redis:\n  address: \"" + rs.Addr() + "\"\n  key_prefix: \"tgtest:\"\n  timeout: 200ms\n"
			}
			path := testsupport.WriteConfig(t, cfg)
			h := startHarnessAt(t, path)
			if a := h.check(t, orders("tok")); !a.allow {
				t.Fatalf("at the old server: %s", a.reason)
			}
			if withRedis {
				testsupport.WaitFor(t, 3*time.Second, "the answer written to Redis", func() bool { return h.srv.Shared().Stats().Writes.Load() > 0 })
			}

			moved := strings.Replace(cfg, oldAS.URL+"/oauth2/introspect", newAS.URL+"/oauth2/introspect", 1)
			if moved == cfg {
				t.Fatal("the test config did not change")
			}
			testsupport.WriteFile(t, path, moved)
			if err := h.srv.Reload(context.Background()); err != nil {
				t.Fatal(err)
			}
			if a := h.check(t, orders("tok")); a.allow || a.reason != "inactive" {
				t.Fatalf("after the move: allow=%v reason %s, want a deny for inactive", a.allow, a.reason)
			}
			if n := newAS.Calls("tok"); n != 1 {
				t.Fatalf("the new server was asked %d times, want 1", n)
			}
			if n := oldAS.Calls("tok"); n != 1 {
				t.Fatalf("the old server was asked %d times, want 1", n)
			}
		})
	}
}
