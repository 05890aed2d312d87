package testmesh

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/polymesh/polymesh/deploy/mesh/meshfile"
)

// APIKey is the API key the mesh's gateway admits, on every route (its
// groups are ai-users, users and operators); aiapi holds it to no quota.
const APIKey = "polymesh-client-test-key"

// Mesh is a set of processes of deploy/mesh.yaml started on first use, with
// their commands and environment from that file: "users", "inference",
// "aiapi" (calling inference directly, in plaintext; its callers named by
// the gateway) and "gateway" (the mesh file's configuration, with the
// clusters of the processes started here). On top of the file, for tests:
// free ports, spans to Collector every 100 ms, no /metrics listeners, files
// in Dir, one inference worker, the key file of APIKey for the gateway and
// aiapi, and no TLS listener on the gateway (so no certificates).
type Mesh struct {
	// Dir holds binaries, logs, the users database and configs.
	Dir string
	// Collector receives every process's spans.
	Collector *Collector

	mu        sync.Mutex
	root      string
	file      *meshfile.File
	processes []*Process
	bins      map[string]string
	started   map[string]string // name -> its gRPC address; "" after a failure
}

// New makes a mesh with nothing running yet but its span receiver.
func New() (*Mesh, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	file, err := meshfile.Load(meshfile.Path(root))
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "polymesh-client-")
	if err != nil {
		return nil, err
	}
	c, err := StartCollector()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Mesh{Dir: dir, Collector: c, root: root, file: file, started: map[string]string{}}, nil
}

// Close stops the processes, last started first, and the receiver; it
// returns an error naming each process that did not exit cleanly.
func (m *Mesh) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var errs []error
	for i := len(m.processes) - 1; i >= 0; i-- {
		p := m.processes[i]
		if err := p.Stop(); err != nil {
			errs = append(errs, fmt.Errorf("%s did not exit cleanly: %w\n%s", p.Name, err, p.Tail(20)))
		}
	}
	m.Collector.Stop()
	os.RemoveAll(m.Dir)
	return errors.Join(errs...)
}

// Binary is the path of a Go main package of the module built into Dir
// (pkg relative to the root, such as "./clients/go/cmd/polymesh-example").
func (m *Mesh) Binary(pkg string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.binaryLocked(pkg)
}

func (m *Mesh) binaryLocked(pkg string) (string, error) {
	if m.bins == nil {
		m.bins = map[string]string{}
	}
	name := filepath.Base(pkg)
	if bin, ok := m.bins[name]; ok {
		return bin, nil
	}
	built, err := BuildGo(m.Dir, pkg)
	if err != nil {
		return "", err
	}
	m.bins[name] = built[name]
	return built[name], nil
}

// Start returns the gRPC address of the process name, starting it and what
// it calls on first use. A process that failed to start is not retried.
func (m *Mesh) Start(name string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.startLocked(name)
}

// folders are what the mesh file's {folder} placeholders stand for here.
func (m *Mesh) folders() meshfile.Folders {
	f := meshfile.CheckoutFolders(m.root)
	f.Run = m.Dir
	return f
}

func (m *Mesh) need(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			rel, _ := filepath.Rel(m.root, p)
			return fmt.Errorf("%s is missing: run ./dev build", rel)
		}
	}
	return nil
}

