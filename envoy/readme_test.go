package envoy

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// readmeSnippetMarker stands just before the README's Envoy snippet for
// sender-constrained tokens ("Sender-constrained tokens").
const readmeSnippetMarker = "<!-- envoy: TestReadmeSenderConstrainedSnippet -->"

// TestReadmeSenderConstrainedSnippet keeps the README's Envoy snippet for
// sender-constrained tokens identical to the shipped, validated
// envoy/front-proxy-grpc.yaml: its transport_socket is the one of the
// ingress_mtls listener (TLS asking for client certificates), its
// http_filters hold exactly the ext_authz filter that listener's connection
// manager runs (include_peer_certificate on).
func TestReadmeSenderConstrainedSnippet(t *testing.T) {
	readme := readFile(t, "README.md")
	bootstrap := readYAMLFile(t, "envoy/front-proxy-grpc.yaml")[0].Value
	if problems := checkReadmeSnippet(readmeYAML(t, readme, readmeSnippetMarker), bootstrap); len(problems) > 0 {
		t.Error(errors.Join(problems...))
	}
	// The check can fail: a README that drifts from the shipped file.
	for _, m := range []struct{ old, new, want string }{
		{"timeout: 3s", "timeout: 4s", "http_filters differ"},
		{"require_client_certificate: true", "require_client_certificate: false", "transport_socket differs"},
		{"    include_peer_certificate: true\n", "", "http_filters differ"},
	} {
		_, snippet, _ := strings.Cut(readme, readmeSnippetMarker)
		requireProblem(t, checkReadmeSnippet(readmeYAML(t, readmeSnippetMarker+mutate(t, snippet, m.old, m.new), readmeSnippetMarker), bootstrap), m.want)
	}
}

// checkReadmeSnippet compares the README snippet with the bootstrap's
// ingress_mtls listener.
func checkReadmeSnippet(snippet map[string]any, bootstrap any) []error {
	var p errs
	if got := slices.Sorted(maps.Keys(snippet)); !slices.Equal(got, []string{"http_filters", "transport_socket"}) {
		p.add("README snippet has top-level keys %v, want http_filters and transport_socket", got)
	}
	var chain map[string]any
	for _, l := range digList(bootstrap, "static_resources", "listeners") {
		if digString(l, "name") == "ingress_mtls" {
			chain = digMap(l, "filter_chains", 0)
		}
	}
	if chain == nil {
		return append(p, errors.New("envoy/front-proxy-grpc.yaml has no listener ingress_mtls with a filter chain"))
	}
	if !reflect.DeepEqual(snippet["transport_socket"], chain["transport_socket"]) {
		p.add("README transport_socket differs from ingress_mtls's:\nREADME:  %v\nshipped: %v", snippet["transport_socket"], chain["transport_socket"])
	}
	var extAuthz any
	for _, f := range digList(chain, "filters", 0, "typed_config", "http_filters") {
		if digString(f, "name") == extAuthzFilterName {
			extAuthz = f
		}
	}
	switch {
	case extAuthz == nil:
		p.add("ingress_mtls runs no %s filter", extAuthzFilterName)
	case !reflect.DeepEqual(snippet["http_filters"], []any{extAuthz}):
		p.add("README http_filters differ from ingress_mtls's ext_authz filter:\nREADME:  %v\nshipped: %v", snippet["http_filters"], extAuthz)
	case dig(extAuthz, "typed_config", "include_peer_certificate") != true:
		p.add("the ext_authz filter must set include_peer_certificate: true")
	}
	return p
}

// readmeYAML decodes the ```yaml block that follows marker in readme.
func readmeYAML(t *testing.T, readme, marker string) map[string]any {
	t.Helper()
	_, after, ok := strings.Cut(readme, marker)
	if !ok {
		t.Fatalf("README.md lacks %q before its Envoy snippet", marker)
	}
	_, body, ok := strings.Cut(after, "```yaml\n")
	if !ok {
		t.Fatalf("README.md: no ```yaml block after %q", marker)
	}
	body, _, ok = strings.Cut(body, "```")
	if !ok {
		t.Fatalf("README.md: the yaml block after %q is not closed", marker)
	}
	docs, err := decodeYAMLDocs([]byte(body))
	if err != nil || len(docs) != 1 {
		t.Fatalf("README.md snippet after %q: %v (%d documents)", marker, err, len(docs))
	}
	m, ok := docs[0].(map[string]any)
	if !ok {
		t.Fatalf("README.md snippet after %q is not a mapping", marker)
	}
	return m
}
