package grpcauthz

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/tokengate/tokengate/extauthz/check"
	"github.com/tokengate/tokengate/httpsyntax"
)

// envoyRequest is a check as Envoy sends it: peers, time, request id,
// protocol and the headers map.
func envoyRequest(headers map[string]string) *authv3.CheckRequest {
	addr := func(ip string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: ip, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source:      &authv3.AttributeContext_Peer{Address: addr("203.0.113.7", 40001)},
		Destination: &authv3.AttributeContext_Peer{Address: addr("10.0.0.10", 8443)},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(timestamppb.Now().AsTime()),
			Http: &authv3.AttributeContext_HttpRequest{
				Id: "req-1", Method: "GET", Host: "orders.acme.example", Path: "/orders/1?x=1", Scheme: "https",
				Protocol: "HTTP/2", Size: -1, Headers: headers,
			},
		},
	}}
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// acceptedSeeds are encodings the fast path must read (and read as
// protobuf does): what Envoy sends, in every shape a check uses.
func acceptedSeeds(t testing.TB) map[string][]byte {
	full := envoyRequest(map[string]string{
		":authority": "orders.acme.example", ":method": "GET", ":path": "/orders/1", "authorization": "Bearer abc",
		"user-agent": "curl/8", "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "dpop": "proof",
	})
	full.Attributes.ContextExtensions = map[string]string{"route": "orders", "team": "a"}
	full.Attributes.Source.Certificate = "-----BEGIN%20CERTIFICATE-----"
	full.Attributes.Source.Principal = "spiffe://acme/ns/a"
	full.Attributes.Destination.Labels = map[string]string{"app": "orders"}
	meta, _ := structpb.NewStruct(map[string]any{"a": map[string]any{"b": []any{1.0, "x", true, nil}}})
	full.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"envoy.filters": meta}}
	full.Attributes.TlsSession = &authv3.AttributeContext_TLSSession{Sni: "orders.acme.example"}
	full.Attributes.Request.Http.Body = "{}"
	full.Attributes.Request.Http.RawBody = []byte{0xff, 0}

	mixed := envoyRequest(map[string]string{"Authorization": "Bearer a", "authorization": "Bearer b", "Host": "h.example", "TraceParent": "x", "DPoP": "p"})
	mixed.Attributes.Request.Http.Host = ""

	raw := httpReq(&authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/", HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: ":authority", RawValue: []byte("raw.example")}, {Key: "authorization", RawValue: []byte("Bearer r")},
		{Key: "X-A", Value: "1"}, {Key: "x-a", RawValue: []byte("2")}, {Key: "x-bin", RawValue: []byte{0xff, 0xfe}},
	}}}, nil)
	both := httpReq(&authv3.AttributeContext_HttpRequest{
		Headers:   map[string]string{"authorization": "Bearer m", "x-a": "m"},
		HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "Authorization", Value: "Bearer h"}, {Key: "x-a", Value: "h"}}},
	}, map[string]string{"route": "r"})

	seeds := map[string][]byte{
		"empty":          nil,
		"envoy":          mustMarshal(t, envoyRequest(map[string]string{":authority": "a.example", "authorization": "Bearer t", "accept": "*/*"})),
		"every field":    mustMarshal(t, full),
		"mixed case":     mustMarshal(t, mixed),
		"header_map":     mustMarshal(t, raw),
		"both maps":      mustMarshal(t, both),
		"no http":        mustMarshal(t, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}),
		"empty headers":  mustMarshal(t, httpReq(&authv3.AttributeContext_HttpRequest{Headers: map[string]string{"": "", "x": ""}}, map[string]string{"": "route"})),
		"unknown fields": protowire.AppendVarint(protowire.AppendTag(mustMarshal(t, envoyRequest(nil)), 99, protowire.VarintType), 7),
	}
	// Invalid UTF-8, which protobuf refuses and Codec repairs: marshalled
	// with markers of the same length, then replaced.
	bad := envoyRequest(map[string]string{"authorization": "Bearer @@", "x-@@": "v@@"})
	bad.Attributes.Request.Http.Path = "/p@@"
	bad.Attributes.Source = &authv3.AttributeContext_Peer{Certificate: "c@@"}
	seeds["invalid utf-8"] = bytes.ReplaceAll(mustMarshal(t, bad), []byte("@@"), []byte{0xff, 0xc0})
	// A map key sent twice within one message: the last entry wins.
	seeds["map key twice"] = wrapHTTP(slices.Concat(
		mustMarshal(t, &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"authorization": "Bearer first"}}),
		mustMarshal(t, &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"authorization": "Bearer last"}, Path: "/last"}),
		mustMarshal(t, &authv3.AttributeContext_HttpRequest{Path: "/later", Method: "PUT"}),
	))
	return seeds
}

