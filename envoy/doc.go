// Package envoy holds the Envoy, Istio, Kubernetes and forward-auth proxy
// configurations that ship with tokengate (in this folder and under
// examples/), and the tests that parse and validate them: every Envoy
// bootstrap is decoded with go-control-plane and validated, and checked
// against the tokengate configuration it is meant for, so neither can
// drift from the other. The package has no non-test code.
package envoy
