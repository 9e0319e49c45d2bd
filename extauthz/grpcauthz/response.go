package grpcauthz

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/tokengate/tokengate/extauthz/check"
)

// Response renders an outcome as a CheckResponse.
func Response(out *check.Outcome) *authv3.CheckResponse { return render(out) }

// preEncoded returns a message whose only content is m's wire encoding,
// held as unknown fields: protobuf writes those out verbatim, so a response
// sent many times is encoded once (its Struct metadata map is the costly
// part). The bytes on the wire are exactly m's, so Envoy reads the same
// fields.
func preEncoded(m *authv3.CheckResponse) *authv3.CheckResponse {
	wire, err := proto.Marshal(m)
	if err != nil {
		return m
	}
	r := &authv3.CheckResponse{}
	r.ProtoReflect().SetUnknown(wire)
	return r
}

func render(out *check.Outcome) *authv3.CheckResponse {
	d := &out.Decision
	if d.Allow {
		ok := &authv3.OkHttpResponse{HeadersToRemove: out.Remove}
		for _, hdr := range out.Set {
			ok.Headers = append(ok.Headers, overwrite(hdr.Name, hdr.Value))
		}
		resp := &authv3.CheckResponse{
			Status:       &rpcstatus.Status{Code: int32(codes.OK), Message: string(d.Reason)},
			HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok},
		}
		if out.Metadata.Route != "" {
			resp.DynamicMetadata = dynamicMetadata(&out.Metadata)
		}
		return resp
	}
	headers := []*corev3.HeaderValueOption{overwrite("content-type", "application/json")}
	if c := d.Challenge(); c != "" {
		headers = append(headers, overwrite("www-authenticate", c))
	}
	return &authv3.CheckResponse{
		Status: &rpcstatus.Status{Code: int32(grpcCode(d.Status)), Message: string(d.Reason)},
		HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
			Status:  &typev3.HttpStatus{Code: typev3.StatusCode(d.Status)},
			Headers: headers,
			Body:    string(d.Body()),
		}},
		DynamicMetadata: denyMetadata(out), // denymeta.go
	}
}

func overwrite(name, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: name, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// grpcCode is the CheckResponse status code for a deny's HTTP status; any
// non-OK code makes Envoy send the denied_response.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case 400:
		return codes.InvalidArgument
	case 401:
		return codes.Unauthenticated
	case 503:
		return codes.Unavailable
	default:
		return codes.PermissionDenied
	}
}

func dynamicMetadata(m *check.Metadata) *structpb.Struct {
	fields := map[string]*structpb.Value{"route": structpb.NewStringValue(m.Route)}
	// A public route may have no tenant; the others are the token's.
	for k, v := range map[string]string{"tenant": m.Tenant, "sub": m.Subject, "client_id": m.ClientID, "scope": m.Scope} {
		if v != "" {
			fields[k] = structpb.NewStringValue(v)
		}
	}
	return &structpb.Struct{Fields: fields}
}
