package compose

import (
	"context"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"

	"github.com/polymesh/polymesh/deploy/mesh/meshfile"
)

const defaultTestTimeout = 30 * time.Second

// The services whose images this repository builds, the one that only
// tracing needs, and the dashboards, which only compose runs (after the
// mesh): Prometheus scrapes the /metrics endpoints that ./dev up serves too,
// and Grafana shows them.
var (
	builtServices     = []string{"inference", "gateway", "aiapi", "users", "users-py"}
	collector         = "jaeger"
	dashboardServices = []string{"prometheus", "grafana"}
)

// dependsOn says whether service a waits for service b, directly or through
// others.
func dependsOn(p *types.Project, a, b string) bool {
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(name string) bool {
		if seen[name] {
			return false
		}
		seen[name] = true
		for dep := range p.Services[name].DependsOn {
			if dep == b || walk(dep) {
				return true
			}
		}
		return false
	}
	return walk(a)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "compose.yaml")); err != nil {
		t.Fatalf("no compose.yaml at the repository root %s: %v", root, err)
	}
	return root
}

// loadProject loads compose.yaml as `docker compose` does: validated against
// the Compose Specification's schema, interpolated (with an empty
// environment, so every ${VAR:-default} takes its default), references
// resolved and paths made absolute.
func loadProject(t *testing.T) *types.Project {
	t.Helper()
	return loadComposeFiles(t, nil, "compose.yaml")
}

// loadComposeFiles loads compose files (relative to the repository) merged
// in order, as `docker compose -f a -f b --profile p` does, like loadProject.
func loadComposeFiles(t *testing.T, profiles []string, files ...string) *types.Project {
	t.Helper()
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	var configs []types.ConfigFile
	for _, f := range files {
		configs = append(configs, types.ConfigFile{Filename: filepath.Join(root, f)})
	}
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: configs,
		Environment: types.Mapping{},
	}, loader.WithProfiles(profiles))
	if err != nil {
		t.Fatalf("%s does not load: %v", strings.Join(files, " with "), err)
	}
	return p
}

// process is one process of deploy/mesh.yaml, as `./dev up` starts it with
// the default addresses.
type process struct {
	name    string
	command []string
	env     map[string]string
	spec    *meshfile.Process
}

// loadMesh reads deploy/mesh.yaml, the description of the mesh that
// `./dev up` starts and that compose.yaml must agree with.
func loadMesh(t *testing.T) *meshfile.File {
	t.Helper()
	f, err := meshfile.Load(meshfile.Path(repoRoot(t)))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// devMesh is every process of deploy/mesh.yaml with the default addresses
// and the checkout's folders.
func devMesh(t *testing.T) []process {
	t.Helper()
	f := loadMesh(t)
	var mesh []process
	for i := range f.Processes {
		spec := &f.Processes[i]
		argv, env, err := spec.Resolve(f.Defaults(), meshfile.CheckoutFolders(repoRoot(t)))
		if err != nil {
			t.Fatalf("deploy/mesh.yaml: %v", err)
		}
		mesh = append(mesh, process{name: spec.Name, command: argv, env: env, spec: spec})
	}
	return mesh
}

func composeEnv(t *testing.T, s types.ServiceConfig) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.Environment {
		if v == nil {
			t.Errorf("%s: environment %s has no value", s.Name, k)
			continue
		}
		env[k] = *v
	}
	return env
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func splitHostPort(t *testing.T, what, addr string) (string, string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s: %q is not host:port: %v", what, addr, err)
	}
	return host, port
}

// listenPort is the port a built service listens on inside its container.
func listenPort(t *testing.T, p *types.Project, name string) string {
	t.Helper()
	s := p.Services[name]
	if name == "gateway" {
		cfg := readGatewayConfig(t, gatewayConfigFile(t, p))
		return cfg.Listener.Port
	}
	_, port := splitHostPort(t, name+" POLYMESH_LISTEN_ADDR", composeEnv(t, s)["POLYMESH_LISTEN_ADDR"])
	return port
}

