package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCLIValidateContractExample: the contract's whole example configuration
// validates through the binary, and a value that would turn on a feature not
// built yet is refused, never silently ignored.
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

	on := strings.Replace(string(example), `mode: "off"`, `mode: "local"`, 1)
	if on == string(example) {
		t.Fatal(`the example has no jwt mode: "off" to turn on`)
	}
	bad := writeFile(t, dir, "jwt-local.yaml", on)
	_, stderr, code := runCLI(t, env, "validate", "--config", bad)
	if code != 1 || !strings.Contains(stderr, "jwt.mode") || !strings.Contains(stderr, "not supported") {
		t.Fatalf("jwt.mode local: exit %d, stderr %q", code, stderr)
	}
}
