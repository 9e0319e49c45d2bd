package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/tokengate/tokengate/internal/config"
)

// The typed_config / typed_* messages the shipped bootstraps use are
// registered by importing their packages above (each import registers its
// types in protoregistry.GlobalTypes):
//
//	envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager  hcmv3
//	envoy.extensions.filters.http.ext_authz.v3.ExtAuthz, ExtAuthzPerRoute             extauthzv3
//	envoy.extensions.filters.http.router.v3.Router                                    routerv3
//	envoy.extensions.upstreams.http.v3.HttpProtocolOptions                            upstreamhttpv3
//	envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext                    tlsv3
//	envoy.extensions.access_loggers.stream.v3.StdoutAccessLog                           accesslogv3 (accesslog_test.go)
//
// A bootstrap using another extension fails with "unknown type URL ...":
// add a blank import of that extension's go-control-plane package here.

const (
	extAuthzFilterName = "envoy.filters.http.ext_authz"
	httpProtocolOpts   = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
	authzService       = "envoy.service.auth.v3.Authorization"
	// defaultTokengateConfig is the tokengate configuration a bootstrap is
	// checked against when its folder has no tokengate.yaml of its own.
	defaultTokengateConfig = "envoy/tokengate.yaml"
)

// bootstrapDirs are searched for Envoy bootstraps.
var bootstrapDirs = []string{"envoy", "examples"}

// isBootstrap tells an Envoy bootstrap from the other YAML documents of the
// repository (tokengate configs, Kubernetes and Istio manifests, Traefik).
// tokengate configs may have an `admin:` section too, but its address is a
// "host:port" string where Envoy's is an object.
func isBootstrap(v any) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if _, ok := m["static_resources"]; ok {
		return true
	}
	if _, ok := m["dynamic_resources"]; ok {
		return true
	}
	if _, ok := m["node"]; ok {
		return true
	}
	_, objectAddress := dig(m, "admin", "address").(map[string]any)
	return objectAddress
}

// findBootstraps returns every Envoy bootstrap document under bootstrapDirs.
func findBootstraps(t *testing.T) []yamlDoc {
	t.Helper()
	var found []yamlDoc
	for _, file := range yamlFilesUnder(t, bootstrapDirs...) {
		for _, doc := range readYAMLFile(t, file) {
			if isBootstrap(doc.Value) {
				found = append(found, doc)
			}
		}
	}
	if len(found) == 0 {
		t.Fatalf("no Envoy bootstrap found under %v: the search or the files are broken", bootstrapDirs)
	}
	return found
}

// tokengateConfigFor is the tokengate configuration a bootstrap is checked
// against: tokengate.yaml beside it, else envoy/tokengate.yaml.
func tokengateConfigFor(bootstrapFile string) string {
	sibling := path.Join(path.Dir(bootstrapFile), "tokengate.yaml")
	if sibling != bootstrapFile {
		if _, err := os.Stat(filepath.Join(repoRoot, filepath.FromSlash(sibling))); err == nil {
			return sibling
		}
	}
	return defaultTokengateConfig
}

func TestEnvoyBootstraps(t *testing.T) {
	docs := findBootstraps(t)
	want := []string{"envoy/front-proxy-grpc.yaml", "envoy/front-proxy-http.yaml"}
	for _, w := range want {
		if !slices.ContainsFunc(docs, func(d yamlDoc) bool { return d.File == w }) {
			t.Errorf("%s is not found as an Envoy bootstrap", w)
		}
	}
	for _, doc := range docs {
		t.Run(doc.String(), func(t *testing.T) {
			tgFile := tokengateConfigFor(doc.File)
			tg := loadTokengate(t, tgFile)
			_, problems := checkBootstrap(doc.Value, tg)
			for _, p := range problems {
				t.Errorf("%s (checked against %s): %v", doc, tgFile, p)
			}
		})
	}
}

// checkBootstrap decodes a bootstrap (decoded YAML) into the v3 Bootstrap
// proto exactly as Envoy reads it (unknown fields are errors), validates it
// and every embedded typed config with the protoc-gen-validate rules, and
// checks its ext_authz setup against the tokengate configuration tg.
func checkBootstrap(v any, tg *config.Config) (*bootstrapv3.Bootstrap, []error) {
	var problems errs
	for _, u := range unresolvedTypeURLs(v, "") {
		problems.add("unknown type URL %q at %s: add a blank import of its go-control-plane package to envoy/envoy_test.go", u.url, u.at)
	}
	if len(problems) > 0 {
		return nil, problems
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, append(problems, fmt.Errorf("YAML to JSON: %v", err))
	}
	bs := &bootstrapv3.Bootstrap{}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(data, bs); err != nil {
		return nil, append(problems, fmt.Errorf("not a valid envoy.config.bootstrap.v3.Bootstrap: %v", err))
	}
	problems = append(problems, validateDeep(bs, "bootstrap")...)
	if len(problems) > 0 {
		return bs, problems
	}
	c := &bootstrapChecker{tg: tg, clusters: map[string]*clusterv3.Cluster{}}
	c.check(bs)
	return bs, c.problems
}

