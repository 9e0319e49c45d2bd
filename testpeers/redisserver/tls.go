package redisserver

import (
	"crypto/tls"
	"strconv"
	"testing"
)

// TLSOptions is how StartTLS's server presents itself and whom it lets in.
type TLSOptions struct {
	// CertFile and KeyFile are the server's certificate (for 127.0.0.1)
	// and key, PEM.
	CertFile, KeyFile string
	// CAFile is the CA client certificates must chain to
	// (tls-ca-cert-file; redis-server wants one even when clients need no
	// certificate).
	CAFile string
	// ClientCerts is tls-auth-clients: "yes" (when ""), "optional" or "no".
	ClientCerts string
	// Client is how the Server's own Do, Reply and Value connect: it must
	// trust the server, and carry a client certificate unless ClientCerts
	// is "no" or "optional".
	Client *tls.Config
}

// StartTLS runs a redis-server that accepts TLS only (--port 0), on a free
// loopback port, until the test ends. redis-server must be built with TLS
// (Debian's is); one without fails the test with its own message.
func StartTLS(t testing.TB, o TLSOptions) *Server {
	t.Helper()
	if o.CertFile == "" || o.KeyFile == "" || o.CAFile == "" || o.Client == nil {
		t.Fatal("redisserver.StartTLS: CertFile, KeyFile, CAFile and Client are required")
	}
	auth := o.ClientCerts
	if auth == "" {
		auth = "yes"
	}
	port := freePort(t)
	listen := []string{"--port", "0", "--tls-port", strconv.Itoa(port),
		"--tls-cert-file", o.CertFile, "--tls-key-file", o.KeyFile, "--tls-ca-cert-file", o.CAFile,
		"--tls-auth-clients", auth}
	return launch(t, port, listen, nil, o.Client)
}