// declinedSeeds are encodings the fast path leaves to protobuf.
func declinedSeeds(t testing.TB) map[string][]byte {
	a := mustMarshal(t, envoyRequest(map[string]string{"authorization": "Bearer a"}))
	b := mustMarshal(t, envoyRequest(map[string]string{"x-b": "b"}))
	httpMsg := mustMarshal(t, &authv3.AttributeContext_HttpRequest{HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "a", Value: "1"}}}})
	// metadata_context{filter_metadata{"f": Struct{"k": 80 levels of lists}}}
	nested := mustMarshal(t, structpb.NewListValue(&structpb.ListValue{}))
	for range 40 {
		nested = field(6, field(1, nested)) // Value.list_value{values: nested}
	}
	entry := func(key string, value []byte) []byte { return slices.Concat(field(1, []byte(key)), field(2, value)) }
	deep := attributesField(field(11, field(1, entry("f", field(1, entry("k", nested))))))
	return map[string][]byte{
		"merged messages":   slices.Concat(a, b),
		"header_map twice":  wrapHTTP(slices.Concat(httpMsg, httpMsg)),
		"method as varint":  wrapHTTP(protowire.AppendVarint(protowire.AppendTag(nil, httpMethod, protowire.VarintType), 1)),
		"packed size":       wrapHTTP(field(9, []byte{1, 2})),
		"group":             slices.Concat(a, protowire.AppendTag(nil, 98, protowire.StartGroupType), protowire.AppendTag(nil, 98, protowire.EndGroupType)),
		"too deep":          deep,
		"truncated":         a[:len(a)-3],
		"bad varint":        slices.Concat(a, []byte{0x80, 0x80}),
		"length past end":   slices.Concat(a, []byte{0x0a, 0x7f}),
		"field number zero": slices.Concat(a, []byte{0x02, 0x00}),
	}
}

// wrapHTTP encodes a CheckRequest around an encoded HttpRequest.
func wrapHTTP(http []byte) []byte {
	return attributesField(field(attrRequest, field(requestHTTP, http)))
}

func attributesField(attrs []byte) []byte { return field(checkAttributes, attrs) }

// field encodes a length-delimited field.
func field(num protowire.Number, payload []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), payload)
}

// sameAsProtobuf decodes data with Codec for Register's handler and as a
// CheckRequest, and fails t unless the check reads the same request from
// both. fast says whether the fast path read it.
func sameAsProtobuf(t *testing.T, data []byte) (fast bool) {
	t.Helper()
	var w wireCheck
	wireErr := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &w)
	var ref authv3.CheckRequest
	refErr := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &ref)
	if (wireErr == nil) != (refErr == nil) {
		t.Fatalf("wire decode error %v, protobuf %v", wireErr, refErr)
	}
	if refErr != nil {
		return false
	}
	if w.slow != nil {
		if !proto.Equal(w.slow, &ref) {
			t.Fatal("the fallback decoded another message")
		}
		return false
	}
	want, got := Request(&ref), w.fast.checkRequest()
	if wp, gp := conditionPairs(want), conditionPairs(got); !reflect.DeepEqual(wp, gp) {
		t.Errorf("condition headers: fast %q, protobuf %q", gp, wp)
	}
	want.HeaderMap, want.MoreHeaders, got.HeaderMap, got.MoreHeaders = nil, nil, nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("fast path read\n%+v\nprotobuf\n%+v", got, want)
	}
	headers := ref.GetAttributes().GetRequest().GetHttp().GetHeaders()
	carrier := traceCarrier(headers, hasMixedCaseKey(headers))
	keys := []string{"traceparent", "tracestate", "baggage", "b3", "x-b3-traceid"}
	for k := range headers {
		keys = append(keys, httpsyntax.ToLower(k))
	}
	for _, k := range keys {
		if g, w := w.fast.Get(k), carrier.Get(k); g != w {
			t.Errorf("trace carrier Get(%q) = %q, protobuf %q", k, g, w)
		}
	}
	return true
}

