package config

import (
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// config decodes and validates the whole document (root may be nil).
func (d *decoder) config(root *yaml.Node) *Config {
	if r := d.resolve(root); !isNull(r) && r.Kind != yaml.MappingNode {
		d.errorf("document", "must be a mapping of settings (grpc, http, tenants, routes, redis, admin), not %s", kindName(r))
		return nil
	}
	o := d.object(root, "", "grpc", "http", "tenants", "routes", "redis", "admin")
	if o.invalid {
		return nil
	}
	cfg := &Config{
		GRPC: d.grpc(o),
		HTTP: d.http(o),
	}
	cfg.Tenants = d.tenants(o)
	tenants := map[string]bool{}
	for _, t := range cfg.Tenants {
		tenants[t.Name] = true
	}
	cfg.Routes = d.routes(o, tenants)
	d.jwtAudiences(cfg) // jwt.go: RFC 9068 §4
	if t := o.values["tenants"]; len(cfg.Tenants) == 0 && (t == nil || t.Kind == yaml.SequenceNode) && needsTenant(cfg.Routes) {
		d.errorf("tenants", "no tenants configured: at least one is required unless every route is public")
	}
	if o.has("redis") {
		cfg.Redis = d.redis(o)
	}
	if o.has("admin") {
		cfg.Admin = d.admin(o)
	}
	d.distinctAddresses(cfg)
	return cfg
}

// needsTenant reports whether some route is not public (or there is none).
func needsTenant(routes []Route) bool {
	for _, r := range routes {
		if !r.Public {
			return true
		}
	}
	return len(routes) == 0
}

func (d *decoder) grpc(root *object) GRPC {
	o := d.object(root.values["grpc"], "grpc", "address", "tls")
	g := GRPC{Address: d.address(o, DefaultGRPCAddress, false)}
	if o.has("tls") {
		g.TLS = d.tls(o, true, true)
	}
	return g
}

func (d *decoder) http(root *object) HTTP {
	o := d.object(root.values["http"], "http", "address", "forwarded_headers", "tls")
	h := HTTP{
		Address:          d.address(o, DefaultHTTPAddress, false),
		ForwardedHeaders: DefaultForwardedHeaders,
	}
	if v, st := d.str(o, "forwarded_headers"); st == set {
		d.enum(join(o.path, "forwarded_headers"), v, "x-forwarded", "x-original", "none")
		h.ForwardedHeaders = v
	}
	if o.has("tls") {
		h.TLS = d.tls(o, true, false)
	}
	return h
}

// tls decodes parent.tls. serverSide requires cert_file and key_file;
// clientCA allows client_ca_file.
func (d *decoder) tls(parent *object, serverSide, clientCA bool) *TLS {
	keys := []string{"cert_file", "key_file", "client_ca_file"}
	if !serverSide {
		keys = append(keys, "ca_file") // a client verifies its server
	}
	o := d.object(parent.values["tls"], join(parent.path, "tls"), keys...)
	t := &TLS{}
	cert, certSt := d.str(o, "cert_file")
	key, keySt := d.str(o, "key_file")
	switch {
	case cert != "" && key != "":
		t.CertFile = d.file(join(o.path, "cert_file"), cert)
		t.KeyFile = d.file(join(o.path, "key_file"), key)
		d.checkKeyPair(o.path, t.CertFile, t.KeyFile)
	case serverSide:
		if certSt != invalid && cert == "" && !o.invalid {
			d.errorf(join(o.path, "cert_file"), "required")
		}
		if keySt != invalid && key == "" && !o.invalid {
			d.errorf(join(o.path, "key_file"), "required")
		}
	case cert != "" || key != "":
		d.errorf(o.path, "cert_file and key_file must be given together")
	}
	if ca, st := d.str(o, "client_ca_file"); st == set && ca != "" {
		path := join(o.path, "client_ca_file")
		if !clientCA {
			d.errorf(path, "only allowed under grpc.tls and admin.tls")
		} else {
			t.ClientCAFile = d.file(path, ca)
			d.checkCertPool(path, t.ClientCAFile)
		}
	}
	if ca, st := d.str(o, "ca_file"); st == set && ca != "" {
		path := join(o.path, "ca_file")
		t.CAFile = d.file(path, ca)
		d.checkCertPool(path, t.CAFile)
	}
	return t
}

// address decodes o.address as host:port with a numeric port; hostRequired
// rejects ":port".
func (d *decoder) address(o *object, def string, hostRequired bool) string {
	v, st := d.str(o, "address")
	switch st {
	case absent:
		if def == "" {
			d.required(o, "address")
		}
		return def
	case set:
		d.checkAddress(join(o.path, "address"), v, hostRequired)
		return v
	}
	return def
}

func (d *decoder) checkAddress(path, v string, hostRequired bool) {
	host, port, err := net.SplitHostPort(v)
	if err != nil {
		d.errorf(path, "must be host:port, not %s", d.q(path, v))
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 || port != strconv.Itoa(n) {
		d.errorf(path, "port must be a number from 0 to 65535, not %s", d.q(path, port))
	}
	if hostRequired && host == "" {
		d.errorf(path, "host missing in %s", d.q(path, v))
	}
}

// distinctAddresses rejects listeners configured on the same address (port
// 0, "any free port", may repeat).
func (d *decoder) distinctAddresses(cfg *Config) {
	type listener struct{ path, addr string }
	ls := []listener{{"grpc.address", cfg.GRPC.Address}, {"http.address", cfg.HTTP.Address}}
	if cfg.Admin != nil && cfg.Admin.Address != "" {
		ls = append(ls, listener{"admin.address", cfg.Admin.Address})
	}
	for i := range ls {
		for j := 0; j < i; j++ {
			_, port, err := net.SplitHostPort(ls[i].addr)
			if err == nil && port != "0" && ls[i].addr == ls[j].addr {
				d.errorf(ls[i].path, "same address as %s", ls[j].path)
			}
		}
	}
}

func (d *decoder) redis(root *object) *Redis {
	o := d.object(root.values["redis"], "redis",
		"address", "addresses", "username", "password", "key_prefix", "db", "timeout", "tls", "signing_key")
	r := &Redis{KeyPrefix: DefaultRedisKeyPrefix, Timeout: DefaultRedisTimeout}
	addr, addrSt := d.str(o, "address")
	addrs, addrsSt := d.strList(o, "addresses")
	switch {
	case addrSt == absent && addrsSt == absent:
		if !o.invalid {
			d.errorf(o.path, "one of address or addresses is required")
		}
	case addrSt != absent && addrsSt != absent:
		d.errorf(o.path, "address and addresses are exclusive: give one of them")
	case addrSt == set:
		d.checkAddress(join(o.path, "address"), addr, true)
		r.Address = addr
	case addrsSt == set:
		path := join(o.path, "addresses")
		if len(addrs) == 0 {
			d.errorf(path, "must not be empty")
		}
		seen := map[string]bool{}
		for i, a := range addrs {
			d.checkAddress(index(path, i), a, true)
			if seen[a] {
				d.errorf(index(path, i), "duplicate address %s", d.q(index(path, i), a))
			}
			seen[a] = true
		}
		r.Addresses = addrs
	}
	r.Username, _ = d.str(o, "username")
	r.Password, _ = d.str(o, "password")
	if v, st := d.str(o, "key_prefix"); st == set {
		r.KeyPrefix = v
	}
	if db, st := d.integer(o, "db"); st == set {
		switch {
		case db < 0:
			d.errorf(join(o.path, "db"), "must not be negative")
		case db != 0 && addrsSt == set:
			d.errorf(join(o.path, "db"), "must be 0 with addresses (Redis Cluster has only database 0)")
		}
		r.DB = db
	}
	r.Timeout = d.durationDefault(o, "timeout", DefaultRedisTimeout, true)
	if o.has("tls") {
		r.TLS = d.tls(o, false, false)
	}
	// A secret: its value (or length) is never part of an error.
	if key, st := d.str(o, "signing_key"); st == set {
		if len(key) < MinRedisSigningKeyBytes {
			d.errorf(join(o.path, "signing_key"), "must be at least %d bytes long (e.g. openssl rand -base64 48)", MinRedisSigningKeyBytes)
		}
		r.SigningKey = key
	}
	return r
}

func (d *decoder) admin(root *object) *Admin {
	o := d.object(root.values["admin"], "admin", "address", "token", "tls")
	a := &Admin{Address: d.address(o, "", false)}
	token, st := d.str(o, "token")
	switch {
	case st == absent:
		d.required(o, "token")
	case st == set && token == "":
		d.errorf(join(o.path, "token"), "must not be empty")
	case st == set && utf8.RuneCountInString(token) < MinAdminTokenLength:
		// The token is not shown, nor its length.
		d.errorf(join(o.path, "token"), "must be at least %d characters long (e.g. openssl rand -hex 32)", MinAdminTokenLength)
	}
	a.Token = token
	if o.has("tls") {
		a.TLS = d.tls(o, true, true)
	} else if host, _, err := net.SplitHostPort(a.Address); err == nil && !isLoopbackHost(host) {
		path := join(o.path, "address")
		d.errorf(path, "%s is not a loopback address (127.0.0.0/8, ::1, localhost): the admin token would cross the network in plaintext; set admin.tls", d.q(path, a.Address))
	}
	return a
}

// isLoopbackHost reports whether host (of host:port) is localhost or a
// loopback IP address. "" (every interface) is not.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
