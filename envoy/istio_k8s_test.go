package envoy

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tokengate/tokengate/internal/config"
)

const (
	kubernetesFile   = "examples/kubernetes/tokengate.yaml"
	istioMeshFile    = "examples/istio/meshconfig.yaml"
	istioPolicyFile  = "examples/istio/authorizationpolicy.yaml"
	istioTokengate   = "examples/istio/tokengate.yaml"
	defaultDrainTime = 15 * time.Second // tokengate serve --drain-timeout default
)

// k8sAPIVersions are the kinds the Kubernetes example may hold.
var k8sAPIVersions = map[string]string{
	"Namespace":           "v1",
	"ConfigMap":           "v1",
	"Secret":              "v1",
	"Deployment":          "apps/v1",
	"Service":             "v1",
	"PodDisruptionBudget": "policy/v1",
	"ServiceAccount":      "v1",
}

// k8sManifest is the checked Kubernetes example.
type k8sManifest struct {
	objs      map[string]map[string]any // kind -> object
	namespace string
	tg        *config.Config // the ConfigMap's tokengate config
	// service ports by name, e.g. "grpc" -> "9191"
	servicePorts map[string]string
}

func (m *k8sManifest) serviceFQDN() string {
	return digString(m.objs["Service"], "metadata", "name") + "." + m.namespace + ".svc.cluster.local"
}