// command is the process's argv and environment from the mesh file, its
// gRPC port at addr, with the test's overrides: each must name a variable
// the file sets (so that a rename there cannot leave a test setting a
// variable nobody reads), and extra ones are added as they are.
func (m *Mesh) command(name, addr string, overrides, extra map[string]string) ([]string, []string, error) {
	spec, ok := m.file.Process(name)
	if !ok {
		return nil, nil, fmt.Errorf("testmesh: deploy/mesh.yaml has no process %q", name)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	values := m.file.Defaults()
	values[spec.Health.Variable()] = port
	argv, env, err := spec.Resolve(values, m.folders())
	if err != nil {
		return nil, nil, err
	}
	if spec.Source != "" {
		bin, err := m.binaryLocked(spec.Source)
		if err != nil {
			return nil, nil, err
		}
		argv[0] = bin
	} else if err := m.need(argv[0]); err != nil {
		return nil, nil, err
	}
	overrides = maps.Clone(overrides)
	overrides["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://" + m.Collector.Addr
	if _, ok := env["POLYMESH_METRICS_ADDR"]; ok {
		overrides["POLYMESH_METRICS_ADDR"] = "off"
	}
	for k, v := range overrides {
		if _, ok := env[k]; !ok {
			return nil, nil, fmt.Errorf("testmesh: deploy/mesh.yaml sets no %s for %s", k, name)
		}
		env[k] = v
	}
	maps.Copy(env, extra)
	env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
	keys := slices.Sorted(maps.Keys(env))
	var kv []string
	for _, k := range keys {
		kv = append(kv, k+"="+env[k])
	}
	return argv, kv, nil
}

func (m *Mesh) startLocked(name string) (string, error) {
	if addr, ok := m.started[name]; ok {
		if addr == "" {
			return "", fmt.Errorf("%s failed to start earlier", name)
		}
		return addr, nil
	}
	m.started[name] = ""
	addr, err := FreeAddr()
	if err != nil {
		return "", err
	}
	overrides, extra := map[string]string{}, map[string]string{}
	switch name {
	case "users":
		overrides["POLYMESH_USERS_DB"] = filepath.Join(m.Dir, "users.db")
	case "inference":
		if err := m.need(filepath.Join(m.root, "build/models/.complete")); err != nil {
			return "", err
		}
		extra["POLYMESH_WORKERS"] = "1"
	case "aiapi":
		inference, err := m.startLocked("inference")
		if err != nil {
			return "", err
		}
		if err := m.writeKeys(); err != nil {
			return "", err
		}
		overrides["POLYMESH_INFERENCE_ADDR"] = inference
		// The inference service itself speaks plaintext.
		for _, v := range []string{"CA_FILE", "CERT_FILE", "KEY_FILE", "SERVER_NAME"} {
			overrides["POLYMESH_INFERENCE_TLS_"+v] = ""
		}
		overrides["POLYMESH_API_KEYS_FILE"] = m.keysFile()
	case "gateway":
		upstreams := map[string]string{}
		for _, u := range []string{"aiapi", "users", "inference"} {
			if upstreams[u], err = m.startLocked(u); err != nil {
				return "", err
			}
		}
		config, err := m.gatewayConfig(addr, upstreams)
		if err != nil {
			return "", err
		}
		overrides["POLYMESH_GATEWAY_CONFIG"] = config
	default:
		return "", fmt.Errorf("testmesh: no process %q", name)
	}
	argv, env, err := m.command(name, addr, overrides, extra)
	if err != nil {
		return "", err
	}
	p, err := Start(name, argv, env, m.Dir)
	if err != nil {
		return "", err
	}
	m.processes = append(m.processes, p)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := p.WaitHealthy(ctx, addr); err != nil {
		return "", err
	}
	m.started[name] = addr
	return addr, nil
}

// keysFile is the key file of the gateway and aiapi: APIKey's hash.
func (m *Mesh) keysFile() string { return filepath.Join(m.Dir, "api-keys.yaml") }

func (m *Mesh) writeKeys() error {
	hash := sha256.Sum256([]byte(APIKey))
	text := "keys:\n  - name: test\n    sha256: " + hex.EncodeToString(hash[:]) +
		"\n    groups: [ai-users, users, operators]\n"
	return os.WriteFile(m.keysFile(), []byte(text), 0o600)
}

// gatewayConfig writes the gateway's configuration: the mesh file's,
// listening on addr, with the clusters of the upstreams started here (name
// -> address) and the routes to them and to the gateway's own services.
func (m *Mesh) gatewayConfig(addr string, upstreams map[string]string) (string, error) {
	values := m.file.Defaults()
	spec, _ := m.file.Process("gateway")
	for _, port := range spec.Ports {
		a := addr
		if port.Variable != spec.Health.Variable() {
			var err error
			if a, err = FreeAddr(); err != nil {
				return "", err
			}
		}
		_, values[port.Variable], _ = net.SplitHostPort(a)
	}
	for name, a := range upstreams {
		p, _ := m.file.Process(name)
		_, values[p.Health.Variable()], _ = net.SplitHostPort(a)
	}
	tree, err := meshfile.ExpandTree(m.file.Gateway, values, m.folders())
	if err != nil {
		return "", err
	}
	config := tree.(map[string]any)
	var clusters, routes []any
	kept := map[string]bool{"local": true}
	for _, c := range config["clusters"].([]any) {
		if name := c.(map[string]any)["name"].(string); upstreams[name] != "" {
			clusters = append(clusters, c)
			kept[name] = true
		}
	}
	for _, r := range config["routes"].([]any) {
		if kept[r.(map[string]any)["cluster"].(string)] {
			routes = append(routes, r)
		}
	}
	config["clusters"], config["routes"] = clusters, routes
	// The routes' rules as they are, with the tests' key; no TLS listener,
	// so no client certificates.
	delete(config, "tls_listener")
	providers := config["auth_providers"].(map[string]any)
	delete(providers, "mtls")
	providers["api_keys"] = map[string]any{"keys_file": m.keysFile()}
	if err := m.writeKeys(); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Join(m.Dir, "logs"), 0o755); err != nil {
		return "", err
	}
	data, err := yaml.Marshal(config)
	if err != nil {
		return "", err
	}
	path := filepath.Join(m.Dir, "gateway.yaml")
	return path, os.WriteFile(path, data, 0o600)
}
