package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The tokengate replicas of scenario 5: their configuration and processes.

// tokengateRedisConfig is the benchmark configuration plus a redis section.
func tokengateRedisConfig(asURL, redisAddr string) string {
	return tokengateConfig(asURL) + fmt.Sprintf("redis:\n  address: %q\n  timeout: %s\n", redisAddr, redisTimeout)
}

// validateConfig runs `tokengate validate --config path` and returns its
// messages as the error when the configuration is refused.
func validateConfig(ctx context.Context, bin, path string) error {
	out, err := exec.CommandContext(ctx, bin, "validate", "--config", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("tokengate validate --config %s: %v:\n%s", path, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// replica is one tokengate subprocess with its connections.
type replica struct {
	proc *child
	pool *pool
}

// close closes the connections and stops the process; it is safe to call
// more than once.
func (r *replica) close() {
	if r.pool != nil {
		r.pool.close()
		r.pool = nil
	}
	if r.proc != nil {
		r.proc.stop()
		r.proc = nil
	}
}

// startReplica writes config as name.yaml into dir, validates it, and
// serves it from a new tokengate subprocess.
func startReplica(ctx context.Context, o options, dir, name, config string, env []string) (*replica, error) {
	path := filepath.Join(dir, name+".yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		return nil, fmt.Errorf("write %s config: %w", name, err)
	}
	if err := validateConfig(ctx, o.tokengate, path); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", path, "--grpc-address", "127.0.0.1:0", "--http-address", "127.0.0.1:0"}
	proc, addr, err := startChild(ctx, name, o.tokengate, args, env, true, servingAddress, 15*time.Second)
	if err != nil {
		return nil, err
	}
	p, err := dialPool(addr, o.conns)
	if err != nil {
		proc.stop()
		return nil, err
	}
	return &replica{proc: proc, pool: p}, nil
}

// startPair starts replicas name-a and name-b of config.
func startPair(ctx context.Context, o options, dir, name, config string, env []string) (a, b *replica, err error) {
	if a, err = startReplica(ctx, o, dir, name+"-a", config, env); err != nil {
		return nil, nil, err
	}
	if b, err = startReplica(ctx, o, dir, name+"-b", config, env); err != nil {
		a.close()
		return nil, nil, err
	}
	return a, b, nil
}

// serverEnv is the environment of the server subprocesses.
func serverEnv(o options) []string {
	env := os.Environ()
	if o.gomaxprocs > 0 {
		env = append(env, "GOMAXPROCS="+strconv.Itoa(o.gomaxprocs))
	}
	return env
}
