package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/introspection/introspectiontest"
	"github.com/tokengate/tokengate/testsupport"
)

// The reload tests change the orders-read route's scopes from orders.read
// to orders.admin: a token with orders.read goes from allow to 403.

// reloadFixture serves the suite's config in front of as, where
// tok-reload is good, and checks it is allowed.
func reloadFixture(t *testing.T, as *introspectiontest.Server) (*proc, cfg, string, func() answer) {
	t.Helper()
	as.Claims("tok-reload", goodClaims(nil))
	c := cfg{as: as.URL}
	path := c.write(t)
	p := startServe(t, path, serveOpts{env: acmeEnv})
	check := func() answer { return p.check(t, req{auth: bearer("tok-reload")}) }
	if a := check(); !a.allow {
		t.Fatalf("before the reload: %d %v", a.status, a.body)
	}
	return p, c, path, check
}

func newScopes(c cfg) string {
	c.readScopes = []string{"orders.admin"}
	return c.String()
}

// isNewConfig: the check was decided by the new scopes.
func isNewConfig(a answer) bool {
	return a.status == 403 && strings.HasSuffix(a.challenge, `scope="orders.admin"`)
}

func failedReload(l logLine) bool {
	return l.str("msg") == "config reload failed, keeping the old config"
}

func TestReloadOnSIGHUP(t *testing.T) {
	t.Parallel()
	p, c, path, check := reloadFixture(t, newAS(t))

	// An invalid file: logged, counted, the old config stays.
	mark := p.mark()
	replaceFile(t, path, c.String()+"bogus_top_level_key: 1\n")
	p.signal(t, syscall.SIGHUP)
	line := p.waitLog(t, 10*time.Second, mark, failedReload)
	if !strings.Contains(line.raw, "bogus_top_level_key") {
		t.Errorf("the failure does not name the error: %s", line.raw)
	}
	testsupport.WaitFor(t, 5*time.Second, "tokengate_config_reloads_total{result=failure} >= 1", func() bool {
		return p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "failure"}) >= 1
	})
	if a := check(); !a.allow {
		t.Fatalf("after an invalid reload: %d %v, want the old config's allow", a.status, a.body)
	}
	if code, _, _ := httpDo(t, "GET", "http://"+p.httpAddr+"/readyz", nil, ""); code != 200 {
		t.Errorf("/readyz after a failed reload: %d", code)
	}

	// A valid file replaces the config for new checks.
	mark = p.mark()
	replaceFile(t, path, newScopes(c))
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, 10*time.Second, mark, msgIs("config reloaded"))
	if a := check(); !isNewConfig(a) {
		t.Fatalf("after a valid reload: %d %q, want 403 with scope=\"orders.admin\"", a.status, a.challenge)
	}
	if v := p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "success"}); v < 1 {
		t.Errorf("tokengate_config_reloads_total{result=success} = %v", v)
	}
	// The listeners did not move.
	if code, _, _ := httpDo(t, "GET", "http://"+p.httpAddr+"/readyz", nil, ""); code != 200 {
		t.Errorf("/readyz after the reload: %d", code)
	}

	// SIGHUP alone (the file unchanged, so no file watch is involved)
	// reloads: one more success.
	time.Sleep(300 * time.Millisecond) // let any reload from the file watch finish
	before := p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "success"})
	mark = p.mark()
	p.signal(t, syscall.SIGHUP)
	p.waitLog(t, 10*time.Second, mark, msgIs("config reloaded"))
	testsupport.WaitFor(t, 5*time.Second, "one more successful reload", func() bool {
		return p.metric(t, "tokengate_config_reloads_total", map[string]string{"result": "success"}) == before+1
	})
}