type typeURLAt struct{ url, at string }

// unresolvedTypeURLs finds "@type" values that no imported package
// registered.
func unresolvedTypeURLs(v any, at string) []typeURLAt {
	var out []typeURLAt
	switch x := v.(type) {
	case map[string]any:
		if u, ok := x["@type"].(string); ok {
			if _, err := protoregistry.GlobalTypes.FindMessageByURL(u); err != nil {
				out = append(out, typeURLAt{u, at})
			}
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, unresolvedTypeURLs(x[k], at+"."+k)...)
		}
	case []any:
		for i, e := range x {
			out = append(out, unresolvedTypeURLs(e, fmt.Sprintf("%s[%d]", at, i))...)
		}
	}
	return out
}

// validateDeep runs ValidateAll on m and, recursively, on the message inside
// every google.protobuf.Any below it (ValidateAll alone does not look inside
// typed_config and the like).
func validateDeep(m proto.Message, at string) []error {
	var out []error
	if v, ok := m.(interface{ ValidateAll() error }); ok {
		if err := v.ValidateAll(); err != nil {
			out = append(out, fmt.Errorf("%s: %v", at, err))
		}
	}
	forEachAny(m.ProtoReflect(), at, func(a *anypb.Any, at string) {
		inner, err := a.UnmarshalNew()
		if err != nil {
			out = append(out, fmt.Errorf("%s: %s: %v", at, a.GetTypeUrl(), err))
			return
		}
		out = append(out, validateDeep(inner, at+"<"+string(inner.ProtoReflect().Descriptor().FullName())+">")...)
	})
	return out
}

// forEachAny calls fn for each Any reachable from m without crossing another
// Any.
func forEachAny(m protoreflect.Message, at string, fn func(*anypb.Any, string)) {
	visit := func(msg protoreflect.Message, at string) {
		if a, ok := msg.Interface().(*anypb.Any); ok {
			fn(a, at)
			return
		}
		forEachAny(msg, at, fn)
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := at + "." + string(fd.Name())
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
					visit(mv.Message(), name+"["+k.String()+"]")
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				l := v.List()
				for i := 0; i < l.Len(); i++ {
					visit(l.Get(i).Message(), fmt.Sprintf("%s[%d]", name, i))
				}
			}
		case fd.Message() != nil:
			visit(v.Message(), name)
		}
		return true
	})
}

// bootstrapChecker checks the ext_authz setup of one bootstrap against a
// tokengate configuration.
type bootstrapChecker struct {
	tg       *config.Config
	clusters map[string]*clusterv3.Cluster
	problems errs
	// Listeners whose filter chains ask clients for a certificate, and
	// whether a gRPC ext_authz filter sends the peer certificate.
	clientCertListeners []string
	sendsPeerCert       bool
}

func (c *bootstrapChecker) check(bs *bootstrapv3.Bootstrap) {
	for _, cl := range bs.GetStaticResources().GetClusters() {
		c.clusters[cl.GetName()] = cl
	}
	hcms := 0
	for _, l := range bs.GetStaticResources().GetListeners() {
		chains := l.GetFilterChains()
		if l.GetDefaultFilterChain() != nil {
			chains = append(chains, l.GetDefaultFilterChain())
		}
		for ci, fc := range chains {
			if requestsClientCert(fc.GetTransportSocket()) {
				c.clientCertListeners = append(c.clientCertListeners, l.GetName())
			}
			for fi, f := range fc.GetFilters() {
				msg, err := f.GetTypedConfig().UnmarshalNew()
				if err != nil {
					continue // config_discovery or no typed_config: nothing to check here
				}
				if hcm, ok := msg.(*hcmv3.HttpConnectionManager); ok {
					hcms++
					c.checkHCM(fmt.Sprintf("listener %q filter_chains[%d].filters[%d]", l.GetName(), ci, fi), hcm)
				}
			}
		}
	}
	if hcms == 0 {
		c.problems.add("no static listener with an HTTP connection manager: nothing is protected")
	}
	if c.sendsPeerCert && len(c.clientCertListeners) == 0 {
		c.problems.add("include_peer_certificate is on, but no listener terminates TLS asking for client certificates (DownstreamTlsContext with require_client_certificate or a validation_context): certificate-bound tokens (RFC 8705) could never be used")
	}
}

// requestsClientCert reports whether ts is a downstream TLS transport socket
// that asks clients for a certificate.
func requestsClientCert(ts *corev3.TransportSocket) bool {
	var ctx tlsv3.DownstreamTlsContext
	if ts.GetTypedConfig() == nil || ts.GetTypedConfig().UnmarshalTo(&ctx) != nil {
		return false
	}
	return ctx.GetRequireClientCertificate().GetValue() || ctx.GetCommonTlsContext().GetValidationContext() != nil
}

// senderHeaders are the request headers of sender-constrained tokens that
// tokengate must receive: the token (with the DPoP scheme) and the proof.
var senderHeaders = []string{"authorization", "dpop"}