func TestComposeLoadsAgainstTheSpecification(t *testing.T) {
	p := loadProject(t)
	if got, want := p.Name, "polymesh"; got != want {
		t.Errorf("project name: got %q, want %q", got, want)
	}
}

// TestComposeNamesTheServicesOfDevUp checks that compose.yaml runs every
// process of deploy/mesh.yaml as a service of the same name, and the
// dashboards.
func TestComposeNamesTheServicesOfDevUp(t *testing.T) {
	p, mesh := loadProject(t), devMesh(t)
	var want []string
	for _, proc := range mesh {
		if slices.Contains(dashboardServices, proc.name) {
			t.Errorf("./dev up starts %s, which this test knows as a compose-only dashboard", proc.name)
		}
		want = append(want, proc.name)
	}
	want = append(want, dashboardServices...)
	sort.Strings(want)
	got := p.ServiceNames()
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("services: compose.yaml has %v, want those ./dev up starts and the dashboards: %v", got, want)
	}
	wantBuilt := append([]string{collector}, builtServices...)
	wantBuilt = append(wantBuilt, dashboardServices...)
	sort.Strings(wantBuilt)
	if !slices.Equal(got, wantBuilt) {
		t.Fatalf("services: got %v, this test knows %v; teach it the new ones", got, wantBuilt)
	}
}

