package compose

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/polymesh/polymesh/deploy/mesh/meshfile"
)

// The files compose.yaml mounts that no checkout holds until they are made
// (python -m polymesh_mesh pki --folder build/compose/tls --admin-token
// build/compose/admin-token; ./dev compose up and compose_test_stack run it):
// the certificates of deploy/mesh.yaml's pki section, made for the stack,
// and the gateway's admin token.
const (
	composePki        = "build/compose/tls"
	composeAdminToken = "build/compose/admin-token"
)

// composePkiFile is the path of one file of the stack's pki (such as
// "ca.crt").
func composePkiFile(t *testing.T, name string) string {
	t.Helper()
	return filepath.Join(repoRoot(t), composePki, name)
}

// generated says whether path is one of the files made before the stack
// starts.
func generated(t *testing.T, path string) bool {
	t.Helper()
	rel, err := filepath.Rel(repoRoot(t), path)
	return err == nil && strings.HasPrefix(rel, "build/compose/")
}

// mountedFile is the host file compose mounts at target in service, as a
// config or as a secret (secret: true).
func mountedFile(t *testing.T, p *types.Project, service, target string) (string, bool) {
	t.Helper()
	s := p.Services[service]
	for _, c := range s.Configs {
		if c.Target == target {
			cfg, ok := p.Configs[c.Source]
			if !ok || cfg.File == "" {
				t.Fatalf("%s: config %q is not a file", service, c.Source)
			}
			return cfg.File, false
		}
	}
	for _, c := range s.Secrets {
		if c.Target == target {
			sec, ok := p.Secrets[c.Source]
			if !ok || sec.File == "" {
				t.Fatalf("%s: secret %q is not a file", service, c.Source)
			}
			return sec.File, true
		}
	}
	t.Errorf("%s: nothing mounted at %s", service, target)
	return "", false
}

// tlsListenPort is the port of the gateway's TLS listener in its compose
// configuration.
func tlsListenPort(t *testing.T, p *types.Project) string {
	t.Helper()
	port := readGatewayConfig(t, gatewayConfigFile(t, p)).TLSListener.Address.Port
	if port == "" {
		t.Fatal("gateway/config/compose.yaml: no tls_listener")
	}
	return port
}

// gatewayCertificate is the pki's certificate of the gateway's TLS listener.
func gatewayCertificate(t *testing.T) meshfile.Certificate {
	t.Helper()
	c, ok := loadMesh(t).Pki.Certificate("gateway")
	if !ok {
		t.Fatal("deploy/mesh.yaml: pki: no gateway certificate")
	}
	return c
}

