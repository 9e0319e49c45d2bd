package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/tokengate/tokengate/introspection/signingkey"
)

// maxFileSize bounds every file read while loading (secrets, keys, CAs).
const maxFileSize = 1 << 20

// file resolves p against the base directory.
func (d *decoder) file(path, p string) string {
	if filepath.IsAbs(p) || d.baseDir == "" {
		return filepath.Clean(p)
	}
	return filepath.Join(d.baseDir, p)
}

// read returns the content of the resolved file name, reporting failures at
// path. The message names the file but never its content.
func (d *decoder) read(path, name string) ([]byte, bool) {
	f, err := os.Open(name)
	if err != nil {
		d.errorf(path, "cannot read %q: %s", name, fileError(err))
		return nil, false
	}
	defer func() { _ = f.Close() }() // read only: nothing is lost
	if st, err := f.Stat(); err == nil && st.IsDir() {
		d.errorf(path, "%q is a directory", name)
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		d.errorf(path, "cannot read %q: %s", name, fileError(err))
		return nil, false
	}
	if len(b) > maxFileSize {
		d.errorf(path, "%q is larger than 1 MiB", name)
		return nil, false
	}
	return b, true
}

// fileError is the reason of a file error without the path (already shown).
func fileError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// secretFile reads a secret from the resolved file name, trimmed.
func (d *decoder) secretFile(path, name string) (string, bool) {
	b, ok := d.read(path, name)
	if !ok {
		return "", false
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		d.errorf(path, "%q is empty", name)
		return "", false
	}
	return s, true
}

// checkCertPool requires at least one PEM certificate in the file.
func (d *decoder) checkCertPool(path, name string) {
	b, ok := d.read(path, name)
	if !ok {
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(b) {
		d.errorf(path, "%q holds no PEM certificate", name)
	}
}

// checkKeyPair requires a matching certificate and key.
func (d *decoder) checkKeyPair(path, certFile, keyFile string) {
	cert, ok1 := d.read(join(path, "cert_file"), certFile)
	key, ok2 := d.read(join(path, "key_file"), keyFile)
	if !ok1 || !ok2 {
		return
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		d.errorf(path, "cert_file and key_file are not a valid key pair: %s", strings.TrimPrefix(err.Error(), "tls: "))
	}
}

// checkSigningKey requires a key signingkey.Parse accepts: an unencrypted
// PEM private key usable for RS256 (RSA, >= 2048 bits) or ES256 (P-256).
func (d *decoder) checkSigningKey(path, name string) {
	b, ok := d.read(path, name)
	if !ok {
		return
	}
	if _, _, err := signingkey.Parse(b); err != nil {
		d.errorf(path, "%q: %v", name, err)
	}
}