func TestComposeUsesTheEnvironmentOfDevUp(t *testing.T) {
	p, mesh := loadProject(t), devMesh(t)
	for _, proc := range mesh {
		s, ok := p.Services[proc.name]
		if !ok {
			continue // reported by TestComposeNamesTheServicesOfDevUp
		}
		env := composeEnv(t, s)
		if got, want := sortedKeys(env), sortedKeys(proc.env); !slices.Equal(got, want) {
			t.Errorf("%s: environment variable names: compose.yaml has %v, deploy/mesh.yaml %v", proc.name, got, want)
			continue
		}
		for k, devValue := range proc.env {
			got := env[k]
			switch k {
			case "OTEL_SERVICE_NAME", "OTEL_SEMCONV_STABILITY_OPT_IN":
				if got != devValue {
					t.Errorf("%s: %s: compose.yaml has %q, ./dev up %q", proc.name, k, got, devValue)
				}
			case "OTEL_EXPORTER_OTLP_ENDPOINT":
				gu, err1 := url.Parse(got)
				du, err2 := url.Parse(devValue)
				if err1 != nil || err2 != nil || gu.Scheme != du.Scheme || gu.Hostname() != collector || gu.Port() != du.Port() {
					t.Errorf("%s: %s: compose.yaml has %q, want %s://%s:%s (./dev up: %q)",
						proc.name, k, got, du.Scheme, collector, du.Port(), devValue)
				}
			case "POLYMESH_LISTEN_ADDR":
				host, port := splitHostPort(t, proc.name+" "+k, got)
				_, devPort := splitHostPort(t, proc.name+" "+k, devValue)
				if host != "0.0.0.0" || port != devPort {
					t.Errorf("%s: %s: compose.yaml has %q, want 0.0.0.0:%s (the port of ./dev up)", proc.name, k, got, devPort)
				}
				if !slices.Contains([]string(s.Expose), port) {
					t.Errorf("%s: expose %v lacks the listening port %s", proc.name, s.Expose, port)
				}
			case "POLYMESH_INFERENCE_ADDR":
				// East-west calls go through the gateway, in both meshes: to
				// its TLS listener when the caller speaks TLS.
				host, port := splitHostPort(t, proc.name+" "+k, got)
				_, devPort := splitHostPort(t, proc.name+" "+k, devValue)
				want := listenPort(t, p, "gateway")
				if _, tls := env["POLYMESH_INFERENCE_TLS_CA_FILE"]; tls {
					want = tlsListenPort(t, p)
				}
				if host != "gateway" || port != devPort || port != want {
					t.Errorf("%s: %s: compose.yaml has %q, want gateway:%s (./dev up: %s)", proc.name, k, got, want, devValue)
				}
			case "POLYMESH_INFERENCE_TLS_CA_FILE", "POLYMESH_INFERENCE_TLS_CERT_FILE", "POLYMESH_INFERENCE_TLS_KEY_FILE":
				// The same file of the pki, made for the stack and mounted;
				// a key as a secret.
				file, secret := mountedFile(t, p, proc.name, got)
				if want := composePkiFile(t, filepath.Base(devValue)); file != want {
					t.Errorf("%s: %s=%q mounts %s, want %s (./dev up: %s)", proc.name, k, got, file, want, devValue)
				}
				if strings.HasSuffix(got, ".key") != secret {
					t.Errorf("%s: %s=%q: a private key is a secret, a certificate a config", proc.name, k, got)
				}
			case "POLYMESH_INFERENCE_TLS_SERVER_NAME":
				// A name the gateway's certificate holds, in both meshes.
				for what, name := range map[string]string{"compose.yaml": got, "./dev up": devValue} {
					if !slices.Contains(gatewayCertificate(t).DNS, name) {
						t.Errorf("%s: %s: %s has %q, not a DNS name of the pki's gateway certificate %v", proc.name, k, what, name, gatewayCertificate(t).DNS)
					}
				}
			case "POLYMESH_TRUST_PRINCIPAL_HEADER":
				if got != devValue {
					t.Errorf("%s: %s: compose.yaml has %q, ./dev up %q", proc.name, k, got, devValue)
				}
			case "POLYMESH_GATEWAY_CONFIG":
				if !slices.ContainsFunc(s.Configs, func(c types.ServiceConfigObjConfig) bool { return c.Target == got }) {
					t.Errorf("%s: %s=%q, but no config is mounted there", proc.name, k, got)
				}
			case "POLYMESH_API_KEYS_FILE":
				// The same file, mounted as a config in compose.
				i := slices.IndexFunc(s.Configs, func(c types.ServiceConfigObjConfig) bool { return c.Target == got })
				if i < 0 {
					t.Errorf("%s: %s=%q, but no config is mounted there", proc.name, k, got)
					break
				}
				cfg := p.Configs[s.Configs[i].Source]
				if rel, err := filepath.Rel(repoRoot(t), devValue); err != nil || filepath.Join(p.WorkingDir, rel) != cfg.File {
					t.Errorf("%s: %s: compose.yaml mounts %s, ./dev up uses %s", proc.name, k, cfg.File, devValue)
				}
			case "POLYMESH_METRICS_ADDR":
				host, port := splitHostPort(t, proc.name+" "+k, got)
				_, devPort := splitHostPort(t, proc.name+" "+k, devValue)
				if host != "0.0.0.0" || port != devPort || !slices.Contains([]string(s.Expose), port) {
					t.Errorf("%s: %s: compose.yaml has %q (expose %v), want 0.0.0.0:%s, exposed", proc.name, k, got, s.Expose, devPort)
				}
			case "POLYMESH_USERS_DB":
				// The same file name, on a volume of the container.
				if !filepath.IsAbs(got) || filepath.Base(got) != filepath.Base(devValue) {
					t.Errorf("%s: %s=%q: want an absolute path to %s (./dev up: %q)", proc.name, k, got, filepath.Base(devValue), devValue)
				}
				if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
					return v.Type == types.VolumeTypeVolume && v.Target == filepath.Dir(got)
				}) {
					t.Errorf("%s: %s=%q, but no named volume is mounted at %s", proc.name, k, got, filepath.Dir(got))
				}
			case "POLYMESH_MODEL_REPOSITORY":
				if !filepath.IsAbs(got) {
					t.Errorf("%s: %s=%q: want an absolute path in the image", proc.name, k, got)
				}
				df := mustParseDockerfile(t, p, proc.name)
				if !strings.Contains(joinArgs(df.all()), "--repository "+got) {
					t.Errorf("%s: %s=%q, but %s does not train the model repository there", proc.name, k, got, df.path)
				}
			default:
				t.Errorf("%s: %s: this test does not know how the variable maps between ./dev up and compose.yaml; teach it", proc.name, k)
			}
		}
	}
}

