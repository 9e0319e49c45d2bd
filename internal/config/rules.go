package config

import (
	"net"
	"net/url"
	"strings"

	"github.com/tokengate/tokengate/httpsyntax"
)

// checkURL requires an absolute http or https URL with a host, without user
// information or fragment. The URL itself is not echoed (it may carry a key).
func (d *decoder) checkURL(path, v string) {
	u, err := url.Parse(v)
	switch {
	case err != nil || !u.IsAbs() || (u.Scheme != "http" && u.Scheme != "https") || u.Opaque != "":
		d.errorf(path, "must be an absolute http(s) URL")
	case u.Host == "" || u.Hostname() == "":
		d.errorf(path, "must be an absolute http(s) URL with a host")
	case u.User != nil:
		d.errorf(path, "must not contain user information (user:password@)")
	case strings.Contains(v, "#"):
		d.errorf(path, "must not contain a fragment (#...)")
	}
}

// isScopeToken reports whether s is an RFC 6749 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	return httpsyntax.OneOrMore(s, func(c byte) bool { return c >= 0x21 && c != 0x22 && c != 0x5c && c <= 0x7e })
}

// reservedUpstreamHeaders may not be set from claims: hop-by-hop headers,
// credentials, framing and routing headers.
var reservedUpstreamHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true, "set-cookie": true,
	"host": true, "content-length": true, "content-type": true, "content-encoding": true,
	"transfer-encoding": true, "connection": true, "keep-alive": true, "proxy-connection": true,
	"te": true, "trailer": true, "upgrade": true, "expect": true,
}

// upstreamHeader validates a header that tokengate sets on the upstream
// request and returns it lowercased.
func (d *decoder) upstreamHeader(path, name string) (string, bool) {
	h := strings.ToLower(name)
	switch {
	case strings.HasPrefix(h, ":"):
		d.errorf(path, "%s: pseudo-headers cannot be set", d.q(path, name))
	case !httpsyntax.IsToken(h):
		d.errorf(path, "%s is not a valid header name", d.q(path, name))
	case reservedUpstreamHeaders[h]:
		d.errorf(path, "header %s is reserved and cannot carry claims", d.q(path, h))
	case strings.HasPrefix(h, "x-envoy-"):
		d.errorf(path, "header %s is reserved: x-envoy-* headers belong to Envoy", d.q(path, h))
	default:
		return h, true
	}
	return h, false
}

// reservedRequestHeaders may not be added to introspection requests.
var reservedRequestHeaders = map[string]bool{
	"host": true, "content-type": true, "content-length": true, "transfer-encoding": true,
	"connection": true, "keep-alive": true, "proxy-connection": true, "te": true,
	"trailer": true, "upgrade": true,
}

// checkHost validates a route host: a hostname or IPv4 address, or
// "*." followed by one; already lowercased.
func (d *decoder) checkHost(path, h string) {
	name := h
	if strings.HasPrefix(h, "*.") {
		name = h[2:]
	}
	switch {
	case h == "":
		d.errorf(path, "must not be empty")
	case h == "*":
		d.errorf(path, `"*" alone is not allowed: leave hosts empty to match any host`)
	case strings.Contains(name, "*"):
		d.errorf(path, "%s: only a leading \"*.\" wildcard is allowed", d.q(path, h))
	case strings.Contains(h, ":") || strings.Contains(h, "["):
		if net.ParseIP(strings.Trim(h, "[]")) != nil {
			d.errorf(path, "%s: IPv6 addresses are not supported", d.q(path, h))
		} else {
			d.errorf(path, "%s: must not contain a port", d.q(path, h))
		}
	case !isHostname(name):
		d.errorf(path, "%s is not a valid host name", d.q(path, h))
	}
}

// isHostname accepts dot-separated labels of [a-z0-9_-] (lowercase input),
// each 1 to 63 bytes, at most 253 bytes in all.
func isHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if len(label) > 63 || !httpsyntax.OneOrMore(label, isLabelChar) {
			return false
		}
	}
	return true
}

// isLabelChar reports whether c may appear in a host label: lowercase
// letters, digits, '-' and '_'.
func isLabelChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// checkPathPrefix validates a route path_prefix (not empty).
func (d *decoder) checkPathPrefix(path, p string) {
	if !strings.HasPrefix(p, "/") {
		d.errorf(path, "%s must start with \"/\"", d.q(path, p))
		return
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= 0x20 || c >= 0x7f {
			d.errorf(path, "%s: only printable ASCII without spaces is allowed", d.q(path, p))
			return
		}
	}
	switch {
	case strings.ContainsAny(p, "?#"):
		d.errorf(path, "%s must not contain \"?\" or \"#\" (the query string is not matched)", d.q(path, p))
	case strings.Contains(p, `\`):
		d.errorf(path, "%s must not contain \"\\\"", d.q(path, p))
	case strings.Contains(p, "%"):
		d.errorf(path, "%s must not contain \"%%\": write the decoded path", d.q(path, p))
	case strings.Contains(p, "//"):
		d.errorf(path, "%s must not contain \"//\" (paths are matched with repeated slashes merged)", d.q(path, p))
	default:
		for _, seg := range strings.Split(p, "/") {
			if seg == "." || seg == ".." {
				d.errorf(path, "%s must not contain \".\" or \"..\" segments", d.q(path, p))
				return
			}
		}
	}
}

func tenantNameChar(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' }

func routeNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// uniqueStrings reports empty and duplicate entries of a list at path,
// using check for the syntax of each entry (nil: any non-empty string).
func (d *decoder) uniqueStrings(path string, list []string, what string, check func(string) bool) {
	seen := map[string]bool{}
	for i, s := range list {
		p := index(path, i)
		switch {
		case s == "":
			d.errorf(p, "must not be empty")
		case check != nil && !check(s):
			d.errorf(p, "%s is not a valid %s", d.q(p, s), what)
		case seen[s]:
			d.errorf(p, "duplicate %s %s", what, d.q(p, s))
		}
		seen[s] = true
	}
}