// checkHeadersSent requires Envoy to send each of senderHeaders in the
// check: in gRPC mode every header unless allowed_headers restricts them;
// in HTTP mode Authorization always, others only when allowed; in both,
// never a header disallowed_headers matches.
func (c *bootstrapChecker) checkHeadersSent(where string, ea *extauthzv3.ExtAuthz) {
	allowed, listName := ea.GetAllowedHeaders(), "allowed_headers"
	if allowed == nil && ea.GetHttpService() != nil {
		allowed, listName = ea.GetHttpService().GetAuthorizationRequest().GetAllowedHeaders(), "http_service.authorization_request.allowed_headers"
	}
	for _, h := range senderHeaders {
		if ok, err := listMatches(ea.GetDisallowedHeaders(), h); err != nil || ok {
			c.problems.add("%s: disallowed_headers matches %q (%v): tokengate would never see it", where, h, err)
			continue
		}
		switch ok, err := listMatches(allowed, h); {
		case err != nil:
			c.problems.add("%s: %s: %v", where, listName, err)
		case ok:
		case allowed == nil && ea.GetHttpService() == nil:
			// gRPC without allowed_headers: every header is sent.
		case h == "authorization" && ea.GetHttpService() != nil:
			// Envoy always sends Authorization to an HTTP service.
		default:
			c.problems.add("%s: %s does not match %q: tokengate could not check DPoP-bound tokens (RFC 9449)", where, listName, h)
		}
	}
}

func (c *bootstrapChecker) checkHCM(where string, hcm *hcmv3.HttpConnectionManager) {
	filters := hcm.GetHttpFilters()
	names := map[string]bool{}
	var extAuthzNames []string
	for i, f := range filters {
		names[f.GetName()] = true
		msg, err := f.GetTypedConfig().UnmarshalNew()
		if err != nil {
			continue
		}
		switch cfg := msg.(type) {
		case *extauthzv3.ExtAuthz:
			extAuthzNames = append(extAuthzNames, f.GetName())
			if f.GetDisabled() {
				c.problems.add("%s: ext_authz filter %q is disabled by default (disabled: true): routes would skip the check", where, f.GetName())
			}
			c.checkExtAuthz(fmt.Sprintf("%s ext_authz filter %q", where, f.GetName()), cfg)
		case *routerv3.Router:
			if i != len(filters)-1 {
				c.problems.add("%s: the router filter must be the last HTTP filter", where)
			}
		}
	}
	if len(extAuthzNames) == 0 {
		c.problems.add("%s: no ext_authz filter (%s): requests reach the upstream unchecked", where, extAuthzFilterName)
		return
	}
	if n := len(filters); n == 0 {
		c.problems.add("%s: no HTTP filters", where)
	} else if _, ok := mustUnmarshal(filters[n-1].GetTypedConfig()).(*routerv3.Router); !ok {
		c.problems.add("%s: the last HTTP filter must be the router", where)
	}
	rc := hcm.GetRouteConfig()
	if rc == nil {
		c.problems.add("%s: route_config must be inline (RDS cannot be checked against tokengate)", where)
		return
	}
	for key := range rc.GetTypedPerFilterConfig() {
		if !names[key] {
			c.problems.add("%s: route_config typed_per_filter_config key %q names no HTTP filter of this listener (Envoy would not apply it)", where, key)
		}
	}
	for _, vh := range rc.GetVirtualHosts() {
		vhWhere := fmt.Sprintf("%s virtual_host %q", where, vh.GetName())
		for key := range vh.GetTypedPerFilterConfig() {
			if !names[key] {
				c.problems.add("%s: typed_per_filter_config key %q names no HTTP filter of this listener (Envoy would not apply it)", vhWhere, key)
			}
		}
		for ri, r := range vh.GetRoutes() {
			rWhere := fmt.Sprintf("%s routes[%d] (%s)", vhWhere, ri, describeMatch(r.GetMatch()))
			c.checkRouteCluster(rWhere, r)
			for key := range r.GetTypedPerFilterConfig() {
				if !names[key] {
					c.problems.add("%s: typed_per_filter_config key %q names no HTTP filter of this listener (Envoy would not apply it)", rWhere, key)
				}
			}
			for _, name := range extAuthzNames {
				// The most specific per-filter config applies: route, then
				// virtual host, then route configuration.
				cfg := r.GetTypedPerFilterConfig()[name]
				if cfg == nil {
					cfg = vh.GetTypedPerFilterConfig()[name]
				}
				if cfg == nil {
					cfg = rc.GetTypedPerFilterConfig()[name]
				}
				if cfg != nil {
					c.checkPerRoute(rWhere, r, cfg)
				}
			}
		}
	}
}

func mustUnmarshal(a *anypb.Any) proto.Message {
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil
	}
	return m
}

func describeMatch(m *routev3.RouteMatch) string {
	switch {
	case m.GetPath() != "":
		return "path " + m.GetPath()
	case m.GetPrefix() != "":
		return "prefix " + m.GetPrefix()
	case m.GetPathSeparatedPrefix() != "":
		return "path_separated_prefix " + m.GetPathSeparatedPrefix()
	case m.GetSafeRegex() != nil:
		return "safe_regex " + m.GetSafeRegex().GetRegex()
	}
	return "other match"
}