func TestComposePublishesOnlyTheGatewayAndTheUIs(t *testing.T) {
	p := loadProject(t)
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		var targets []uint32
		for _, port := range s.Ports {
			targets = append(targets, port.Target)
			// By default on loopback only (POLYMESH_PUBLISH_HOST changes it):
			// neither UI asks who is looking.
			if port.HostIP != "127.0.0.1" {
				t.Errorf("%s: publishes %d on %q, want 127.0.0.1 by default", name, port.Target, port.HostIP)
			}
		}
		switch name {
		case "gateway":
			// Both listeners, each at the default port of its variable.
			f := loadMesh(t)
			want := map[string]string{
				f.Defaults()["POLYMESH_GATEWAY_PORT"]:     listenPort(t, p, "gateway"),
				f.Defaults()["POLYMESH_GATEWAY_TLS_PORT"]: tlsListenPort(t, p),
			}
			got := map[string]string{}
			for _, port := range s.Ports {
				got[port.Published] = strconv.FormatUint(uint64(port.Target), 10)
			}
			if !maps.Equal(got, want) {
				t.Errorf("gateway: publishes %v (published: target), want %v: the plaintext and the TLS listener", got, want)
			}
		case collector:
			if !slices.Equal(targets, []uint32{16686}) {
				t.Errorf("%s: publishes %v, want only the UI (16686); OTLP stays inside the network", name, targets)
			}
		case "grafana":
			if !slices.Equal(targets, []uint32{3000}) {
				t.Errorf("%s: publishes %v, want only the UI (3000)", name, targets)
			}
		default:
			if len(s.Ports) != 0 {
				t.Errorf("%s: publishes %v; only the gateway and the UIs are published", name, targets)
			}
		}
	}
}

func TestComposeNetworks(t *testing.T) {
	p := loadProject(t)
	var internal []string
	for name, n := range p.Networks {
		if n.Internal {
			internal = append(internal, name)
		}
	}
	if len(internal) == 0 {
		t.Fatal("no internal network for the services")
	}
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		var nets []string
		for n := range s.Networks {
			nets = append(nets, n)
		}
		onlyInternal := len(nets) > 0
		for _, n := range nets {
			if !p.Networks[n].Internal {
				onlyInternal = false
			}
		}
		switch {
		case len(s.Ports) > 0 && onlyInternal:
			t.Errorf("%s: publishes ports but is only on internal networks %v", name, nets)
		case len(s.Ports) == 0 && !onlyInternal:
			t.Errorf("%s: publishes nothing, so it belongs on internal networks only; it is on %v", name, nets)
		}
	}
}

// callsBackThrough says whether service up calls its own upstream through
// the gateway, which it then needs to be healthy (an east-west address
// naming the gateway).
func callsBackThrough(t *testing.T, p *types.Project, up, gateway string) bool {
	t.Helper()
	if gateway != "gateway" {
		return false
	}
	for k, v := range composeEnv(t, p.Services[up]) {
		if strings.HasSuffix(k, "_ADDR") && strings.HasPrefix(v, gateway+":") {
			return true
		}
	}
	return false
}

