package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
	defer f.Close()
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

// checkSigningKey requires an unencrypted PEM private key usable for RS256
// (RSA, >= 2048 bits) or ES256 (ECDSA P-256), in PKCS#8, PKCS#1 or SEC1.
func (d *decoder) checkSigningKey(path, name string) {
	b, ok := d.read(path, name)
	if !ok {
		return
	}
	var block *pem.Block
	for rest := b; ; {
		block, rest = pem.Decode(rest)
		if block == nil || strings.HasSuffix(block.Type, "PRIVATE KEY") {
			break
		}
	}
	if block == nil {
		d.errorf(path, "%q holds no PEM private key", name)
		return
	}
	if strings.Contains(block.Type, "ENCRYPTED") || block.Headers["Proc-Type"] != "" {
		d.errorf(path, "%q: encrypted private keys are not supported", name)
		return
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		d.errorf(path, "%q: not a valid PKCS#8, PKCS#1 or SEC1 private key", name)
		return
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			d.errorf(path, "%q: RSA key has %d bits, RS256 needs at least 2048", name, k.N.BitLen())
		}
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			d.errorf(path, "%q: ECDSA key must use curve P-256 (ES256)", name)
		}
	default:
		d.errorf(path, "%q: unsupported key type (want RSA for RS256 or ECDSA P-256 for ES256)", name)
	}
}
