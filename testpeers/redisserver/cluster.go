package redisserver

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ClusterOptions is the shape of a Redis Cluster.
type ClusterOptions struct {
	// Masters is the number of masters: 0 means 3, redis-cli's minimum.
	Masters int
	// ReplicasPerMaster is the number of replicas of each master.
	ReplicasPerMaster int
	// NodeTimeout is cluster-node-timeout (0: 1 s): a master unreachable
	// for longer is failed over to one of its replicas.
	NodeTimeout time.Duration
}

// Cluster is a Redis Cluster of real redis-servers on loopback ports,
// made by `redis-cli --cluster create`, killed when the test ends. Its
// methods are safe for concurrent use.
type Cluster struct {
	t     testing.TB
	opts  ClusterOptions
	nodes []*Server
}

// StartCluster starts Masters*(1+ReplicasPerMaster) nodes, joins them
// into a cluster with redis-cli and waits until every node says
// cluster_state:ok. redis-cli must be installed (Debian's redis-server
// package brings it); a missing one fails the test.
func StartCluster(t testing.TB, o ClusterOptions) *Cluster {
	t.Helper()
	if o.Masters == 0 {
		o.Masters = 3
	}
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = time.Second
	}
	if o.Masters < 3 || o.ReplicasPerMaster < 0 {
		t.Fatalf("redisserver.StartCluster: %d masters, %d replicas each: want >= 3 masters", o.Masters, o.ReplicasPerMaster)
	}
	cli, err := lookTool("redis-cli")
	if err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, opts: o}
	for range o.Masters * (1 + o.ReplicasPerMaster) {
		port := freePort(t)
		// The bus port is explicit: port+10000, redis-server's default,
		// may be past 65535 for an ephemeral port.
		more := []string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-port", strconv.Itoa(freePort(t)),
			"--cluster-node-timeout", strconv.FormatInt(o.NodeTimeout.Milliseconds(), 10),
			// A replica always tries to take over, however long its link
			// has been down: a test's failover must not depend on timing.
			"--cluster-replica-validity-factor", "0"}
		c.nodes = append(c.nodes, launch(t, port, []string{"--port", strconv.Itoa(port)}, more, nil))
	}
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(o.ReplicasPerMaster), "--cluster-yes")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, cli, args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := c.WaitHealthy(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	return c
}

// Addrs is every node's host:port, killed ones included (the seeds a
// client is configured with).
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes is every node, killed ones included.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// live is the nodes not killed.
func (c *Cluster) live() []*Server {
	var out []*Server
	for _, n := range c.nodes {
		if n.running() {
			out = append(out, n)
		}
	}
	return out
}

// running is false once s was killed.
func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Role is what ROLE says of n: "master", or "slave" with its master's
// port.
func Role(n *Server) (role string, masterPort int, err error) {
	v, err := n.Value("ROLE")
	if err != nil {
		return "", 0, err
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		return "", 0, fmt.Errorf("ROLE answered %v", v)
	}
	role, _ = arr[0].(string)
	if role == "slave" && len(arr) > 2 {
		p, _ := arr[2].(int64)
		masterPort = int(p)
	}
	return role, masterPort, nil
}

// Masters is the live nodes that are masters now.
func (c *Cluster) Masters() []*Server {
	var out []*Server
	for _, n := range c.live() {
		if role, _, err := Role(n); err == nil && role == "master" {
			out = append(out, n)
		}
	}
	return out
}

// ReplicaOf is a live node replicating m, nil when there is none.
func (c *Cluster) ReplicaOf(m *Server) *Server {
	for _, n := range c.live() {
		if role, port, err := Role(n); err == nil && role == "slave" && port == m.port {
			return n
		}
	}
	return nil
}

// Kill kills node n (SIGKILL, as a crash would); the others notice within
// NodeTimeout and, for a master, one of its replicas takes over.
func (c *Cluster) Kill(n *Server) { n.Kill() }

// WaitHealthy waits up to d until every live node says cluster_state:ok
// with all 16384 slots served by nodes it believes up, every live replica
// is linked to its master, and Masters live nodes are masters (a failover
// has completed); the error says what was still wrong.
func (c *Cluster) WaitHealthy(d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		why := c.unhealthy()
		if why == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("redis cluster not healthy after %v: %s", d, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// unhealthy says what is wrong with the cluster ("" when nothing is).
func (c *Cluster) unhealthy() string {
	for _, n := range c.live() {
		info, err := n.Text("CLUSTER", "INFO")
		if err != nil {
			return fmt.Sprintf("node %s: CLUSTER INFO: %v", n.Addr(), err)
		}
		if st, ok := InfoField(info, "cluster_state"), InfoField(info, "cluster_slots_ok"); st != "ok" || ok != "16384" {
			return fmt.Sprintf("node %s: cluster_state:%s cluster_slots_ok:%s", n.Addr(), st, ok)
		}
		// A replica still loading its first copy of the master (a fork and
		// a transfer, slow on a busy machine) neither holds the master's
		// keys nor can take over from it.
		repl, err := n.Text("INFO", "replication")
		if err != nil {
			return fmt.Sprintf("node %s: INFO replication: %v", n.Addr(), err)
		}
		if InfoField(repl, "role") == "slave" && InfoField(repl, "master_link_status") != "up" {
			return fmt.Sprintf("replica %s: master_link_status:%s", n.Addr(), InfoField(repl, "master_link_status"))
		}
	}
	if m := len(c.Masters()); m != c.opts.Masters {
		return fmt.Sprintf("%d live masters, want %d", m, c.opts.Masters)
	}
	return ""
}
