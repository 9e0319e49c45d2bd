package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"

	"github.com/tokengate/tokengate/internal/config"
)

// certReloader serves one listener's TLS identity, its certificate and (for
// mTLS) the pool of CAs that client certificates must chain to, so that a
// reload can replace both without restarting the listener.
//
// The listener's *tls.Config (serverConfig) never changes: its
// GetConfigForClient hands every handshake the immutable per-handshake
// config of the current certState, whose GetCertificate returns that
// state's certificate. A reload builds a whole new certState (certificate,
// client CA pool and config together) and publishes it with one atomic
// pointer store, so a handshake sees either the old state or the new one,
// never a mix. Connections already established are not affected.
//
// Concurrency: serverConfig's callbacks and current are safe to call from
// any number of handshakes at once and never block; store is meant to be
// called by one goroutine at a time (Server.Reload, under Server.mu).
type certReloader struct {
	name       string   // the config section, for errors: "grpc.tls", "http.tls", "admin.tls"
	nextProtos []string // ALPN protocols offered to clients
	state      atomic.Pointer[certState]
}

// certState is one loaded certificate with its client CA pool; immutable
// once built.
type certState struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool // nil: no client certificate is asked for
	config    *tls.Config    // what GetConfigForClient returns
}

// newCertReloader loads t's files. name is the config section, used in
// errors; nextProtos are the ALPN protocols the listener offers.
func newCertReloader(name string, t *config.TLS, nextProtos ...string) (*certReloader, error) {
	r := &certReloader{name: name, nextProtos: nextProtos}
	st, err := r.load(t)
	if err != nil {
		return nil, err
	}
	r.state.Store(st)
	return r, nil
}

// load reads t's certificate, key and client CA files (the paths as given:
// a reload may point to other files) into a new state, without publishing
// it. Errors name the section and the file, never its contents.
func (r *certReloader) load(t *config.TLS) (*certState, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: loading certificate: %w", r.name, err)
	}
	st := &certState{cert: &cert}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%s: reading client CA: %w", r.name, err)
		}
		st.clientCAs = x509.NewCertPool()
		if !st.clientCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: client CA file %s holds no PEM certificate", r.name, t.ClientCAFile)
		}
	}
	st.config = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     r.nextProtos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return st.cert, nil },
	}
	if st.clientCAs != nil {
		st.config.ClientCAs = st.clientCAs
		// crypto/tls re-checks a resumed session's client certificate
		// chains against this (the current) pool, so a CA removed by a
		// reload stops working at once for resumed sessions too.
		st.config.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return st, nil
}

// current is the state new handshakes use.
func (r *certReloader) current() *certState { return r.state.Load() }

// store makes st the state of every handshake from now on.
func (r *certReloader) store(st *certState) { r.state.Store(st) }

// serverConfig is the listener's TLS configuration: TLS 1.2 or newer, and
// the certificate (and client CA pool) current at each handshake.
func (r *certReloader) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: r.nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return r.current().config, nil
		},
	}
}

// tlsListeners are the certificates of the listeners that serve TLS; a nil
// reloader is a plaintext listener (or, for admin, none). Set once by
// listen, before serving; refreshed by Reload under Server.mu.
type tlsListeners struct {
	grpc, http, admin *certReloader
}

// newTLSListeners loads the certificates of cfg's TLS listeners.
func newTLSListeners(cfg *config.Config) (tlsListeners, error) {
	var l tlsListeners
	var err error
	if t := cfg.GRPC.TLS; t != nil {
		if l.grpc, err = newCertReloader("grpc.tls", t, "h2"); err != nil {
			return tlsListeners{}, err
		}
	}
	if t := cfg.HTTP.TLS; t != nil {
		// No ALPN: http.Server.Serve speaks HTTP/1.1 on a tls.Listener.
		if l.http, err = newCertReloader("http.tls", t); err != nil {
			return tlsListeners{}, err
		}
	}
	if t := adminTLS(cfg); t != nil {
		if l.admin, err = newCertReloader("admin.tls", t); err != nil {
			return tlsListeners{}, err
		}
	}
	return l, nil
}

// adminTLS is cfg's admin.tls (nil without the admin section too).
func adminTLS(cfg *config.Config) *config.TLS {
	if cfg.Admin == nil {
		return nil
	}
	return cfg.Admin.TLS
}

// tlsUpdate is what a reload would publish: a new state per TLS listener.
type tlsUpdate struct {
	grpc, http, admin *certState
}

// load reads the certificate files named by cfg (a new configuration) for
// every TLS listener, publishing nothing. Turning a listener's TLS on or
// off takes a restart, so a cfg that does is an error too. Every error is
// reported, joined.
func (l tlsListeners) load(cfg *config.Config) (tlsUpdate, error) {
	var u tlsUpdate
	var errs []error
	for _, x := range []struct {
		r       *certReloader
		section string
		t       *config.TLS
		st      **certState
	}{
		{l.grpc, "grpc.tls", cfg.GRPC.TLS, &u.grpc},
		{l.http, "http.tls", cfg.HTTP.TLS, &u.http},
		// The admin section's settings, file paths included, are fixed at
		// start (restart.go); the files' contents are re-read here.
		{l.admin, "admin.tls", adminTLS(cfg), &u.admin},
	} {
		switch {
		case x.r == nil && x.t == nil:
		case x.r == nil:
			errs = append(errs, fmt.Errorf("%s: turning TLS on takes a restart (the listener serves plaintext)", x.section))
		case x.t == nil:
			errs = append(errs, fmt.Errorf("%s: turning TLS off takes a restart (the listener serves TLS)", x.section))
		default:
			st, err := x.r.load(x.t)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			*x.st = st
		}
	}
	if err := errors.Join(errs...); err != nil {
		return tlsUpdate{}, err
	}
	return u, nil
}

// store publishes u: new handshakes use its certificates from now on.
func (l tlsListeners) store(u tlsUpdate) {
	if u.grpc != nil {
		l.grpc.store(u.grpc)
	}
	if u.http != nil {
		l.http.store(u.http)
	}
	if u.admin != nil {
		l.admin.store(u.admin)
	}
}

// buildForReload is Reload's build step, with the listeners' certificates:
// the files cfg names are read first, then the snapshot is built, and only
// when both succeed do new handshakes get the new certificates. A
// certificate that cannot be loaded (unreadable, not a key pair, a client
// CA file without a certificate, TLS turned on or off) fails the whole
// reload like any other configuration error: the old configuration and the
// old certificates stay, and Reload logs the error. Called under s.mu.
func (s *Server) buildForReload(cfg *config.Config) (*built, error) {
	u, err := s.tls.load(cfg)
	if err != nil {
		return nil, err
	}
	b, err := build(cfg, s.current, s.buildEnv())
	if err != nil {
		return nil, err
	}
	s.tls.store(u)
	return b, nil
}
