package envoy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// tokengateMetadataKeys are the dynamic metadata keys tokengate sends (the
// contract's "Decisions"): allows carry tenant, route, sub, client_id,
// scope; denies tenant, route, reason, sub, client_id.
var tokengateMetadataKeys = []string{"tenant", "route", "reason", "sub", "client_id", "scope"}

// dynamicMetadataRef matches %DYNAMIC_METADATA(namespace:key...)% in an
// access-log format.
var dynamicMetadataRef = regexp.MustCompile(`%DYNAMIC_METADATA\(([^:)]*)((?::[^:)]*)*)\)(?::\d+)?%`)

// accessLogMetadataProblems checks the ext_authz dynamic metadata an access
// log format prints: Envoy stores it under the filter's name,
// envoy.filters.http.ext_authz (not the configured filter name, not
// "ext_authz"), and only the keys tokengate sends exist. It returns the
// keys printed from that namespace.
func accessLogMetadataProblems(format string) (keys []string, problems []string) {
	for _, m := range dynamicMetadataRef.FindAllStringSubmatch(format, -1) {
		ns, path := m[1], strings.TrimPrefix(m[2], ":")
		if !strings.Contains(ns, "ext_authz") {
			continue
		}
		if ns != extAuthzFilterName {
			problems = append(problems, fmt.Sprintf("%s: Envoy puts ext_authz metadata under %q", m[0], extAuthzFilterName))
			continue
		}
		key, _, _ := strings.Cut(path, ":")
		if !slices.Contains(tokengateMetadataKeys, key) {
			problems = append(problems, fmt.Sprintf("%s: tokengate sends no %q (only %s)", m[0], key, strings.Join(tokengateMetadataKeys, ", ")))
			continue
		}
		keys = append(keys, key)
	}
	return keys, problems
}

// hcmAccessLogFormats are the text formats of every stdout/stderr access
// log of the bootstrap's HTTP connection managers.
func hcmAccessLogFormats(bs *bootstrapv3.Bootstrap) []string {
	var out []string
	for _, l := range bs.GetStaticResources().GetListeners() {
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				hcm, ok := mustUnmarshal(f.GetTypedConfig()).(*hcmv3.HttpConnectionManager)
				if !ok {
					continue
				}
				for _, al := range hcm.GetAccessLog() {
					switch c := mustUnmarshal(al.GetTypedConfig()).(type) {
					case *accesslogv3.StdoutAccessLog:
						out = append(out, formatText(c.GetLogFormat()))
					case *accesslogv3.StderrAccessLog:
						out = append(out, formatText(c.GetLogFormat()))
					}
				}
			}
		}
	}
	return out
}

// formatText is a log format's inline text, or its JSON format as JSON.
func formatText(lf *corev3.SubstitutionFormatString) string {
	if j := lf.GetJsonFormat(); j != nil {
		return protojson.Format(j)
	}
	return lf.GetTextFormatSource().GetInlineString()
}

// TestAccessLogPrintsDecisionMetadata: the shipped gRPC front proxy logs
// tokengate's tenant, route and reason from the namespace Envoy stores them
// in, and no bootstrap reads ext_authz metadata from a wrong namespace or
// under a key tokengate never sends.
func TestAccessLogPrintsDecisionMetadata(t *testing.T) {
	printed := map[string][]string{}
	for _, doc := range findBootstraps(t) {
		bs, problems := checkBootstrap(doc.Value, loadTokengate(t, tokengateConfigFor(doc.File)))
		if bs == nil {
			t.Errorf("%s: %v", doc, problems)
			continue
		}
		for _, format := range hcmAccessLogFormats(bs) {
			keys, problems := accessLogMetadataProblems(format)
			for _, p := range problems {
				t.Errorf("%s: access log: %s", doc, p)
			}
			printed[doc.File] = append(printed[doc.File], keys...)
		}
	}
	for _, key := range []string{"tenant", "route", "reason"} {
		if !slices.Contains(printed["envoy/front-proxy-grpc.yaml"], key) {
			t.Errorf("envoy/front-proxy-grpc.yaml: no access log prints %%DYNAMIC_METADATA(%s:%s)%%", extAuthzFilterName, key)
		}
	}
}

func TestAccessLogMetadataChecksCatchMistakes(t *testing.T) {
	for format, want := range map[string]string{
		"%DYNAMIC_METADATA(ext_authz:reason)%":                       "Envoy puts ext_authz metadata under",
		"%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision)%":  `tokengate sends no "decision"`,
		"%DYNAMIC_METADATA(envoy.filters.http.ext_authz:reason):20%": "",
		"%DYNAMIC_METADATA(envoy.filters.http.rbac:shadow)%":         "",
	} {
		_, problems := accessLogMetadataProblems(format)
		if want == "" {
			if len(problems) > 0 {
				t.Errorf("%s: %v, want none", format, problems)
			}
			continue
		}
		if len(problems) != 1 || !strings.Contains(problems[0], want) {
			t.Errorf("%s: %v, want %q", format, problems, want)
		}
	}
}

// TestReadmeAccessLogFormat: the access-log format the README shows is the
// shipped gRPC front proxy's.
func TestReadmeAccessLogFormat(t *testing.T) {
	var readmeFormat string
	for line := range strings.Lines(readFile(t, "README.md")) {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "inline_string: "); ok && strings.Contains(s, "DYNAMIC_METADATA") {
			u, err := strconv.Unquote(s)
			if err != nil {
				t.Fatalf("README inline_string %s: %v", s, err)
			}
			readmeFormat = u
		}
	}
	if readmeFormat == "" {
		t.Fatal("README shows no access-log format with DYNAMIC_METADATA")
	}
	for _, doc := range findBootstraps(t) {
		if doc.File != "envoy/front-proxy-grpc.yaml" {
			continue
		}
		bs, problems := checkBootstrap(doc.Value, loadTokengate(t, tokengateConfigFor(doc.File)))
		if bs == nil {
			t.Fatalf("%s: %v", doc, problems)
		}
		if formats := hcmAccessLogFormats(bs); !slices.Contains(formats, readmeFormat) {
			t.Errorf("the README's access-log format\n%q\nis not the one of %s:\n%q", readmeFormat, doc.File, formats)
		}
		return
	}
	t.Fatal("envoy/front-proxy-grpc.yaml not found")
}