func (c *bootstrapChecker) checkRouteCluster(where string, r *routev3.Route) {
	action := r.GetRoute()
	if action == nil {
		return
	}
	var names []string
	if n := action.GetCluster(); n != "" {
		names = append(names, n)
	}
	for _, wc := range action.GetWeightedClusters().GetClusters() {
		names = append(names, wc.GetName())
	}
	for _, n := range names {
		if c.clusters[n] == nil {
			c.problems.add("%s: routes to cluster %q, which is not defined", where, n)
		}
	}
}

func (c *bootstrapChecker) checkExtAuthz(where string, ea *extauthzv3.ExtAuthz) {
	if ea.GetFailureModeAllow() {
		c.problems.add("%s: failure_mode_allow must be false: with true, requests pass unchecked whenever tokengate is unreachable", where)
	}
	if ea.GetTransportApiVersion() != corev3.ApiVersion_V3 {
		c.problems.add("%s: transport_api_version must be V3", where)
	}
	if ea.GetWithRequestBody() != nil {
		c.problems.add("%s: with_request_body must not be set: tokengate never reads bodies, and buffering them costs memory and latency", where)
	}
	if code := ea.GetStatusOnError().GetCode(); code != typev3.StatusCode_ServiceUnavailable {
		c.problems.add("%s: status_on_error must be ServiceUnavailable (503), as tokengate answers for introspection errors; got %v", where, code)
	}
	c.checkHeadersSent(where, ea)
	switch svc := ea.GetServices().(type) {
	case *extauthzv3.ExtAuthz_GrpcService:
		g := svc.GrpcService
		eg := g.GetEnvoyGrpc()
		if eg == nil {
			c.problems.add("%s: grpc_service must use envoy_grpc (a cluster this file defines)", where)
			return
		}
		c.checkTimeout(where+" grpc_service.timeout", g.GetTimeout())
		if ea.GetIncludePeerCertificate() {
			c.sendsPeerCert = true
		} else {
			c.problems.add("%s: include_peer_certificate must be true: without it tokengate never gets the client certificate, and certificate-bound tokens (RFC 8705, cnf x5t#S256) are always refused", where)
		}
		cl := c.clusters[eg.GetClusterName()]
		if cl == nil {
			c.problems.add("%s: grpc_service cluster %q is not defined", where, eg.GetClusterName())
			return
		}
		if !clusterHTTP2(cl) {
			c.problems.add("%s: cluster %q must speak HTTP/2 for gRPC (typed_extension_protocol_options %s explicit_http_config.http2_protocol_options)", where, cl.GetName(), httpProtocolOpts)
		}
		if !slices.ContainsFunc(cl.GetHealthChecks(), func(hc *corev3.HealthCheck) bool {
			g := hc.GetGrpcHealthCheck()
			return g != nil && (g.GetServiceName() == authzService || g.GetServiceName() == "")
		}) {
			c.problems.add("%s: cluster %q needs a grpc_health_check (service_name %q) so a starting or draining replica gets no checks", where, cl.GetName(), authzService)
		}
		c.checkPorts(where, cl, "grpc.address", c.tg.GRPC.Address)
	case *extauthzv3.ExtAuthz_HttpService:
		h := svc.HttpService
		c.checkTimeout(where+" http_service.server_uri.timeout", h.GetServerUri().GetTimeout())
		if p := h.GetPathPrefix(); p != "/authz" {
			c.problems.add("%s: http_service.path_prefix must be /authz (tokengate checks paths /authz and /authz/...), got %q", where, p)
		}
		if h.GetPathOverride() != "" {
			c.problems.add("%s: http_service.path_override must not be set: tokengate reads the checked path after /authz", where)
		}
		up := h.GetAuthorizationResponse().GetAllowedUpstreamHeaders()
		for _, hdr := range claimHeaders(c.tg) {
			if ok, err := listMatches(up, hdr); err != nil {
				c.problems.add("%s: allowed_upstream_headers: %v", where, err)
			} else if !ok {
				c.problems.add("%s: allowed_upstream_headers does not match claim header %q of the tokengate config: the upstream would never see it (and a client-sent copy would pass)", where, hdr)
			}
			if ok, _ := listMatches(h.GetAuthorizationResponse().GetAllowedUpstreamHeadersToAppend(), hdr); ok {
				c.problems.add("%s: allowed_upstream_headers_to_append matches claim header %q: a client-sent copy would survive next to tokengate's", where, hdr)
			}
		}
		if client := h.GetAuthorizationResponse().GetAllowedClientHeaders(); len(client.GetPatterns()) > 0 {
			if ok, _ := listMatches(client, "content-type"); !ok {
				c.problems.add("%s: allowed_client_headers should match content-type (deny bodies are JSON)", where)
			}
		}
		req := h.GetAuthorizationRequest().GetAllowedHeaders()
		for _, hdr := range forwardedFamily(c.tg) {
			if ok, _ := listMatches(req, hdr); ok {
				c.problems.add("%s: authorization_request.allowed_headers forwards client-sent %q, which tokengate (forwarded_headers %q) reads as the checked request: a client could choose what is checked", where, hdr, c.tg.HTTP.ForwardedHeaders)
			}
		}
		name := h.GetServerUri().GetCluster()
		cl := c.clusters[name]
		if cl == nil {
			c.problems.add("%s: http_service cluster %q is not defined", where, name)
			return
		}
		if !slices.ContainsFunc(cl.GetHealthChecks(), func(hc *corev3.HealthCheck) bool {
			return hc.GetHttpHealthCheck().GetPath() == "/readyz"
		}) {
			c.problems.add("%s: cluster %q needs an http_health_check on /readyz so a starting or draining replica gets no checks", where, name)
		}
		c.checkPorts(where, cl, "http.address", c.tg.HTTP.Address)
	default:
		c.problems.add("%s: neither grpc_service nor http_service is set", where)
	}
}

