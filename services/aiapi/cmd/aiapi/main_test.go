package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

const defaultTestTimeout = 10 * time.Second

// testCA signs certificates for the tests, as the mesh's local CA does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate and key signed by the CA into dir as
// name.crt and name.key.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage, dns []string, uris []string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}, DNSNames: dns,
	}
	for _, u := range uris {
		parsed, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		tmpl.URIs = append(tmpl.URIs, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	write(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	return certFile, keyFile
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestInferenceTLSPresentsTheClientCertificate calls a server that requires
// client certificates of the CA, as the gateway's TLS listener verifies
// them, with the credentials of the POLYMESH_INFERENCE_TLS_* settings.
func TestInferenceTLSPresentsTheClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile := filepath.Join(dir, "ca.crt")
	write(t, caFile, ca.pem)
	serverCert, serverKey := ca.issue(t, dir, "gateway", x509.ExtKeyUsageServerAuth, []string{"localhost"}, nil)
	clientCert, clientKey := ca.issue(t, dir, "aiapi", x509.ExtKeyUsageClientAuth, nil, []string{"spiffe://polymesh.local/aiapi"})

	pair, err := tls.LoadX509KeyPair(serverCert, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	seen := make(chan string, 1)
	srv := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			if p, ok := peer.FromContext(ctx); ok {
				if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
					if uris := ti.State.PeerCertificates[0].URIs; len(uris) > 0 {
						seen <- uris[0].String()
					}
				}
			}
			return handler(ctx, req)
		}),
	)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)

	call := func(c clientTLS) error {
		creds, err := c.credentials()
		if err != nil {
			return err
		}
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(creds))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
		defer cancel()
		_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		return err
	}

	if err := call(clientTLS{caFile: caFile, certFile: clientCert, keyFile: clientKey, serverName: "localhost"}); err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if got, want := <-seen, "spiffe://polymesh.local/aiapi"; got != want {
		t.Errorf("the server saw the principal %q, want %q", got, want)
	}
	for name, c := range map[string]clientTLS{
		"no client certificate": {caFile: caFile, serverName: "localhost"},
		"another server name":   {caFile: caFile, certFile: clientCert, keyFile: clientKey, serverName: "elsewhere"},
		"plaintext":             {},
	} {
		if err := call(c); err == nil {
			t.Errorf("%s: the call succeeded, want a failed handshake", name)
		}
	}
}

func TestInferenceTLSSettingsErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.crt")
	write(t, notPEM, []byte("not a certificate"))
	for name, tc := range map[string]struct {
		c    clientTLS
		want string
	}{
		"a certificate without its key": {clientTLS{certFile: "a.crt"}, "both a certificate file and a key file"},
		"a CA file that is not PEM":     {clientTLS{caFile: notPEM}, "no PEM certificate"},
		"a missing CA file":             {clientTLS{caFile: filepath.Join(dir, "missing")}, "inference TLS CA"},
	} {
		if _, err := tc.c.credentials(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, tc.want)
		}
	}
	if creds, err := (clientTLS{}).credentials(); err != nil || creds.Info().SecurityProtocol != "insecure" {
		t.Errorf("no settings: %v, %v; want plaintext", creds, err)
	}
}