// flagArg is the value after flag in args ("--flag value").
func flagArg(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// TestComposeMountsTheStacksPki checks every generated file compose.yaml
// mounts: a file the pki of deploy/mesh.yaml makes (never the CA's key), or
// the admin token; private keys and the token as secrets, certificates as
// configs.
func TestComposeMountsTheStacksPki(t *testing.T) {
	p := loadComposeFiles(t, []string{"loadgen"}, "compose.yaml")
	made := map[string]bool{}
	for _, name := range loadMesh(t).Pki.Files() {
		if name != "ca.key" {
			made[composePkiFile(t, name)] = true
		}
	}
	seen := 0
	check := func(kind, name, file string, secret bool) {
		if !generated(t, file) {
			return
		}
		seen++
		token := file == filepath.Join(repoRoot(t), composeAdminToken)
		if !made[file] && !token {
			t.Errorf("%s %s: %s is neither a file of the pki (but the CA's key) nor the admin token", kind, name, file)
		}
		if private := token || strings.HasSuffix(file, ".key"); private != secret {
			t.Errorf("%s %s: %s: private keys and the token are secrets, certificates configs", kind, name, file)
		}
	}
	for name, c := range p.Configs {
		check("config", name, c.File, false)
	}
	for name, s := range p.Secrets {
		check("secret", name, s.File, true)
	}
	if seen == 0 {
		t.Error("compose.yaml mounts none of the stack's certificates")
	}
}

// TestGatewayConfigIsSecuredAsTheLocalMesh checks the compose gateway's
// front door against deploy/mesh.yaml's: the same auth providers, with the
// one key file of the repository; the TLS listener with the pki's files,
// made for the stack and mounted where the configuration names them; and,
// its admin listener being beyond loopback, the admin token.
func TestGatewayConfigIsSecuredAsTheLocalMesh(t *testing.T) {
	p := loadProject(t)
	root := repoRoot(t)
	f := loadMesh(t)
	local := meshGatewayConfig(t)
	cont := readGatewayConfig(t, gatewayConfigFile(t, p))

	if got, want := sortedKeys(cont.AuthProviders), sortedKeys(local.AuthProviders); !slices.Equal(got, want) {
		t.Errorf("auth_providers: compose has %v, deploy/mesh.yaml %v", got, want)
	}
	keys := filepath.Join(root, "deploy", "auth", "api-keys.yaml")
	if got, _ := local.AuthProviders["api_keys"]["keys_file"].(string); got != "{root}/deploy/auth/api-keys.yaml" {
		t.Errorf("deploy/mesh.yaml: api_keys.keys_file %q, want the repository's key file", got)
	}
	keysFile, _ := cont.AuthProviders["api_keys"]["keys_file"].(string)
	if file, _ := mountedFile(t, p, "gateway", keysFile); file != keys {
		t.Errorf("gateway: api_keys.keys_file %q mounts %s, want %s", keysFile, file, keys)
	}
	if file, _ := mountedFile(t, p, "aiapi", composeEnv(t, p.Services["aiapi"])["POLYMESH_API_KEYS_FILE"]); file != keys {
		t.Errorf("aiapi: POLYMESH_API_KEYS_FILE mounts %s, want the gateway's key file %s", file, keys)
	}

	for what, pair := range map[string][2]string{
		"certificate_chain_file": {cont.TLSListener.TLS.CertificateChainFile, local.TLSListener.TLS.CertificateChainFile},
		"private_key_file":       {cont.TLSListener.TLS.PrivateKeyFile, local.TLSListener.TLS.PrivateKeyFile},
		"client_ca_file":         {cont.TLSListener.TLS.ClientCAFile, local.TLSListener.TLS.ClientCAFile},
	} {
		composed, meshed := pair[0], pair[1]
		if filepath.Dir(meshed) != f.Pki.Folder {
			t.Errorf("deploy/mesh.yaml: tls_listener.tls.%s %q is not in the pki's folder %s", what, meshed, f.Pki.Folder)
		}
		file, secret := mountedFile(t, p, "gateway", composed)
		if want := composePkiFile(t, filepath.Base(meshed)); file != want {
			t.Errorf("gateway: tls_listener.tls.%s %q mounts %s, want %s", what, composed, file, want)
		}
		if secret != (what == "private_key_file") {
			t.Errorf("gateway: tls_listener.tls.%s: a private key is a secret, a certificate a config", what)
		}
	}
	if !slices.Contains(gatewayCertificate(t).DNS, "gateway") {
		t.Errorf("the pki's gateway certificate names %v, not the compose service gateway", gatewayCertificate(t).DNS)
	}

	if cont.Admin.Address.Address != "127.0.0.1" {
		file, secret := mountedFile(t, p, "gateway", cont.Admin.TokenFile)
		if cont.Admin.TokenFile == "" || file != filepath.Join(root, composeAdminToken) || !secret {
			t.Errorf("admin on %s: token_file %q mounts %s (secret %v), want the secret %s",
				cont.Admin.Address.Address, cont.Admin.TokenFile, file, secret, composeAdminToken)
		}
	}
}

// TestComposeSecretsBelongToTheirReaders checks COMPOSE_SECRET_OWNERS in
// deploy/docker/engine.sh, the owners compose_secrets gives the private files
// it makes: every generated secret of compose.yaml has one, and it is the
// user that the image of every service mounting it runs as (a bind mount
// keeps the host's owner, and the files are 0600).
func TestComposeSecretsBelongToTheirReaders(t *testing.T) {
	p := loadProject(t)
	root := repoRoot(t)
	data, err := os.ReadFile(filepath.Join(root, "deploy", "docker", "engine.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^COMPOSE_SECRET_OWNERS=\(([^)]*)\)`).FindSubmatch(data)
	if m == nil {
		t.Fatal("deploy/docker/engine.sh: no COMPOSE_SECRET_OWNERS=(...)")
	}
	owners := map[string]string{}
	for _, entry := range strings.Fields(string(m[1])) {
		file, uid, ok := strings.Cut(entry, ":")
		if !ok {
			t.Fatalf("COMPOSE_SECRET_OWNERS: %q is not FILE:UID", entry)
		}
		owners[filepath.Join(root, "build", "compose", file)] = uid
	}
	for name, secret := range p.Secrets {
		if !generated(t, secret.File) {
			continue
		}
		uid, ok := owners[secret.File]
		if !ok {
			t.Errorf("secret %s: compose_secrets gives %s no owner", name, secret.File)
			continue
		}
		delete(owners, secret.File)
		for _, service := range p.ServiceNames() {
			s := p.Services[service]
			if !slices.ContainsFunc(s.Secrets, func(c types.ServiceSecretConfig) bool { return c.Source == name }) {
				continue
			}
			df := mustParseDockerfile(t, p, service)
			target, err := df.targetIndex(s.Build.Target)
			if err != nil {
				t.Fatal(err)
			}
			user := df.inherited(target, "USER")
			if user == nil {
				t.Errorf("%s: its image has no USER", service)
				continue
			}
			if u, _, _ := strings.Cut(user.args, ":"); u != uid {
				t.Errorf("%s mounts the secret %s, owned by %s, but runs as %s (%s:%d)", service, name, uid, user.args, df.path, user.line)
			}
		}
	}
	for file := range owners {
		t.Errorf("COMPOSE_SECRET_OWNERS names %s, which compose.yaml does not mount as a secret", file)
	}
}
