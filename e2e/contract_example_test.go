package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIValidateContractExample: the contract's whole example configuration
// validates through the binary, with the features it leaves off turned on
// too, and an incomplete events section is refused.
func TestCLIValidateContractExample(t *testing.T) {
	t.Parallel()
	example, err := os.ReadFile(filepath.Join("..", "internal", "config", "testdata", "valid", "contract_example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"ACME_SECRET=e2e-secret"}
	dir := t.TempDir()
	good := writeFile(t, dir, "contract.yaml", string(example))
	if stdout, stderr, code := runCLI(t, env, "validate", "--config", good); code != 0 || strings.TrimSpace(stdout) != "config OK" {
		t.Fatalf("contract example: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// JWT access tokens are built: the example with jwt.mode local validates.
	local := strings.Replace(string(example), `mode: "off"`, `mode: "local"`, 1)
	if local == string(example) {
		t.Fatal(`the example has no jwt mode: "off" to turn on`)
	}
	if stdout, stderr, code := runCLI(t, env, "validate", "--config", writeFile(t, dir, "jwt-local.yaml", local)); code != 0 || strings.TrimSpace(stdout) != "config OK" {
		t.Fatalf("jwt.mode local: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Revocation events are built: the SSF endpoint on validates with its
	// audience, and is refused without it.
	on := strings.Replace(string(example), `issuer: ""                       # transmitter's iss`, `issuer: "https://idp.acme.example" # transmitter's iss`, 1)
	if on == string(example) {
		t.Fatal(`the example has no events.ssf.issuer: "" to turn on`)
	}
	bad := writeFile(t, dir, "ssf-on.yaml", on)
	_, stderr, code := runCLI(t, env, "validate", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "events.ssf.audience") || !strings.Contains(stderr, "required") {
		t.Fatalf("events.ssf.issuer without audience: exit %d, stderr %q", code, stderr)
	}
	withAud := strings.Replace(on, `audience: ""                     # SETs' aud`, `audience: "https://rs.acme.example" # SETs' aud`, 1)
	if withAud == on {
		t.Fatal(`the example has no events.ssf.audience: "" to set`)
	}
	if stdout, stderr, code := runCLI(t, env, "validate", "--config", writeFile(t, dir, "ssf-aud.yaml", withAud)); code != 0 || strings.TrimSpace(stdout) != "config OK" {
		t.Fatalf("events.ssf on: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}
