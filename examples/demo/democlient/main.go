// Command democlient sends one Envoy ext_authz CheckRequest per demo case to
// a running tokengate and prints what it decided, as a table.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

type demoCase struct {
	label, method, path, authorization string
}

var cases = []demoCase{
	{"demo-reader", "GET", "/orders/42", "Bearer demo-reader"},
	{"demo-reader", "POST", "/orders", "Bearer demo-reader"},
	{"demo-writer", "POST", "/orders", "Bearer demo-writer"},
	{"demo-inactive", "GET", "/orders/42", "Bearer demo-inactive"},
	{"demo-wrong-audience", "GET", "/orders/42", "Bearer demo-wrong-audience"},
	{"demo-expired", "GET", "/orders/42", "Bearer demo-expired"},
	{"demo-refresh", "GET", "/orders/42", "Bearer demo-refresh"},
	{"(none)", "GET", "/orders/42", ""},
	{"(malformed)", "GET", "/orders/42", "Bearer a,b"},
	{"demo-reader", "GET", "/orders/../admin", "Bearer demo-reader"},
	{"demo-reader", "GET", "/admin", "Bearer demo-reader"},
	{"(none)", "GET", "/healthz", ""},
}

func main() {
	addr := flag.String("address", "127.0.0.1:9191", "tokengate gRPC address")
	flag.Parse()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "TOKEN\tREQUEST\tDECISION\tSTATUS\tREASON\tHEADERS")
	for _, c := range cases {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.Check(ctx, request(c))
		cancel()
		if err != nil {
			log.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		decision, status, reason, headers := describe(resp)
		fmt.Fprintf(w, "%s\t%s %s\t%s\t%s\t%s\t%s\n", c.label, c.method, c.path, decision, status, reason, headers)
	}
	w.Flush()
}

func request(c demoCase) *authv3.CheckRequest {
	headers := map[string]string{":authority": "orders.demo.example", ":method": c.method, ":path": c.path}
	if c.authorization != "" {
		headers["authorization"] = c.authorization
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{
			Method: c.method, Path: c.path, Host: "orders.demo.example", Scheme: "https", Headers: headers,
		},
	}}}
}

func describe(resp *authv3.CheckResponse) (decision, status, reason, headers string) {
	if ok := resp.GetOkResponse(); resp.GetStatus().GetCode() == 0 && ok != nil {
		var set []string
		for _, h := range ok.GetHeaders() {
			set = append(set, h.GetHeader().GetKey()+"="+h.GetHeader().GetValue())
		}
		sort.Strings(set)
		// tokengate puts the reason word in the status message of every answer
		return "allow", "200", resp.GetStatus().GetMessage(), strings.Join(set, " ")
	}
	d := resp.GetDeniedResponse()
	var challenge string
	for _, h := range d.GetHeaders() {
		if h.GetHeader().GetKey() == "www-authenticate" {
			challenge = "www-authenticate: " + h.GetHeader().GetValue()
		}
	}
	return "deny", fmt.Sprint(int(d.GetStatus().GetCode())), resp.GetStatus().GetMessage(), challenge
}