// waitNewConfig polls the check until the new config decides it; the
// contract allows 2 s, the poll gives up at 5 s.
func waitNewConfig(t *testing.T, check func() answer, changed time.Time) {
	t.Helper()
	for {
		a := check()
		if isNewConfig(a) {
			if el := time.Since(changed); el > 2500*time.Millisecond {
				t.Errorf("the new config took %v to take effect, want within 2s", el.Round(time.Millisecond))
			}
			return
		}
		if !a.allow {
			t.Fatalf("neither the old nor the new config's answer: %d %q", a.status, a.challenge)
		}
		if time.Since(changed) > 5*time.Second {
			t.Fatal("the changed config file did not take effect within 5s (no SIGHUP sent; the contract says a file change is picked up within 2s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReloadOnFileChange: no signal, only the file changes.
func TestReloadOnFileChange(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		write func(t *testing.T, path, content string)
	}{
		{"rewritten in place", func(t *testing.T, path, content string) {
			testsupport.WriteFile(t, path, content)
		}},
		{"replaced by rename", replaceFile},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p, conf, path, check := reloadFixture(t, newAS(t))
			time.Sleep(100 * time.Millisecond) // a change right after start is a change too, but not the one tested
			mark := p.mark()
			c.write(t, path, newScopes(conf))
			changed := time.Now()
			waitNewConfig(t, check, changed)
			p.waitLog(t, 5*time.Second, mark, msgIs("config reloaded"))

			// An invalid change keeps the current config.
			mark = p.mark()
			c.write(t, path, "tenants: [\n")
			p.waitLog(t, 5*time.Second, mark, failedReload)
			if a := check(); !isNewConfig(a) {
				t.Fatalf("after an invalid file change: %d %q, want the current config's 403", a.status, a.challenge)
			}
		})
	}
}

// TestReloadOnConfigMapSymlinkSwap does what the kubelet does to a mounted
// ConfigMap: the file is a symlink through ..data, and ..data is swapped
// atomically to a new timestamped directory.
func TestReloadOnConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	as := newAS(t)
	as.Claims("tok-reload", goodClaims(nil))
	c := cfg{as: as.URL}
	dir := t.TempDir()
	mkdir := func(name, content string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name), "config.yaml", content)
	}
	symlink := func(target, name string) {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	mkdir("..2026_a", c.String())
	symlink("..2026_a", "..data")
	symlink("..data/config.yaml", "config.yaml")

	p := startServe(t, filepath.Join(dir, "config.yaml"), serveOpts{env: acmeEnv})
	check := func() answer { return p.check(t, req{auth: bearer("tok-reload")}) }
	if a := check(); !a.allow {
		t.Fatalf("before the swap: %d", a.status)
	}
	time.Sleep(100 * time.Millisecond)

	mkdir("..2026_b", newScopes(c))
	symlink("..2026_b", "..data_tmp")
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	changed := time.Now()
	if err := os.RemoveAll(filepath.Join(dir, "..2026_a")); err != nil { // the kubelet removes the old one
		t.Fatal(err)
	}
	waitNewConfig(t, check, changed)

	// A second swap works too (the watch survived the first).
	c.readScopes = []string{"orders.read"}
	mkdir("..2026_c", c.String())
	symlink("..2026_c", "..data_tmp")
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	changed = time.Now()
	deadline := changed.Add(5 * time.Second)
	for a := check(); !a.allow; a = check() {
		if time.Now().After(deadline) {
			t.Fatalf("the second swap did not take effect within 5s: %d", a.status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if el := time.Since(changed); el > 2500*time.Millisecond {
		t.Errorf("the second swap took %v, want within 2s", el)
	}
}

// TestReloadKeepsUnchangedTenantsCache: a reload that changes only routes
// keeps the tenant's cache (the token is not introspected again); one that
// changes the tenant's introspection settings empties it.
func TestReloadKeepsUnchangedTenantsCache(t *testing.T) {
	t.Parallel()
	as := newAS(t)
	p, c, path, check := reloadFixture(t, as)
	reload := func(content string) {
		t.Helper()
		mark := p.mark()
		replaceFile(t, path, content)
		p.signal(t, syscall.SIGHUP)
		p.waitLog(t, 10*time.Second, mark, msgIs("config reloaded"))
	}

	reload(newScopes(c)) // routes only
	if a := check(); !isNewConfig(a) {
		t.Fatalf("after the route change: %d %q", a.status, a.challenge)
	}
	wantIntrospected(t, as, "tok-reload", 1, "acme's settings are unchanged: its cache is kept")

	changed := c
	changed.readScopes = []string{"orders.admin"}
	changed.timeout = "2s" // an introspection setting
	reload(changed.String())
	if a := check(); !isNewConfig(a) {
		t.Fatalf("after the introspection change: %d %q", a.status, a.challenge)
	}
	wantIntrospected(t, as, "tok-reload", 2, "acme's introspection changed: its cache is emptied")
}