// conditionPairs are the headers in the order policyHeaders adds them.
func conditionPairs(r check.Request) [][2]string {
	var out [][2]string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.HeaderMap {
			if !yield(k) {
				return
			}
		}
	}) {
		out = append(out, [2]string{k, r.HeaderMap[k]})
	}
	return append(out, pairs(r.MoreHeaders)...)
}

func TestWireDecodeReadsWhatEnvoySends(t *testing.T) {
	for name, data := range acceptedSeeds(t) {
		t.Run(name, func(t *testing.T) {
			if !sameAsProtobuf(t, data) {
				t.Error("left to protobuf; want read by the fast path")
			}
		})
	}
}

func TestWireDecodeLeavesTheRestToProtobuf(t *testing.T) {
	for name, data := range declinedSeeds(t) {
		t.Run(name, func(t *testing.T) {
			if sameAsProtobuf(t, data) {
				t.Error("read by the fast path; want left to protobuf")
			}
		})
	}
}

// TestWireDecodeCases pins what the fast path reads from the crafted
// encodings (sameAsProtobuf checks it against protobuf as well).
func TestWireDecodeCases(t *testing.T) {
	seeds := acceptedSeeds(t)
	read := func(name string) check.Request {
		var w wireCheck
		if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(seeds[name])}, &w); err != nil || w.slow != nil {
			t.Fatalf("%s: %v, fast %v", name, err, w.slow == nil)
		}
		return w.fast.checkRequest()
	}
	if r := read("map key twice"); r.Authorization != "Bearer last" || r.Path != "/later" || r.Method != "PUT" || r.DuplicateAuthorization {
		t.Errorf("map key twice: %+v", r)
	}
	if r := read("invalid utf-8"); r.Path != "/p\uFFFD" || r.Authorization != "Bearer \uFFFD" || r.Certificate != "c\uFFFD" {
		t.Errorf("invalid utf-8: %+v", r)
	}
	if r := read("mixed case"); r.Authorization != "Bearer a,Bearer b" || !r.DuplicateAuthorization || r.Host != "h.example" || len(r.DPoP) != 1 {
		t.Errorf("mixed case: %+v", r)
	}
	if r := read("both maps"); r.Authorization != "Bearer m,Bearer h" || r.RouteName != "r" {
		t.Errorf("both maps: %+v", r)
	}
	if r := read("header_map"); r.Host != "raw.example" || r.Authorization != "Bearer r" || r.Method != "POST" {
		t.Errorf("header_map: %+v", r)
	}
}

func FuzzWireDecode(f *testing.F) {
	for _, seeds := range []map[string][]byte{acceptedSeeds(f), declinedSeeds(f)} {
		for _, data := range seeds {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsProtobuf(t, data)
	})
}

// BenchmarkDecode compares reading a check as Envoy sends it with the fast
// path and with protobuf (both through Codec, as the server does).
func BenchmarkDecode(b *testing.B) {
	data := mustMarshal(b, benchEnvoyRequest())
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var w wireCheck
			if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &w); err != nil || w.slow != nil {
				b.Fatal("not read by the fast path")
			}
			if r := w.fast.checkRequest(); r.Authorization == "" {
				b.Fatal("no authorization")
			}
		}
	})
	b.Run("protobuf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var m authv3.CheckRequest
			if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, &m); err != nil {
				b.Fatal(err)
			}
			if r := Request(&m); r.Authorization == "" {
				b.Fatal("no authorization")
			}
		}
	})
}

// benchEnvoyRequest is the check bench/loadgen sends.
func benchEnvoyRequest() *authv3.CheckRequest {
	return envoyRequest(map[string]string{
		":authority": "orders.acme.example", ":method": "GET", ":path": "/orders/1", ":scheme": "https",
		"authorization": "Bearer " + strings.Repeat("t", 43), "user-agent": "Mozilla/5.0 (X11; Linux x86_64) bench-loadgen/1.0",
		"accept": "application/json", "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7", "x-request-id": "bench-1-12345",
	})
}

