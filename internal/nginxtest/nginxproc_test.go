package nginxtest

// Running nginx: the binary, the rendered template and the process.

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tokengate/tokengate/testsupport"
)

// findNginx is the nginx binary: on PATH, else /usr/sbin/nginx.
func findNginx(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("nginx")
	if err != nil {
		if st, serr := os.Stat("/usr/sbin/nginx"); serr == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			path = "/usr/sbin/nginx"
		}
	}
	if path == "" {
		t.Fatal("nginx is required for the nginx auth_request test; `make nginx-deps` installs it (Debian: apt-get install nginx-light or nginx)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "-V").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -V: %v\n%s", path, err, out)
	}
	for _, module := range []string{"http_auth_request_module", "http_ssl_module"} {
		if !strings.Contains(string(out), "--with-"+module) {
			t.Fatalf("%s lacks ngx_%s, which the nginx auth_request test needs (Debian: apt-get install nginx-light or nginx)\n%s", path, module, out)
		}
	}
	t.Logf("%s: %s", path, strings.SplitN(string(out), "\n", 2)[0])
	return path
}

var placeholder = regexp.MustCompile(`__[A-Z_]+__`)

// listeners are where a rendered nginx.conf listens: plain HTTP, and TLS
// with the server certificate and key files.
type listeners struct{ plain, tls, cert, key string }

// render fills the template's placeholders.
func render(t *testing.T, l listeners, tokengate, upstream, prefix string) string {
	t.Helper()
	tmpl, err := os.ReadFile(templatePath)
	if err != nil {
		t.Fatal(err)
	}
	conf := strings.NewReplacer("__LISTEN__", l.plain, "__TLS_LISTEN__", l.tls, "__TLS_CERT__", l.cert, "__TLS_KEY__", l.key,
		"__TOKENGATE__", tokengate, "__UPSTREAM__", upstream, "__PREFIX__", prefix).Replace(string(tmpl))
	if left := placeholder.FindAllString(conf, -1); len(left) > 0 {
		t.Fatalf("%s: placeholders left after rendering: %v", templatePath, left)
	}
	return conf
}

// startNginx renders the template into a fresh prefix and runs nginx in the
// foreground, single-process, with a server certificate of ca; it returns
// the addresses nginx listens on once it accepts connections. A port taken
// in between is retried.
func startNginx(t *testing.T, bin, tokengate, upstream string, ca *testsupport.CA) listeners {
	t.Helper()
	for attempt := 1; ; attempt++ {
		l, err := tryNginx(t, bin, tokengate, upstream, ca)
		if err == nil {
			return l
		}
		if attempt < 3 && strings.Contains(err.Error(), "Address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

func tryNginx(t *testing.T, bin, tokengate, upstream string, ca *testsupport.CA) (listeners, error) {
	prefix := t.TempDir()
	l := listeners{plain: testsupport.FreeAddr(t), tls: testsupport.FreeAddr(t),
		cert: filepath.Join(prefix, "server.crt"), key: filepath.Join(prefix, "server.key")}
	certPEM, keyPEM := ca.Issue(t, 2, "nginx", true)
	for file, data := range map[string][]byte{l.cert: certPEM, l.key: keyPEM} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, []byte(render(t, l, tokengate, upstream, prefix)), 0o600); err != nil {
		t.Fatal(err)
	}
	// Output before the configuration's error_log takes over goes here.
	out, err := os.Create(filepath.Join(prefix, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(bin, "-p", prefix, "-c", conf, "-g", "daemon off; master_process off;")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logs := func() string {
		var b strings.Builder
		for _, name := range []string{"stderr.log", "error.log"} {
			data, _ := os.ReadFile(filepath.Join(prefix, name))
			fmt.Fprintf(&b, "--- nginx %s ---\n%s", name, data)
		}
		return b.String()
	}

	deadline := time.Now().Add(5 * time.Second)
	for _, addr := range []string{l.plain, l.tls} {
		for {
			select {
			case err := <-exited:
				return listeners{}, fmt.Errorf("nginx exited at start (%v)\n%s", err, logs())
			default:
			}
			c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				<-exited
				return listeners{}, fmt.Errorf("nginx did not accept connections on %s within 5s\n%s", addr, logs())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Log(logs())
		}
	})
	return l, nil
}