// TestComposeHealthAndStartupOrder checks that every service has a
// healthcheck and starts once what it needs is healthy: the collector
// first, so that no service's first spans are lost; the gateway after every
// upstream its configuration names, whose host names must resolve when it
// starts (the engine's DNS answers for running containers only), and that
// are healthy but for those that call back through it (they are healthy
// only once it is); the dashboards after the mesh.
func TestComposeHealthAndStartupOrder(t *testing.T) {
	p := loadProject(t)
	probe := regexp.MustCompile(`127\.0\.0\.1:([0-9]+)`)
	for _, name := range p.ServiceNames() {
		s := p.Services[name]
		hc := s.HealthCheck
		if hc == nil || hc.Disable || len(hc.Test) < 2 {
			t.Errorf("%s: no healthcheck", name)
			continue
		}
		if hc.Test[0] != "CMD" {
			t.Errorf("%s: healthcheck %v: want the exec form [CMD, ...]", name, hc.Test)
		}
		if slices.Contains(builtServices, name) {
			test := strings.Join(hc.Test, " ")
			if !strings.Contains(test, "grpc-health-probe") && !strings.Contains(test, "grpc_health.v1") {
				t.Errorf("%s: healthcheck %q does not use grpc.health.v1", name, test)
			}
			m := probe.FindStringSubmatch(test)
			if want := listenPort(t, p, name); m == nil || m[1] != want {
				t.Errorf("%s: healthcheck %q does not probe the listening port %s", name, test, want)
			}
		}
		for dep, d := range s.DependsOn {
			want := types.ServiceConditionHealthy
			if callsBackThrough(t, p, dep, name) {
				want = types.ServiceConditionStarted
			}
			if d.Condition != want {
				t.Errorf("%s: depends_on %s: condition %q, want %s", name, dep, d.Condition, want)
			}
		}
		if dependsOn(p, name, name) {
			t.Errorf("%s: depends on itself through %v", name, sortedKeys(s.DependsOn))
		}
		if name != collector && !dependsOn(p, name, collector) {
			t.Errorf("%s: does not wait for %s, the trace collector", name, collector)
		}
		if !slices.Contains(dashboardServices, name) {
			for _, dash := range dashboardServices {
				if dependsOn(p, name, dash) {
					t.Errorf("%s: waits for the dashboard %s", name, dash)
				}
			}
		}
		if s.Deploy == nil || s.Deploy.Resources.Limits == nil || s.Deploy.Resources.Limits.MemoryBytes <= 0 {
			t.Errorf("%s: no memory limit (deploy.resources.limits.memory)", name)
		}
		if s.Image != "" && s.Build == nil && !imagePinned(s.Image) {
			t.Errorf("%s: image %q is not pinned to a version", name, s.Image)
		}
	}
	for _, c := range readGatewayConfig(t, gatewayConfigFile(t, p)).Clusters {
		for _, e := range c.Endpoints {
			if _, ok := p.Services[e.Address]; !ok {
				continue // reported by TestGatewayConfigMatchesTheLocalMesh
			}
			if _, ok := p.Services["gateway"].DependsOn[e.Address]; !ok {
				t.Errorf("gateway: does not wait for %s (cluster %s); its name must resolve when the gateway starts", e.Address, c.Name)
			}
		}
	}
}

// gatewayConfig is the part of proto/polymesh/gateway/v1/config.proto these
// tests compare.
type gatewayConfig struct {
	Listener    socketAddress `yaml:"listener"`
	TLSListener struct {
		Address socketAddress `yaml:"address"`
		TLS     struct {
			CertificateChainFile string `yaml:"certificate_chain_file"`
			PrivateKeyFile       string `yaml:"private_key_file"`
			ClientCAFile         string `yaml:"client_ca_file"`
		} `yaml:"tls"`
	} `yaml:"tls_listener"`
	AuthProviders map[string]map[string]any `yaml:"auth_providers"`
	LocalServices socketAddress             `yaml:"local_services"`
	Clusters      []struct {
		Name      string          `yaml:"name"`
		Endpoints []socketAddress `yaml:"endpoints"`
	} `yaml:"clusters"`
	Routes []map[string]any `yaml:"routes"`
	Admin  struct {
		Address   socketAddress `yaml:"address"`
		Disabled  bool          `yaml:"disabled"`
		TokenFile string        `yaml:"token_file"`
	} `yaml:"admin"`
}

type socketAddress struct {
	Address string `yaml:"address"`
	Port    string `yaml:"port"`
}

func readGatewayConfig(t *testing.T, path string) gatewayConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg gatewayConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg
}

func gatewayConfigFile(t *testing.T, p *types.Project) string {
	t.Helper()
	s := p.Services["gateway"]
	target := composeEnv(t, s)["POLYMESH_GATEWAY_CONFIG"]
	for _, c := range s.Configs {
		if c.Target == target {
			cfg, ok := p.Configs[c.Source]
			if !ok || cfg.File == "" {
				t.Fatalf("gateway: config %q is not a file", c.Source)
			}
			if _, err := os.Stat(cfg.File); err != nil {
				t.Fatalf("gateway: config %q: %v", c.Source, err)
			}
			return cfg.File
		}
	}
	t.Fatalf("gateway: no config mounted at POLYMESH_GATEWAY_CONFIG=%q", target)
	return ""
}