func (c *bootstrapChecker) checkTimeout(where string, d *durationpb.Duration) {
	limit := maxIntrospectionTimeout(c.tg)
	if d == nil {
		c.problems.add("%s is not set: Envoy's default (200ms) is below the introspection timeout %v", where, limit)
		return
	}
	if got := d.AsDuration(); got <= limit {
		c.problems.add("%s %v must be above the longest introspection timeout of the tokengate config (%v), or Envoy gives up before tokengate can answer 503 itself", where, got, limit)
	}
}

// checkPorts requires every endpoint of cl to use the port tokengate listens
// on, and tokengate to listen beyond loopback when Envoy reaches it by name.
func (c *bootstrapChecker) checkPorts(where string, cl *clusterv3.Cluster, key, addr string) {
	port, external, err := listenPort(addr)
	if err != nil {
		c.problems.add("%s: tokengate %s %q: %v", where, key, addr, err)
		return
	}
	n := 0
	for _, le := range cl.GetLoadAssignment().GetEndpoints() {
		for _, ep := range le.GetLbEndpoints() {
			sa := ep.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				continue
			}
			n++
			if got := fmt.Sprint(sa.GetPortValue()); got != port {
				c.problems.add("%s: cluster %q endpoint %s:%s, but tokengate's %s listens on port %s", where, cl.GetName(), sa.GetAddress(), got, key, port)
			}
			if !external && sa.GetAddress() != "127.0.0.1" && sa.GetAddress() != "localhost" && sa.GetAddress() != "::1" {
				c.problems.add("%s: cluster %q reaches tokengate at %s, but tokengate's %s %q is loopback only", where, cl.GetName(), sa.GetAddress(), key, addr)
			}
		}
	}
	if n == 0 {
		c.problems.add("%s: cluster %q has no socket address endpoint", where, cl.GetName())
	}
}

