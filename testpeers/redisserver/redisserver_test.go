package redisserver_test

import (
	"testing"

	"github.com/tokengate/tokengate/testpeers/redisserver"
)

func TestStartKillRestart(t *testing.T) {
	s := redisserver.Start(t)
	if err := s.Do("SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	if n, err := s.Reply("DBSIZE"); err != nil || n != "1" {
		t.Fatalf("DBSIZE: %q, %v", n, err)
	}
	if v, err := s.Reply("PING"); err != nil || v != "PONG" {
		t.Fatalf("PING: %q, %v", v, err)
	}
	if err := s.Do("NOSUCHCOMMAND"); err == nil {
		t.Fatal("an error reply was not an error")
	}
	addr := s.Addr()
	s.Kill()
	if err := s.Do("PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Restart()
	if s.Addr() != addr {
		t.Fatalf("address changed across Restart: %s, then %s", addr, s.Addr())
	}
	if err := s.Do("PING"); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
}
