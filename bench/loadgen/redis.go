package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// The redis-server of scenario 5: started, pinged and asked for its
// command count over plain RESP (no client library in the load generator).

// freePort is a loopback port that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startRedis runs redis-server on a free loopback port, without
// persistence, in dir; it returns once the server answers PING.
func startRedis(ctx context.Context, bin, dir string) (*child, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--loglevel", "notice"}
	ready := func(line string) (string, bool) {
		if strings.Contains(line, "Ready to accept connections") {
			return addr, true
		}
		return "", false
	}
	c, _, err := startChild(ctx, "redis-server", bin, args, os.Environ(), false, ready, 10*time.Second)
	if err != nil {
		return nil, "", err
	}
	if err := redisPing(ctx, addr); err != nil {
		c.stop()
		return nil, "", fmt.Errorf("redis-server on %s: %w", addr, err)
	}
	return c, addr, nil
}

// redisPing sends PING over plain RESP and expects +PONG.
func redisPing(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// redisCommands is the server's total_commands_processed (INFO stats), or
// -1 when it cannot be read.
func redisCommands(ctx context.Context, addr string) int64 {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return -1
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("*2\r\n$4\r\nINFO\r\n$5\r\nstats\r\n")); err != nil {
		return -1
	}
	br := bufio.NewReader(conn)
	head, err := br.ReadString('\n') // $<length>
	if err != nil || !strings.HasPrefix(head, "$") {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil || n < 0 {
		return -1
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(br, body); err != nil {
		return -1
	}
	return parseRedisInfo(string(body), "total_commands_processed")
}

// parseRedisInfo is the integer field key of an INFO reply, or -1.
func parseRedisInfo(info, key string) int64 {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), key+":"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}