// clusterHTTP2 reports whether cl is configured for HTTP/2 upstream.
func clusterHTTP2(cl *clusterv3.Cluster) bool {
	a := cl.GetTypedExtensionProtocolOptions()[httpProtocolOpts]
	if a == nil {
		return false
	}
	var o upstreamhttpv3.HttpProtocolOptions
	if err := a.UnmarshalTo(&o); err != nil {
		return false
	}
	return o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// checkPerRoute checks the ext_authz per-route config that applies to r.
func (c *bootstrapChecker) checkPerRoute(where string, r *routev3.Route, cfg *anypb.Any) {
	msg, err := cfg.UnmarshalNew()
	if err != nil {
		c.problems.add("%s: ext_authz per-route config: %v", where, err)
		return
	}
	disabled := false
	if fc, ok := msg.(*routev3.FilterConfig); ok {
		disabled = fc.GetDisabled()
		if !disabled {
			if msg, err = fc.GetConfig().UnmarshalNew(); err != nil {
				c.problems.add("%s: ext_authz per-route FilterConfig: %v", where, err)
				return
			}
		}
	}
	var pr *extauthzv3.ExtAuthzPerRoute
	if !disabled {
		var ok bool
		if pr, ok = msg.(*extauthzv3.ExtAuthzPerRoute); !ok {
			c.problems.add("%s: ext_authz per-route config is %s, want envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute", where, msg.ProtoReflect().Descriptor().FullName())
			return
		}
		disabled = pr.GetDisabled()
	}
	if disabled {
		c.checkDisabled(where, r.GetMatch())
		return
	}
	name := pr.GetCheckSettings().GetContextExtensions()["route"]
	if name == "" {
		return // tokengate matches by host, path and method
	}
	i := slices.IndexFunc(c.tg.Routes, func(rt config.Route) bool { return rt.Name == name })
	if i < 0 {
		c.problems.add("%s: context extension route %q is not a route of the tokengate config (every check would be denied 403)", where, name)
		return
	}
	rt := c.tg.Routes[i]
	// A named route skips tokengate's matching: Envoy's match must not be
	// wider than the tokengate route in path or method.
	if p, ok := matchPath(r.GetMatch()); !ok {
		c.problems.add("%s: selects tokengate route %q with a match this test cannot compare to its path_prefix %q", where, name, rt.PathPrefix)
	} else if !strings.HasPrefix(p, rt.PathPrefix) {
		c.problems.add("%s: selects tokengate route %q (path_prefix %q) for paths under %q: a named route skips tokengate's path matching", where, name, rt.PathPrefix, p)
	}
	if len(rt.Methods) > 0 {
		methods, err := routeMethods(r.GetMatch())
		switch {
		case err != nil:
			c.problems.add("%s: %v", where, err)
		case methods == nil:
			c.problems.add("%s: selects tokengate route %q, which allows methods %v only; a named route skips tokengate's method matching, so the Envoy route must match :method", where, name, rt.Methods)
		default:
			for _, m := range methods {
				if !slices.Contains(rt.Methods, m) {
					c.problems.add("%s: sends method %s to tokengate route %q, which allows methods %v only", where, m, name, rt.Methods)
				}
			}
		}
	}
}

// checkDisabled allows ext_authz to be off only on exact paths that the
// tokengate config treats as public anyway.
func (c *bootstrapChecker) checkDisabled(where string, m *routev3.RouteMatch) {
	p := m.GetPath()
	if p == "" {
		c.problems.add("%s: ext_authz is disabled on a %s match; disable it on exact `path` matches of public endpoints only", where, describeMatch(m))
		return
	}
	for _, rt := range c.tg.Routes {
		if strings.HasPrefix(p, rt.PathPrefix) && len(rt.Hosts) == 0 {
			if !rt.Public {
				c.problems.add("%s: ext_authz is disabled on %s, which the tokengate config protects (route %q)", where, p, rt.Name)
			}
			return
		}
	}
	c.problems.add("%s: ext_authz is disabled on %s, which no public route of the tokengate config covers", where, p)
}

// matchPath returns the literal path or prefix a route match covers.
func matchPath(m *routev3.RouteMatch) (string, bool) {
	switch {
	case m.GetPath() != "":
		return m.GetPath(), true
	case m.GetPrefix() != "":
		return m.GetPrefix(), true
	case m.GetPathSeparatedPrefix() != "":
		return m.GetPathSeparatedPrefix(), true
	}
	return "", false
}

var methodAlternation = regexp.MustCompile(`^\^?(?:\((?:\?:)?)?([A-Z]+(?:\|[A-Z]+)*)\)?\$?$`)

// routeMethods returns the methods a route's :method header matcher admits
// (nil without one).
func routeMethods(m *routev3.RouteMatch) ([]string, error) {
	for _, h := range m.GetHeaders() {
		if h.GetName() != ":method" {
			continue
		}
		sm := h.GetStringMatch()
		switch {
		case h.GetInvertMatch() || sm == nil:
			return nil, fmt.Errorf(":method matcher must be a non-inverted string_match (exact or safe_regex alternation)")
		case sm.GetExact() != "" && !sm.GetIgnoreCase():
			return []string{sm.GetExact()}, nil
		case sm.GetSafeRegex() != nil:
			g := methodAlternation.FindStringSubmatch(sm.GetSafeRegex().GetRegex())
			if g == nil {
				return nil, fmt.Errorf(":method regex %q is not an alternation of methods like GET|HEAD", sm.GetSafeRegex().GetRegex())
			}
			return strings.Split(g[1], "|"), nil
		default:
			return nil, fmt.Errorf(":method matcher must be exact (case-sensitive) or a safe_regex alternation")
		}
	}
	return nil, nil
}

// listMatches evaluates an Envoy ListStringMatcher on a header name.
func listMatches(l *matcherv3.ListStringMatcher, s string) (bool, error) {
	for _, p := range l.GetPatterns() {
		ok, err := stringMatches(p, s)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func stringMatches(m *matcherv3.StringMatcher, s string) (bool, error) {
	fold := func(x string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(x)
		}
		return x
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		return fold(s) == fold(p.Exact), nil
	case *matcherv3.StringMatcher_Prefix:
		return strings.HasPrefix(fold(s), fold(p.Prefix)), nil
	case *matcherv3.StringMatcher_Suffix:
		return strings.HasSuffix(fold(s), fold(p.Suffix)), nil
	case *matcherv3.StringMatcher_Contains:
		return strings.Contains(fold(s), fold(p.Contains)), nil
	case *matcherv3.StringMatcher_SafeRegex:
		re, err := regexp.Compile(`^(?:` + p.SafeRegex.GetRegex() + `)$`)
		if err != nil {
			return false, err
		}
		return re.MatchString(s), nil
	}
	return false, errors.New("unsupported string matcher")
}

// TestEnvoyBootstrapChecksCatchMistakes proves the checks above can fail:
// each case breaks one shipped bootstrap in memory and expects a problem.
func TestEnvoyBootstrapChecksCatchMistakes(t *testing.T) {
	read := func(rel string) string {
		data, err := os.ReadFile(filepath.Join(repoRoot, rel))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	grpcFile, httpFile := "envoy/front-proxy-grpc.yaml", "envoy/front-proxy-http.yaml"
	sources := map[string]string{grpcFile: read(grpcFile), httpFile: read(httpFile)}
	tg := loadTokengate(t, defaultTokengateConfig)

	type mutation struct{ old, new string }
	cases := []struct {
		name, file string
		muts       []mutation
		edit       func(t *testing.T, src string) string // applied after muts
		tgEdit     func(c *config.Config)                // a changed copy of the tokengate config
		want       string
	}{
		{"unchanged grpc", grpcFile, nil, nil, nil, ""},
		{"unchanged http", httpFile, nil, nil, nil, ""},
		{"fail open", grpcFile, []mutation{{"failure_mode_allow: false", "failure_mode_allow: true"}}, nil, nil, "failure_mode_allow must be false"},
		{"fail open http", httpFile, []mutation{{"failure_mode_allow: false", "failure_mode_allow: true"}}, nil, nil, "failure_mode_allow must be false"},
		{"misspelled type URL", grpcFile, []mutation{{"ext_authz.v3.ExtAuthz\n", "ext_authz.v3.ExtAuthzz\n"}}, nil, nil, `unknown type URL "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzz"`},
		{"unknown field", grpcFile, []mutation{{"failure_mode_allow: false", "failure_mode_allows: false"}}, nil, nil, "failure_mode_allows"},
		{"PGV rule in the bootstrap", grpcFile, []mutation{{"port_value: 9191", "port_value: 70000"}}, nil, nil, "PortValue"},
		{"PGV rule inside typed_config", grpcFile, []mutation{{"stat_prefix: ingress_http", `stat_prefix: ""`}}, nil, nil, "StatPrefix"},
		{"unknown route name", grpcFile, []mutation{{"route: orders-read", "route: orders-reed"}}, nil, nil, `context extension route "orders-reed" is not a route`},
		{"named route without method match", grpcFile, []mutation{{"\n                            headers:\n                              - name: \":method\"\n                                string_match: {safe_regex: {regex: \"GET|HEAD\"}}", ""}}, nil, nil, "the Envoy route must match :method"},
		{"named route with an inverted method match", grpcFile, []mutation{{`string_match: {safe_regex: {regex: "GET|HEAD"}}`, "string_match: {safe_regex: {regex: \"GET|HEAD\"}}\n                                invert_match: true"}}, nil, nil, ":method matcher must be"},
		{"named route with a wider method", grpcFile, []mutation{{`regex: "GET|HEAD"`, `regex: "GET|HEAD|POST"`}}, nil, nil, "sends method POST"},
		{"named route with a wider path", grpcFile, []mutation{{"prefix: \"/orders\"", "prefix: \"/\""}}, nil, nil, "skips tokengate's path matching"},
		{"ext_authz disabled on a protected prefix", grpcFile, []mutation{{`match: {path: "/healthz"}`, `match: {prefix: "/"}`}}, nil, nil, "ext_authz is disabled on a prefix"},
		{"ext_authz disabled on a protected path", grpcFile, []mutation{{`match: {path: "/healthz"}`, `match: {path: "/orders/1"}`}}, nil, nil, "which the tokengate config protects"},
		{"per-route key names no filter", grpcFile, []mutation{{"envoy.filters.http.ext_authz:\n", "envoy.filters.http.extauthz:\n"}}, nil, nil, "names no HTTP filter"},
		{"timeout too short", grpcFile, []mutation{{"timeout: 3s", "timeout: 1s"}}, nil, nil, "must be above the longest introspection timeout"},
		{"timeout missing", grpcFile, []mutation{{"timeout: 3s", ""}}, nil, nil, "is not set"},
		{"body buffering", grpcFile, []mutation{{"failure_mode_allow: false", "failure_mode_allow: false\n                      with_request_body: {max_request_bytes: 8192}"}}, nil, nil, "with_request_body must not be set"},
		{"status_on_error 403", grpcFile, []mutation{{"code: ServiceUnavailable", "code: Forbidden"}}, nil, nil, "status_on_error must be ServiceUnavailable"},
		{"no HTTP/2 to tokengate", grpcFile, []mutation{{"http2_protocol_options: {}", "http_protocol_options: {}"}}, nil, nil, "must speak HTTP/2"},
		{"no gRPC health check", grpcFile, []mutation{{"grpc_health_check:\n            service_name: envoy.service.auth.v3.Authorization", "http_health_check: {path: /readyz}"}}, nil, nil, "needs a grpc_health_check"},
		{"wrong tokengate port", grpcFile, []mutation{{"port_value: 9191", "port_value: 9192"}}, nil, nil, "listens on port 9191"},
		{"route to an undefined cluster", grpcFile, []mutation{{"route: {cluster: upstream}", "route: {cluster: upstreem}"}}, nil, nil, `cluster "upstreem", which is not defined`},
		{"ext_authz disabled by default", grpcFile, []mutation{{"- name: envoy.filters.http.ext_authz\n", "- name: envoy.filters.http.ext_authz\n                    disabled: true\n"}}, nil, nil, "disabled by default"},
		{"router not last", grpcFile, []mutation{{"                  - name: envoy.filters.http.router\n                    typed_config:\n                      \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n", ""}, {"                http_filters:\n", "                http_filters:\n                  - name: envoy.filters.http.router\n                    typed_config:\n                      \"@type\": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router\n"}}, nil, nil, "router filter must be the last"},
		{"http: wrong path_prefix", httpFile, []mutation{{"path_prefix: /authz", "path_prefix: /auth"}}, nil, nil, "path_prefix must be /authz"},
		{"http: claim header not allowed upstream", httpFile, []mutation{{"- exact: x-auth-scope\n", ""}}, nil, nil, `claim header "x-auth-scope"`},
		// The same bootstrap in front of a tokengate that reads X-Forwarded-*:
		// the mistake is the combination.
		{"http: forwarded headers passed", httpFile, []mutation{{"- prefix: x-b3-", "- prefix: x-b3-\n                              - prefix: x-forwarded-"}}, nil,
			func(c *config.Config) { c.HTTP.ForwardedHeaders = "x-forwarded" }, `forwards client-sent "x-forwarded-method"`},
		{"no ext_authz filter", grpcFile, nil, func(t *testing.T, src string) string {
			return cutBetween(t, src, "                  - name: envoy.filters.http.ext_authz\n", "                  - name: envoy.filters.http.router\n")
		}, nil, "no ext_authz filter"},
		{"no ext_authz filter http", httpFile, nil, func(t *testing.T, src string) string {
			return cutBetween(t, src, "                  - name: envoy.filters.http.ext_authz\n", "                  - name: envoy.filters.http.router\n")
		}, nil, "no ext_authz filter"},
		{"longer introspection timeout", grpcFile, nil, nil,
			func(c *config.Config) {
				c.Tenants = slices.Clone(c.Tenants)
				c.Tenants[0].Introspection.Timeout = 5 * time.Second
			},
			"must be above the longest introspection timeout"},
		{"tokengate on loopback only", grpcFile, nil, nil,
			func(c *config.Config) { c.GRPC.Address = "127.0.0.1:9191" }, "is loopback only"},
		{"http: no readiness health check", httpFile, []mutation{{"path: /readyz", "path: /healthz"}}, nil, nil, "http_health_check on /readyz"},
		{"no peer certificate", grpcFile, []mutation{{"include_peer_certificate: true", "include_peer_certificate: false"}}, nil, nil, "include_peer_certificate must be true"},
		{"no listener asks for client certificates", grpcFile, []mutation{{"require_client_certificate: true", "require_client_certificate: false"}}, nil, nil, "no listener terminates TLS asking for client certificates"},
		{"grpc: allowed_headers without dpop", grpcFile, []mutation{{"include_peer_certificate: true", "include_peer_certificate: true\n                      allowed_headers: {patterns: [{exact: authorization}]}"}}, nil, nil, `allowed_headers does not match "dpop"`},
		{"grpc: dpop disallowed", grpcFile, []mutation{{"include_peer_certificate: true", "include_peer_certificate: true\n                      disallowed_headers: {patterns: [{prefix: dp}]}"}}, nil, nil, `disallowed_headers matches "dpop"`},
		{"http: dpop not sent", httpFile, []mutation{{"\n                              - exact: dpop", ""}}, nil, nil, `authorization_request.allowed_headers does not match "dpop"`},
		{"http: wrong tokengate port", httpFile, []mutation{{"port_value: 8181", "port_value: 8080"}}, nil, nil, "listens on port 8181"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := sources[tc.file]
			for _, m := range tc.muts {
				src = mutate(t, src, m.old, m.new)
			}
			if tc.edit != nil {
				src = tc.edit(t, src)
			}
			docs, err := decodeYAMLDocs([]byte(src))
			if err != nil || len(docs) != 1 {
				t.Fatalf("mutated %s: %v (%d documents)", tc.file, err, len(docs))
			}
			cfg := tg
			if tc.tgEdit != nil {
				c := *tg
				tc.tgEdit(&c)
				cfg = &c
			}
			_, problems := checkBootstrap(docs[0], cfg)
			if tc.want == "" {
				if len(problems) > 0 {
					t.Fatalf("unexpected problems:\n%v", errors.Join(problems...))
				}
				return
			}
			requireProblem(t, problems, tc.want)
		})
	}
}

// TestIsBootstrap keeps tokengate configs with an admin section out of the
// bootstrap search, and bootstraps without static_resources in.
func TestIsBootstrap(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want bool
	}{
		{"static_resources: {}", true},
		{"node: {id: a, cluster: b}", true},
		{"admin: {address: {socket_address: {address: 127.0.0.1, port_value: 9901}}}", true},
		{"admin: {address: \"127.0.0.1:8282\", token: x}\ngrpc: {address: \":9191\"}", false},
		{"apiVersion: v1\nkind: ConfigMap", false},
		{"- a\n- b", false},
	} {
		docs, err := decodeYAMLDocs([]byte(tc.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if got := isBootstrap(docs[0]); got != tc.want {
			t.Errorf("isBootstrap(%q) = %v, want %v", tc.yaml, got, tc.want)
		}
	}
}