// meshGatewayConfig is the gateway section of deploy/mesh.yaml (its
// placeholders left as they are).
func meshGatewayConfig(t *testing.T) gatewayConfig {
	t.Helper()
	data, err := yaml.Marshal(loadMesh(t).Gateway)
	if err != nil {
		t.Fatal(err)
	}
	var cfg gatewayConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("deploy/mesh.yaml: gateway: %v", err)
	}
	return cfg
}

// TestGatewayConfigMatchesTheLocalMesh checks the gateway configuration
// that compose mounts (hand-written, for readers) against the gateway
// section of deploy/mesh.yaml: the same routes, and the same clusters, each
// endpoint being the compose service of the process whose port the mesh
// file names, at its default port.
func TestGatewayConfigMatchesTheLocalMesh(t *testing.T) {
	p := loadProject(t)
	root := repoRoot(t)
	composeFile := gatewayConfigFile(t, p)
	if got, want := composeFile, filepath.Join(root, "gateway", "config", "compose.yaml"); got != want {
		t.Errorf("gateway config: got %s, want %s", got, want)
	}
	f := loadMesh(t)
	local := meshGatewayConfig(t)
	cont := readGatewayConfig(t, composeFile)

	if got, want := cont.Routes, local.Routes; !equalYAML(t, got, want) {
		t.Errorf("routes: gateway/config/compose.yaml has %v, deploy/mesh.yaml %v", got, want)
	}
	if cont.Listener.Address != "0.0.0.0" {
		t.Errorf("listener: %+v: want every interface of the container", cont.Listener)
	}
	if cont.LocalServices.Port == "" || cont.LocalServices.Port == cont.Listener.Port {
		t.Errorf("local_services %+v: want its own port", cont.LocalServices)
	}
	// The gateway's own ports: the defaults of the mesh file's variables.
	for what, pair := range map[string][2]string{
		"listener":       {cont.Listener.Port, local.Listener.Port},
		"tls_listener":   {cont.TLSListener.Address.Port, local.TLSListener.Address.Port},
		"local_services": {cont.LocalServices.Port, local.LocalServices.Port},
		"admin":          {cont.Admin.Address.Port, local.Admin.Address.Port},
	} {
		variable := meshfile.PortVariable(pair[1])
		if want := f.Defaults()[variable]; variable == "" || pair[0] != want {
			t.Errorf("%s: compose has port %s, deploy/mesh.yaml %s (default %s)", what, pair[0], pair[1], want)
		}
	}
	if len(cont.Clusters) != len(local.Clusters) {
		t.Fatalf("clusters: compose has %d, deploy/mesh.yaml %d", len(cont.Clusters), len(local.Clusters))
	}
	for i, lc := range local.Clusters {
		cc := cont.Clusters[i]
		if cc.Name != lc.Name || len(cc.Endpoints) != len(lc.Endpoints) {
			t.Errorf("cluster %d: compose has %s with %d endpoints, deploy/mesh.yaml %s with %d", i, cc.Name, len(cc.Endpoints), lc.Name, len(lc.Endpoints))
			continue
		}
		for j, le := range lc.Endpoints {
			// The mesh file names the port's variable; compose reaches the
			// process that listens there by its service name.
			owner, port, ok := f.Owner(meshfile.PortVariable(le.Port))
			if !ok {
				t.Errorf("cluster %s: endpoint port %s is no port variable of a process", lc.Name, le.Port)
				continue
			}
			ce := cc.Endpoints[j]
			if _, ok := p.Services[owner.Name]; !ok {
				t.Errorf("cluster %s: deploy/mesh.yaml's endpoint %s names no compose service %q", lc.Name, le.Port, owner.Name)
				continue
			}
			if want := strconv.Itoa(port.Default); ce.Address != owner.Name || ce.Port != want || want != listenPort(t, p, owner.Name) {
				t.Errorf("cluster %s: endpoint %s:%s, want %s:%s", cc.Name, ce.Address, ce.Port, owner.Name, want)
			}
		}
	}
}