// TestWireDecodeRandomRequests checks the fast path against protobuf on
// random requests built from names that collide ignoring case, in both
// header lists, with map keys repeated within one message.
func TestWireDecodeRandomRequests(t *testing.T) {
	names := []string{"authorization", "Authorization", "AUTHORIZATION", "host", "Host", ":authority",
		"dpop", "DPoP", "traceparent", "TraceParent", "b3", "x-a", "X-A", "cookie", ""}
	values := []string{"", "Bearer a", "Bearer b", "x", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	randomHTTP := func() *authv3.AttributeContext_HttpRequest {
		h := &authv3.AttributeContext_HttpRequest{Headers: map[string]string{}}
		for range rng.IntN(5) {
			h.Headers[pick(names)] = pick(values)
		}
		if rng.IntN(2) == 0 {
			h.HeaderMap = &corev3.HeaderMap{}
			for range rng.IntN(4) {
				hv := &corev3.HeaderValue{Key: pick(names)}
				if rng.IntN(2) == 0 {
					hv.Value = pick(values)
				} else {
					hv.RawValue = []byte(pick(values))
				}
				h.HeaderMap.Headers = append(h.HeaderMap.Headers, hv)
			}
		}
		if rng.IntN(2) == 0 {
			h.Host, h.Path, h.Method, h.Scheme = pick(values), "/"+pick(values), pick(values), pick(values)
		}
		return h
	}
	fast := 0
	for i := range 3000 {
		h := randomHTTP()
		var data []byte
		if i%3 == 0 { // two encodings of the headers map in one HttpRequest
			extra := &authv3.AttributeContext_HttpRequest{Headers: randomHTTP().Headers}
			h.HeaderMap = nil
			data = wrapHTTP(slices.Concat(mustMarshal(t, h), mustMarshal(t, extra)))
		} else {
			req := envoyRequest(nil)
			req.Attributes.Request.Http = h
			if rng.IntN(2) == 0 {
				req.Attributes.ContextExtensions = map[string]string{"route": pick(values), pick(names): pick(values)}
			}
			data = mustMarshal(t, req)
		}
		if sameAsProtobuf(t, data) {
			fast++
		}
		if t.Failed() {
			t.Fatalf("request %d: %x", i, data)
		}
	}
	if fast != 3000 {
		t.Errorf("fast path read %d of 3000 requests, want all", fast)
	}
}

// TestWireDecodeManyRepeatedKeys: a key repeated in the headers map
// (protobuf keeps the last) is read as protobuf reads it, in O(n log n)
// up to maxWireHeaders entries; a request with more is left to protobuf,
// which keeps one map entry per key where the fast path would keep every
// copy.
func TestWireDecodeManyRepeatedKeys(t *testing.T) {
	repeated := func(n int) []byte {
		var http []byte
		for i := range n {
			v := "Bearer a"
			if i == n-1 {
				v = "Bearer last"
			}
			http = append(http, field(httpHeaders, slices.Concat(field(entryKey, []byte("authorization")), field(entryValue, []byte(v))))...)
			if i%2 == 0 {
				http = append(http, field(httpHeaders, slices.Concat(field(entryKey, []byte("Authorization")), field(entryValue, []byte("Bearer b"))))...)
			}
		}
		return wrapHTTP(http)
	}
	within := repeated(maxWireHeaders * 2 / 3)
	if !sameAsProtobuf(t, within) {
		t.Fatal("left to protobuf")
	}
	var w wireCheck
	if err := Codec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(within)}, &w); err != nil {
		t.Fatal(err)
	}
	r := w.fast.checkRequest()
	if r.Authorization != "Bearer b,Bearer last" || !r.DuplicateAuthorization || r.MoreHeaders.Len() != 2 {
		t.Errorf("read %q (duplicate %v), %d condition headers", r.Authorization, r.DuplicateAuthorization, r.MoreHeaders.Len())
	}
	if sameAsProtobuf(t, repeated(200_000)) {
		t.Error("200,000 headers read by the fast path; want left to protobuf")
	}
}