func TestKubernetesManifest(t *testing.T) {
	data := readFile(t, kubernetesFile)
	m, problems := checkKubernetes(data)
	for _, p := range problems {
		t.Errorf("%s: %v", kubernetesFile, p)
	}
	if m != nil && m.tg != nil {
		t.Logf("%s: %d documents, tokengate config with %d routes, Service %s", kubernetesFile, len(m.objs), len(m.tg.Routes), m.serviceFQDN())
	}
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkKubernetes checks the multi-document Kubernetes example.
func checkKubernetes(data string) (*k8sManifest, []error) {
	var p errs
	docs, err := decodeYAMLDocs([]byte(data))
	if err != nil {
		return nil, append(p, err)
	}
	m := &k8sManifest{objs: map[string]map[string]any{}, servicePorts: map[string]string{}}
	for i, d := range docs {
		o, ok := d.(map[string]any)
		if !ok {
			p.add("document %d is not a mapping", i+1)
			continue
		}
		kind, api := digString(o, "kind"), digString(o, "apiVersion")
		want, known := k8sAPIVersions[kind]
		switch {
		case !known:
			p.add("document %d: unexpected kind %q", i+1, kind)
			continue
		case api != want:
			p.add("%s: apiVersion %q, want %q", kind, api, want)
		case m.objs[kind] != nil:
			p.add("more than one %s", kind)
		}
		if digString(o, "metadata", "name") == "" {
			p.add("%s without metadata.name", kind)
		}
		m.objs[kind] = o
	}
	for _, kind := range []string{"Namespace", "ConfigMap", "Secret", "Deployment", "Service"} {
		if m.objs[kind] == nil {
			p.add("no %s", kind)
		}
	}
	if len(p) > 0 {
		return m, p
	}
	m.namespace = digString(m.objs["Namespace"], "metadata", "name")
	for kind, o := range m.objs {
		if kind != "Namespace" && digString(o, "metadata", "namespace") != m.namespace {
			p.add("%s %q is not in namespace %q", kind, digString(o, "metadata", "name"), m.namespace)
		}
	}

	dep, svc, cm, secret := m.objs["Deployment"], m.objs["Service"], m.objs["ConfigMap"], m.objs["Secret"]
	if r := scalar(dig(dep, "spec", "replicas")); r != "2" {
		p.add("Deployment replicas %q, want 2: one replica makes every protected request depend on one pod", r)
	}
	podLabels := digMap(dep, "spec", "template", "metadata", "labels")
	if sel := digMap(dep, "spec", "selector", "matchLabels"); len(sel) == 0 || !labelsMatch(sel, podLabels) {
		p.add("Deployment selector %v does not select its pod labels %v", sel, podLabels)
	}
	if sel := digMap(svc, "spec", "selector"); len(sel) == 0 || !labelsMatch(sel, podLabels) {
		p.add("Service selector %v does not select the pods (labels %v)", sel, podLabels)
	}
	if pdb := m.objs["PodDisruptionBudget"]; pdb != nil {
		if sel := digMap(pdb, "spec", "selector", "matchLabels"); len(sel) == 0 || !labelsMatch(sel, podLabels) {
			p.add("PodDisruptionBudget selector %v does not select the pods (labels %v)", sel, podLabels)
		}
	}

	pod := digMap(dep, "spec", "template", "spec")
	containers := digList(pod, "containers")
	if len(containers) == 0 {
		p.add("Deployment has no container")
		return m, p
	}
	ctr, _ := containers[0].(map[string]any)
	for _, c := range containers {
		if digString(c, "name") == "tokengate" {
			ctr, _ = c.(map[string]any)
		}
	}
	if digString(ctr, "image") == "" {
		p.add("container without image")
	}
	args := append(stringList(ctr["command"]), stringList(ctr["args"])...)
	// What the container runs: its command, else the image's ENTRYPOINT
	// (the Dockerfile's), then its args. `serve` must be the command word
	// exactly once: `tokengate serve serve ...` exits 2.
	argv := args
	if len(stringList(ctr["command"])) == 0 {
		argv = append([]string{"/tokengate", "serve"}, stringList(ctr["args"])...)
	}
	if len(argv) < 2 || argv[0] != "/tokengate" || argv[1] != "serve" || slices.Contains(argv[2:], "serve") {
		p.add("the container runs %q, want /tokengate serve --config ... (the Dockerfile's binary, serve once)", argv)
	}
	cfgPath, ok := flagValue(args, "config")
	if !ok {
		p.add("container args %q have no --config", args)
		return m, p
	}

	// The config file: a ConfigMap key mounted at --config.
	cmName := digString(cm, "metadata", "name")
	cfgText, found := "", false
	for _, vm := range asList(ctr["volumeMounts"]) {
		mount := digString(vm, "mountPath")
		if digString(vm, "subPath") != "" || path.Dir(cfgPath) != path.Clean(mount) {
			continue
		}
		for _, vol := range digList(pod, "volumes") {
			if digString(vol, "name") != digString(vm, "name") || digString(vol, "configMap", "name") != cmName {
				continue
			}
			key := path.Base(cfgPath)
			for _, item := range digList(vol, "configMap", "items") {
				if digString(item, "path") == key {
					key = digString(item, "key")
				}
			}
			cfgText, found = digString(cm, "data", key), true
		}
	}
	if !found || cfgText == "" {
		p.add("--config %s is not a key of ConfigMap %q mounted into the container", cfgPath, cmName)
		return m, p
	}

	// Environment: every ${NAME} of the config must come from the Secret.
	secretName := digString(secret, "metadata", "name")
	secretKeys := map[string]bool{}
	for _, field := range []string{"stringData", "data"} {
		for k := range digMap(secret, field) {
			secretKeys[k] = true
		}
	}
	envNames, fromSecret := map[string]bool{}, map[string]bool{}
	for _, e := range asList(ctr["env"]) {
		name := digString(e, "name")
		envNames[name] = true
		if ref := digMap(e, "valueFrom", "secretKeyRef"); ref != nil {
			switch {
			case digString(ref, "name") != secretName:
				p.add("env %s refers to Secret %q, not %q", name, digString(ref, "name"), secretName)
			case !secretKeys[digString(ref, "key")]:
				p.add("env %s refers to key %q, which Secret %q does not have", name, digString(ref, "key"), secretName)
			default:
				fromSecret[name] = true
			}
		}
	}
	for _, ef := range asList(ctr["envFrom"]) {
		if digString(ef, "secretRef", "name") == secretName {
			for k := range secretKeys {
				envNames[digString(ef, "prefix")+k] = true
				fromSecret[digString(ef, "prefix")+k] = true
			}
		}
	}
	refs := envRefs(cfgText)
	for _, ref := range refs {
		if !fromSecret[ref] {
			p.add("${%s} in the ConfigMap's tokengate config is not set from Secret %q by the container's env", ref, secretName)
		}
	}
	tg, err := parseTokengate([]byte(cfgText), func(name string) (string, bool) {
		if !envNames[name] {
			return "", false
		}
		return dummyEnv(name)
	}, path.Dir(kubernetesFile))
	if err != nil {
		p.add("the ConfigMap's tokengate config does not validate with the container's environment:\n%v", err)
		return m, p
	}
	m.tg = tg

	// Ports: the config's addresses, the container's ports, the Service's.
	ctrPorts := map[string]string{}
	for _, cp := range asList(ctr["ports"]) {
		ctrPorts[digString(cp, "name")] = scalar(dig(cp, "containerPort"))
	}
	resolve := func(target any) string { // a port name or number
		if s, ok := target.(string); ok {
			if _, err := strconv.Atoi(s); err != nil {
				return ctrPorts[s]
			}
		}
		return scalar(target)
	}
	for _, l := range []struct{ name, key, addr string }{{"grpc", "grpc.address", tg.GRPC.Address}, {"http", "http.address", tg.HTTP.Address}} {
		port, external, err := listenPort(l.addr)
		if err != nil {
			p.add("config %s: %v", l.key, err)
			continue
		}
		if !external {
			p.add("config %s %q listens on loopback only: nothing outside the pod reaches it", l.key, l.addr)
		}
		if ctrPorts[l.name] != port {
			p.add("container port %q is %q, but the config's %s is %q", l.name, ctrPorts[l.name], l.key, l.addr)
		}
		var sp any
		for _, s := range digList(svc, "spec", "ports") {
			if digString(s, "name") == l.name {
				sp = s
			}
		}
		if sp == nil {
			p.add("Service has no port named %q", l.name)
			continue
		}
		m.servicePorts[l.name] = scalar(dig(sp, "port"))
		target := dig(sp, "targetPort")
		if target == nil {
			target = dig(sp, "port")
		}
		if got := resolve(target); got != port {
			p.add("Service port %q targets %q (= %q), but tokengate listens on %s", l.name, scalar(target), got, port)
		}
	}
	for _, s := range digList(svc, "spec", "ports") {
		if digString(s, "name") == "grpc" && digString(s, "appProtocol") != "grpc" {
			p.add("Service port grpc needs appProtocol: grpc (meshes and gateways then speak HTTP/2 to it)")
		}
	}

	// Probes on the HTTP listener.
	httpPort, _, _ := listenPort(tg.HTTP.Address)
	for _, pr := range []struct{ probe, path string }{{"readinessProbe", "/readyz"}, {"livenessProbe", "/healthz"}} {
		get := digMap(ctr, pr.probe, "httpGet")
		switch {
		case get == nil:
			p.add("%s must be an httpGet on %s", pr.probe, pr.path)
		case digString(get, "path") != pr.path:
			p.add("%s path %q, want %s", pr.probe, digString(get, "path"), pr.path)
		case resolve(get["port"]) != httpPort:
			p.add("%s port %q is not the HTTP listener's port %s", pr.probe, scalar(get["port"]), httpPort)
		case tg.HTTP.TLS != nil && digString(get, "scheme") != "HTTPS":
			p.add("%s must use scheme HTTPS: the HTTP listener has TLS", pr.probe)
		}
	}

	// Security: container settings win over the pod's.
	sec := func(key string) any {
		if v := dig(ctr, "securityContext", key); v != nil {
			return v
		}
		return dig(pod, "securityContext", key)
	}
	if scalar(sec("runAsNonRoot")) != "true" {
		p.add("securityContext.runAsNonRoot must be true")
	}
	if u := scalar(sec("runAsUser")); u == "" || u == "0" {
		p.add("securityContext.runAsUser must be a non-root user (65532), got %q", u)
	}
	if scalar(dig(ctr, "securityContext", "readOnlyRootFilesystem")) != "true" {
		p.add("container securityContext.readOnlyRootFilesystem must be true")
	}
	if scalar(dig(ctr, "securityContext", "allowPrivilegeEscalation")) != "false" {
		p.add("container securityContext.allowPrivilegeEscalation must be false")
	}
	if !slices.Contains(stringList(dig(ctr, "securityContext", "capabilities", "drop")), "ALL") {
		p.add("container securityContext.capabilities.drop must contain ALL")
	}
	if digString(sec("seccompProfile"), "type") != "RuntimeDefault" {
		p.add("securityContext.seccompProfile.type must be RuntimeDefault")
	}
	for _, r := range []string{"requests", "limits"} {
		for _, res := range []string{"cpu", "memory"} {
			if scalar(dig(ctr, "resources", r, res)) == "" {
				p.add("container resources.%s.%s is not set", r, res)
			}
		}
	}

	// Draining: the kubelet must not kill a replica that is still draining.
	drain := defaultDrainTime
	if v, ok := flagValue(args, "drain-timeout"); ok {
		if drain, err = time.ParseDuration(v); err != nil {
			p.add("--drain-timeout %q: %v", v, err)
		}
	}
	preStop := time.Duration(0)
	if s := scalar(dig(ctr, "lifecycle", "preStop", "sleep", "seconds")); s != "" {
		n, _ := strconv.Atoi(s)
		preStop = time.Duration(n) * time.Second
	}
	grace := 30 * time.Second
	if s := scalar(dig(pod, "terminationGracePeriodSeconds")); s != "" {
		n, _ := strconv.Atoi(s)
		grace = time.Duration(n) * time.Second
	}
	if grace <= preStop+drain {
		p.add("terminationGracePeriodSeconds %v must exceed preStop sleep %v + --drain-timeout %v, or in-flight checks are killed", grace, preStop, drain)
	}
	return m, p
}

// labelsMatch reports whether every selector label is among labels.
func labelsMatch(selector, labels map[string]any) bool {
	for k, v := range selector {
		if scalar(labels[k]) != scalar(v) {
			return false
		}
	}
	return true
}

// flagValue finds --name VALUE or --name=VALUE (also with one dash).
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		for _, prefix := range []string{"--" + name, "-" + name} {
			if a == prefix && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, prefix+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

func TestKubernetesManifestChecksCatchMistakes(t *testing.T) {
	src := readFile(t, kubernetesFile)
	cases := []struct{ name, old, new, want string }{
		{"one replica", "replicas: 2", "replicas: 1", "replicas"},
		{"writable root", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem"},
		{"root user", "            runAsUser: 65532\n            readOnlyRootFilesystem", "            runAsUser: 0\n            readOnlyRootFilesystem", "runAsUser"},
		{"privilege escalation", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation"},
		{"capabilities kept", `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "capabilities.drop"},
		{"readiness on healthz", "path: /readyz", "path: /healthz", "readinessProbe path"},
		{"liveness on readyz", "path: /healthz\n              port: http\n            periodSeconds: 10", "path: /readyz\n              port: http\n            periodSeconds: 10", "livenessProbe path"},
		{"container port drift", "containerPort: 9191", "containerPort: 9192", `container port "grpc"`},
		{"config on loopback", `address: "0.0.0.0:8181"`, `address: "127.0.0.1:8181"`, "loopback only"},
		{"config port drift", `address: "0.0.0.0:9191"`, `address: "0.0.0.0:9000"`, `container port "grpc"`},
		{"secret not in env", "            - name: ACME_CLIENT_SECRET\n              valueFrom:", "            - name: ACME_SECRET\n              valueFrom:", "${ACME_CLIENT_SECRET}"},
		{"secret key missing", "key: ACME_CLIENT_SECRET", "key: ACME_CLIENT_SECRETS", "does not have"},
		{"short grace period", "terminationGracePeriodSeconds: 30", "terminationGracePeriodSeconds: 20", "terminationGracePeriodSeconds"},
		{"no appProtocol", "appProtocol: grpc", "appProtocol: http2c", "appProtocol: grpc"},
		{"invalid tokengate config", "auth_method: client_secret_basic", "auth_method: client_secret_basics", "does not validate"},
		{"config not mounted", "mountPath: /etc/tokengate", "mountPath: /etc/tokengate2", "is not a key of ConfigMap"},
		{"selector drift", "  selector:\n    app.kubernetes.io/name: tokengate", "  selector:\n    app.kubernetes.io/name: tokengates", "Service selector"},
		{"no resources", "          resources:\n", "          resourcez:\n", "resources.requests.cpu"},
		{"wrong namespace", "  name: tokengate-secrets\n  namespace: tokengate", "  name: tokengate-secrets\n  namespace: default", "is not in namespace"},
	}
	t.Run("unchanged", func(t *testing.T) {
		if _, problems := checkKubernetes(src); len(problems) > 0 {
			t.Fatal(errors.Join(problems...))
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, problems := checkKubernetes(mutate(t, src, tc.old, tc.new))
			requireProblem(t, problems, tc.want)
		})
	}
}

// Istio's ext_authz provider fields (istio.mesh.v1alpha1
// MeshConfig.ExtensionProvider): anything else is a typo Istio rejects.
var (
	istioGrpcFields = []string{"service", "port", "timeout", "failOpen", "clearRouteCache", "statusOnError", "includeRequestBodyInCheck"}
	istioHTTPFields = []string{"service", "port", "timeout", "pathPrefix", "failOpen", "clearRouteCache", "statusOnError", "includeHeadersInCheck",
		"includeRequestHeadersInCheck", "includeAdditionalHeadersInCheck", "includeRequestBodyInCheck", "headersToUpstreamOnAllow",
		"headersToDownstreamOnDeny", "headersToDownstreamOnAllow"}
)

func TestIstioExamples(t *testing.T) {
	k8s, problems := checkKubernetes(readFile(t, kubernetesFile))
	if len(problems) > 0 {
		t.Fatalf("%s has problems (see TestKubernetesManifest)", kubernetesFile)
	}
	for _, p := range checkIstio(readFile(t, istioMeshFile), readFile(t, istioPolicyFile), readFile(t, istioTokengate), k8s) {
		t.Error(p)
	}
}

// checkIstio checks the mesh config, the authorization policies and the
// tokengate config of the Istio example against each other and against the
// Kubernetes Service that tokengate runs behind.
func checkIstio(mesh, policies, tgText string, k8s *k8sManifest) []error {
	var p errs
	tg, err := parseTokengate([]byte(tgText), dummyEnv, path.Dir(istioTokengate))
	if err != nil {
		return append(p, fmt.Errorf("%s does not pass tokengate's config validation:\n%v", istioTokengate, err))
	}
	// Istio sends no context extensions: each route must be selective.
	for _, r := range tg.Routes {
		if !r.Public && len(r.Hosts) == 0 && r.PathPrefix == "/" {
			p.add("%s: route %q matches every host and path; Istio cannot name routes, so routes must select by host or path", istioTokengate, r.Name)
		}
	}

	meshDocs, err := decodeYAMLDocs([]byte(mesh))
	if err != nil {
		return append(p, fmt.Errorf("%s: %v", istioMeshFile, err))
	}
	var providers []any
	for i, d := range meshDocs {
		switch kind, api := digString(d, "kind"), digString(d, "apiVersion"); {
		case kind == "IstioOperator" && api == "install.istio.io/v1alpha1":
			providers = append(providers, digList(d, "spec", "meshConfig", "extensionProviders")...)
		case kind == "ConfigMap" && api == "v1" && digString(d, "data", "mesh") != "":
			inner, err := decodeYAMLDocs([]byte(digString(d, "data", "mesh")))
			if err != nil || len(inner) != 1 {
				p.add("%s document %d: data.mesh is not one YAML document: %v", istioMeshFile, i+1, err)
				continue
			}
			providers = append(providers, digList(inner[0], "extensionProviders")...)
		default:
			p.add("%s document %d: %s %s is neither an IstioOperator (install.istio.io/v1alpha1) nor the istio ConfigMap", istioMeshFile, i+1, api, kind)
		}
	}
	names := map[string]bool{}
	grpcProviders := 0
	limit := maxIntrospectionTimeout(tg)
	for _, prov := range providers {
		name := digString(prov, "name")
		grpc, http := digMap(prov, "envoyExtAuthzGrpc"), digMap(prov, "envoyExtAuthzHttp")
		if grpc == nil && http == nil {
			continue // a tracing or logging provider
		}
		where := fmt.Sprintf("%s provider %q", istioMeshFile, name)
		if names[name] {
			p.add("%s: duplicate provider name", where)
		}
		names[name] = true
		cfg, fields, listenKey, listenAddr := grpc, istioGrpcFields, "grpc", tg.GRPC.Address
		if grpc == nil {
			cfg, fields, listenKey, listenAddr = http, istioHTTPFields, "http", tg.HTTP.Address
		} else {
			grpcProviders++
		}
		for k := range cfg {
			if !slices.Contains(fields, k) {
				p.add("%s: unknown field %q", where, k)
			}
		}
		if svc := digString(cfg, "service"); svc[strings.LastIndex(svc, "/")+1:] != k8s.serviceFQDN() {
			p.add("%s: service %q is not the tokengate Service %s of %s", where, svc, k8s.serviceFQDN(), kubernetesFile)
		}
		port, _, _ := listenPort(listenAddr)
		if got := scalar(cfg["port"]); got != k8s.servicePorts[listenKey] || got != port {
			p.add("%s: port %q, but the Service's %s port is %q and %s listens on %s", where, got, listenKey, k8s.servicePorts[listenKey], istioTokengate, port)
		}
		if scalar(cfg["failOpen"]) == "true" {
			p.add("%s: failOpen must be false: requests would pass unchecked whenever tokengate is unreachable", where)
		}
		if d, err := time.ParseDuration(scalar(cfg["timeout"])); err != nil {
			p.add("%s: timeout %q: set a duration above the introspection timeout %v (Istio's default is 10m)", where, scalar(cfg["timeout"]), limit)
		} else if d <= limit {
			p.add("%s: timeout %v must be above the longest introspection timeout of %s (%v)", where, d, istioTokengate, limit)
		}
		if cfg["includeRequestBodyInCheck"] != nil {
			p.add("%s: includeRequestBodyInCheck must not be set: tokengate never reads bodies", where)
		}
		if http == nil {
			continue
		}
		if got := scalar(http["pathPrefix"]); got != "/authz" {
			p.add("%s: pathPrefix must be /authz (tokengate checks paths /authz and /authz/...), got %q", where, got)
		}
		if http["includeHeadersInCheck"] != nil {
			p.add("%s: includeHeadersInCheck is deprecated: use includeRequestHeadersInCheck", where)
		}
		check := stringList(http["includeRequestHeadersInCheck"])
		for _, h := range senderHeaders {
			if !istioMatches(check, h) {
				p.add("%s: includeRequestHeadersInCheck must include %s", where, h)
			}
		}
		for _, h := range forwardedFamily(tg) {
			if istioMatches(check, h) {
				p.add("%s: includeRequestHeadersInCheck passes client-sent %q, which tokengate (forwarded_headers %q) reads as the checked request", where, h, tg.HTTP.ForwardedHeaders)
			}
		}
		for _, h := range claimHeaders(tg) {
			if !istioMatches(stringList(http["headersToUpstreamOnAllow"]), h) {
				p.add("%s: headersToUpstreamOnAllow does not cover claim header %q of %s", where, h, istioTokengate)
			}
		}
	}
	if grpcProviders == 0 {
		p.add("%s: no envoyExtAuthzGrpc provider", istioMeshFile)
	}

	policyDocs, err := decodeYAMLDocs([]byte(policies))
	if err != nil {
		return append(p, fmt.Errorf("%s: %v", istioPolicyFile, err))
	}
	if len(policyDocs) == 0 {
		p.add("%s: no AuthorizationPolicy", istioPolicyFile)
	}
	for i, d := range policyDocs {
		where := fmt.Sprintf("%s document %d", istioPolicyFile, i+1)
		if kind, api := digString(d, "kind"), digString(d, "apiVersion"); kind != "AuthorizationPolicy" || (api != "security.istio.io/v1" && api != "security.istio.io/v1beta1") {
			p.add("%s: %s %s, want security.istio.io/v1 AuthorizationPolicy", where, api, kind)
			continue
		}
		if a := digString(d, "spec", "action"); a != "CUSTOM" {
			p.add("%s: action %q, want CUSTOM (the action that calls an external authorizer)", where, a)
		}
		if n := digString(d, "spec", "provider", "name"); !names[n] {
			p.add("%s: provider %q is not an ext_authz extension provider of %s", where, n, istioMeshFile)
		}
		if len(digList(d, "spec", "rules")) == 0 {
			p.add("%s: a CUSTOM policy without rules never calls the provider", where)
		}
	}
	return p
}

// istioMatches evaluates Istio's header patterns: "abc", "abc*", "*abc".
func istioMatches(patterns []string, h string) bool {
	for _, pat := range patterns {
		pat = strings.ToLower(pat)
		switch {
		case pat == "*":
			return true
		case strings.HasSuffix(pat, "*") && strings.HasPrefix(h, strings.TrimSuffix(pat, "*")):
			return true
		case strings.HasPrefix(pat, "*") && strings.HasSuffix(h, strings.TrimPrefix(pat, "*")):
			return true
		case pat == h:
			return true
		}
	}
	return false
}

func TestIstioChecksCatchMistakes(t *testing.T) {
	k8s, problems := checkKubernetes(readFile(t, kubernetesFile))
	if len(problems) > 0 {
		t.Fatalf("%s has problems (see TestKubernetesManifest)", kubernetesFile)
	}
	mesh, policies, tg := readFile(t, istioMeshFile), readFile(t, istioPolicyFile), readFile(t, istioTokengate)
	type edit struct{ file, old, new string }
	cases := []struct {
		name  string
		edits []edit
		want  string
	}{
		{"action ALLOW", []edit{{istioPolicyFile, "action: CUSTOM", "action: ALLOW"}}, "want CUSTOM"},
		{"unknown provider", []edit{{istioPolicyFile, "name: tokengate\n", "name: tokengate-grpc\n"}}, `provider "tokengate-grpc" is not`},
		{"no rules", []edit{{istioPolicyFile, "  rules:\n    # Everything", "  rulez:\n    # Everything"}}, "without rules"},
		{"fail open", []edit{{istioMeshFile, "failOpen: false", "failOpen: true"}}, "failOpen must be false"},
		{"typo", []edit{{istioMeshFile, "failOpen: false", "failopen: false"}}, `unknown field "failopen"`},
		{"wrong grpc port", []edit{{istioMeshFile, "port: 9191", "port: 9000"}}, `port "9000"`},
		{"wrong service", []edit{{istioMeshFile, "service: tokengate.tokengate.svc.cluster.local", "service: tokengate.default.svc.cluster.local"}}, "is not the tokengate Service"},
		{"short timeout", []edit{{istioMeshFile, "timeout: 3s", "timeout: 1s"}}, "must be above the longest introspection timeout"},
		{"no timeout", []edit{{istioMeshFile, "          timeout: 3s\n", ""}}, "Istio's default is 10m"},
		{"http path prefix", []edit{{istioMeshFile, "pathPrefix: /authz", "pathPrefix: /check"}}, "pathPrefix must be /authz"},
		{"claim header not upstream", []edit{{istioMeshFile, "            - x-auth-scope\n", ""}}, `claim header "x-auth-scope"`},
		{"no authorization in check", []edit{{istioMeshFile, "            - authorization\n", ""}}, "must include authorization"},
		{"no dpop in check", []edit{{istioMeshFile, "            - dpop\n", ""}}, "must include dpop"},
		// Istio's gRPC provider has no such field: Istio would reject the mesh config.
		{"includePeerCertificate on the gRPC provider", []edit{{istioMeshFile, "          failOpen: false\n          statusOnError: \"503\"\n      - name: tokengate-http", "          failOpen: false\n          statusOnError: \"503\"\n          includePeerCertificate: true\n      - name: tokengate-http"}}, `unknown field "includePeerCertificate"`},
		{"forwarded headers passed", []edit{{istioTokengate, "forwarded_headers: none", "forwarded_headers: x-forwarded"}, {istioMeshFile, "            - x-b3-*\n", "            - x-b3-*\n            - x-forwarded-*\n"}}, `passes client-sent "x-forwarded-method"`},
		{"catch-all route", []edit{{istioTokengate, "    path_prefix: \"/inventory\"\n", ""}, {istioTokengate, `    hosts: ["inventory.shop.svc.cluster.local", "inventory.shop.svc", "inventory.shop", "inventory"]` + "\n", ""}}, `route "inventory-read" matches every host`},
		{"invalid tokengate config", []edit{{istioTokengate, "auth_method: client_secret_basic", "auth_method: basic"}}, "does not pass tokengate's config validation"},
		{"wrong kind", []edit{{istioMeshFile, "kind: IstioOperator", "kind: MeshConfig"}}, "neither an IstioOperator"},
	}
	t.Run("unchanged", func(t *testing.T) {
		if problems := checkIstio(mesh, policies, tg, k8s); len(problems) > 0 {
			t.Fatal(errors.Join(problems...))
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{istioMeshFile: mesh, istioPolicyFile: policies, istioTokengate: tg}
			for _, e := range tc.edits {
				files[e.file] = mutate(t, files[e.file], e.old, e.new)
			}
			m, pol, cfg := files[istioMeshFile], files[istioPolicyFile], files[istioTokengate]
			requireProblem(t, checkIstio(m, pol, cfg, k8s), tc.want)
		})
	}
}

// TestTraefikExample parses the Traefik dynamic configuration.
func TestTraefikExample(t *testing.T) {
	for _, p := range checkTraefik(readFile(t, traefikFile), claimHeaders(loadTokengate(t, defaultTokengateConfig))) {
		t.Errorf("%s: %v", traefikFile, p)
	}
}

const (
	traefikFile = "examples/traefik/dynamic.yaml"
	caddyFile   = "examples/caddy/Caddyfile"
)

// checkTraefik checks forwardAuth middlewares against tokengate's HTTP mode.
func checkTraefik(src string, claims []string) []error {
	var p errs
	docs, err := decodeYAMLDocs([]byte(src))
	if err != nil || len(docs) != 1 {
		return append(p, fmt.Errorf("want one YAML document: %v", err))
	}
	doc := docs[0]
	middlewares := digMap(doc, "http", "middlewares")
	authMiddlewares := map[string]bool{}
	defaultPort, _, _ := listenPort(config.DefaultHTTPAddress)
	for name, mw := range middlewares {
		fa := digMap(mw, "forwardAuth")
		if fa == nil {
			continue
		}
		authMiddlewares[name] = true
		u, err := url.Parse(digString(fa, "address"))
		if err != nil || u.Host == "" {
			p.add("middleware %s: address %q is not a URL", name, digString(fa, "address"))
			continue
		}
		if u.Path != "/authz" && !strings.HasPrefix(u.Path, "/authz/") {
			p.add("middleware %s: address path %q must be /authz (tokengate checks paths /authz and /authz/...)", name, u.Path)
		}
		if u.Port() != defaultPort {
			p.add("middleware %s: address port %q is not tokengate's HTTP port %s", name, u.Port(), defaultPort)
		}
		if v, ok := fa["trustForwardHeader"]; !ok || scalar(v) != "false" {
			p.add("middleware %s: trustForwardHeader must be set to false: tokengate reads X-Forwarded-*, so clients must not choose them", name)
		}
		got := stringList(fa["authResponseHeaders"])
		for _, h := range claims {
			if !slices.ContainsFunc(got, func(g string) bool { return strings.EqualFold(g, h) }) {
				p.add("middleware %s: authResponseHeaders lacks claim header %q (Traefik would pass a client-sent copy)", name, h)
			}
		}
	}
	if len(authMiddlewares) == 0 {
		p.add("no forwardAuth middleware")
	}
	services := digMap(doc, "http", "services")
	protected := 0
	for name, r := range digMap(doc, "http", "routers") {
		for _, mw := range stringList(dig(r, "middlewares")) {
			if strings.Contains(mw, "@") {
				continue // defined by another provider
			}
			if middlewares[mw] == nil {
				p.add("router %s: middleware %q is not defined", name, mw)
			}
			if authMiddlewares[mw] {
				protected++
			}
		}
		if svc := digString(r, "service"); !strings.Contains(svc, "@") && services[svc] == nil {
			p.add("router %s: service %q is not defined", name, svc)
		}
	}
	if protected == 0 {
		p.add("no router uses a forwardAuth middleware")
	}
	return p
}

// TestCaddyExample checks the Caddyfile's forward_auth block by text (there
// is no Caddyfile parser among the project's dependencies).
func TestCaddyExample(t *testing.T) {
	for _, p := range checkCaddy(readFile(t, caddyFile), claimHeaders(loadTokengate(t, defaultTokengateConfig))) {
		t.Errorf("%s: %v", caddyFile, p)
	}
}

func checkCaddy(src string, claims []string) []error {
	var p errs
	var lines []string
	for _, l := range strings.Split(src, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	defaultPort, _, _ := listenPort(config.DefaultHTTPAddress)
	fa := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "forward_auth ") })
	if fa < 0 {
		return append(p, errors.New("no forward_auth directive"))
	}
	fields := strings.Fields(lines[fa])
	if len(fields) < 3 || !strings.HasSuffix(fields[1], ":"+defaultPort) || fields[2] != "{" {
		p.add("forward_auth must name tokengate's HTTP port %s and open a block: %q", defaultPort, lines[fa])
	}
	block := lines[fa+1:]
	if end := slices.Index(block, "}"); end >= 0 {
		block = block[:end]
	}
	if !slices.ContainsFunc(block, func(l string) bool { return l == "uri /authz" || strings.HasPrefix(l, "uri /authz/") }) {
		p.add("forward_auth needs `uri /authz` (tokengate checks paths /authz and /authz/...)")
	}
	var copied []string
	for _, l := range block {
		if rest, ok := strings.CutPrefix(l, "copy_headers "); ok {
			copied = append(copied, strings.Fields(rest)...)
		}
	}
	// The lines of the route block that leads to forward_auth.
	var before []string
	r := fa - 1
	for r >= 0 && lines[r] != "route {" {
		r--
	}
	if r < 0 {
		p.add("forward_auth and the request_header lines must sit in a `route` block, or Caddy reorders them")
	} else {
		before = lines[r+1 : fa]
	}
	for _, h := range claims {
		if !slices.ContainsFunc(copied, func(c string) bool { return strings.EqualFold(c, h) }) {
			p.add("copy_headers lacks claim header %q", h)
		}
		if !slices.ContainsFunc(before, func(l string) bool { return strings.EqualFold(l, "request_header -"+h) }) {
			p.add("no `request_header -%s` in the route block before forward_auth: a client-sent copy could reach the app", h)
		}
	}
	if slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "trusted_proxies") }) {
		p.add("trusted_proxies lets the listed peers set X-Forwarded-*, which tokengate reads: keep it out of the example")
	}
	return p
}

func TestForwardAuthChecksCatchMistakes(t *testing.T) {
	claims := claimHeaders(loadTokengate(t, defaultTokengateConfig))
	traefik, caddy := readFile(t, traefikFile), readFile(t, caddyFile)
	t.Run("unchanged", func(t *testing.T) {
		if problems := append(checkTraefik(traefik, claims), checkCaddy(caddy, claims)...); len(problems) > 0 {
			t.Fatal(errors.Join(problems...))
		}
	})
	for _, tc := range []struct{ name, file, old, new, want string }{
		{"trusted forward headers", traefikFile, "        trustForwardHeader: false", "        trustForwardHeader: true", "trustForwardHeader must be set to false"},
		{"wrong path", traefikFile, `address: "http://tokengate:8181/authz"`, `address: "http://tokengate:8181/auth"`, "must be /authz"},
		{"claim header not copied", traefikFile, "          - X-Auth-Scope\n", "", `lacks claim header "x-auth-scope"`},
		{"undefined middleware", traefikFile, `middlewares: ["tokengate"]`, `middlewares: ["tokengat"]`, "is not defined"},
		{"caddy uri", caddyFile, "uri /authz", "uri /auth", "uri /authz"},
		{"caddy copy_headers", caddyFile, "copy_headers X-Auth-Subject X-Auth-Client-Id X-Auth-Scope", "copy_headers X-Auth-Subject X-Auth-Client-Id", `copy_headers lacks claim header "x-auth-scope"`},
		{"caddy strip", caddyFile, "\t\troute {\n\t\t\trequest_header -X-Auth-Subject\n", "\t\troute {\n", "no `request_header -x-auth-subject`"},
		{"caddy trusted proxies", caddyFile, "orders.example.com {\n", "orders.example.com {\n\treverse_proxy {\n\t\ttrusted_proxies private_ranges\n\t}\n", "trusted_proxies"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var problems []error
			if tc.file == traefikFile {
				problems = checkTraefik(mutate(t, traefik, tc.old, tc.new), claims)
			} else {
				problems = checkCaddy(mutate(t, caddy, tc.old, tc.new), claims)
			}
			requireProblem(t, problems, tc.want)
		})
	}
}