// TestComposeListensAndChecksHealthAsTheMeshFile checks each process's ports
// and health check against its compose service: every port of the mesh file
// is one the service exposes or publishes (or, for the gateway, one its
// configuration names), at the variable's default; the healthcheck asks the
// port the mesh file's health check names, over gRPC health or, for HTTP,
// at the same path.
func TestComposeListensAndChecksHealthAsTheMeshFile(t *testing.T) {
	p, f := loadProject(t), loadMesh(t)
	cont := readGatewayConfig(t, gatewayConfigFile(t, p))
	for _, proc := range f.Processes {
		s, ok := p.Services[proc.Name]
		if !ok {
			continue // reported by TestComposeNamesTheServicesOfDevUp
		}
		reachable := slices.Clone([]string(s.Expose))
		for _, port := range s.Ports {
			reachable = append(reachable, strconv.FormatUint(uint64(port.Target), 10))
		}
		if proc.Name == "gateway" {
			reachable = append(reachable, cont.Listener.Port, cont.TLSListener.Address.Port, cont.LocalServices.Port, cont.Admin.Address.Port)
		}
		for _, port := range proc.Ports {
			if want := strconv.Itoa(port.Default); !slices.Contains(reachable, want) {
				t.Errorf("%s: deploy/mesh.yaml's %s (%s) is not a port compose.yaml exposes, publishes or configures: %v", proc.Name, port.Variable, want, reachable)
			}
		}
		if s.HealthCheck == nil {
			continue // reported by TestComposeHealthAndStartupOrder
		}
		test := strings.Join(s.HealthCheck.Test, " ")
		_, port, _ := f.Owner(proc.Health.Variable())
		addr := "127.0.0.1:" + strconv.Itoa(port.Default)
		switch {
		case proc.Health.GRPC != "":
			if !strings.Contains(test, addr) || !(strings.Contains(test, "grpc-health-probe") || strings.Contains(test, "grpc_health.v1")) {
				t.Errorf("%s: healthcheck %q: want grpc.health.v1 at %s, as deploy/mesh.yaml", proc.Name, test, addr)
			}
		default:
			if !strings.Contains(test, "http://"+addr+proc.Health.Path) {
				t.Errorf("%s: healthcheck %q: want GET http://%s%s, as deploy/mesh.yaml", proc.Name, test, addr, proc.Health.Path)
			}
		}
	}
}

func equalYAML(t *testing.T, a, b any) bool {
	t.Helper()
	x, err1 := yaml.Marshal(a)
	y, err2 := yaml.Marshal(b)
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	return string(x) == string(y)
}

func TestComposeBuildsExist(t *testing.T) {
	p := loadProject(t)
	for _, name := range builtServices {
		s := p.Services[name]
		if s.Build == nil {
			t.Errorf("%s: no build section", name)
			continue
		}
		st, err := os.Stat(s.Build.Context)
		if err != nil || !st.IsDir() {
			t.Errorf("%s: build context %s is not a folder: %v", name, s.Build.Context, err)
			continue
		}
		if _, err := os.Stat(dockerfilePath(s)); err != nil {
			t.Errorf("%s: Dockerfile: %v", name, err)
		}
	}
}

func dockerfilePath(s types.ServiceConfig) string {
	df := s.Build.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	if filepath.IsAbs(df) {
		return df
	}
	return filepath.Join(s.Build.Context, df)
}

func mustParseDockerfile(t *testing.T, p *types.Project, name string) *dockerfile {
	t.Helper()
	s, ok := p.Services[name]
	if !ok || s.Build == nil {
		t.Fatalf("%s: no build section", name)
	}
	df, err := parseDockerfile(dockerfilePath(s))
	if err != nil {
		t.Fatal(err)
	}
	return df
}

func joinArgs(ins []instruction) string {
	var b strings.Builder
	for _, in := range ins {
		b.WriteString(strings.Join(strings.Fields(in.args), " "))
		b.WriteString("\n")
	}
	return b.String()
}
