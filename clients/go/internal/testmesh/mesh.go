package testmesh

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// APIKey is the AI API key the mesh's aiapi admits.
const APIKey = "polymesh-client-test-key"

// Mesh is a set of processes started on first use: "users", "inference",
// "aiapi" (calling inference directly) and "gateway" (routing the AI API,
// the users API, inference and health).
type Mesh struct {
	// Dir holds binaries, logs, the users database and configs.
	Dir string
	// Collector receives every process's spans.
	Collector *Collector

	mu        sync.Mutex
	root      string
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
	dir, err := os.MkdirTemp("", "polymesh-client-")
	if err != nil {
		return nil, err
	}
	c, err := StartCollector()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Mesh{Dir: dir, Collector: c, root: root, started: map[string]string{}}, nil
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

func (m *Mesh) env(service string) []string {
	return []string{
		"OTEL_SERVICE_NAME=" + service,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + m.Collector.Addr,
		"OTEL_BSP_SCHEDULE_DELAY=100",
		"OTEL_SEMCONV_STABILITY_OPT_IN=rpc/dup",
		"POLYMESH_METRICS_ADDR=off",
	}
}

func (m *Mesh) need(paths ...string) error {
	for _, p := range paths {
		if _, err := os.Stat(filepath.Join(m.root, p)); err != nil {
			return fmt.Errorf("%s is missing: run ./dev build", p)
		}
	}
	return nil
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
	var argv, env []string
	switch name {
	case "users":
		bin, err := m.binaryLocked("./services/users/cmd/users")
		if err != nil {
			return "", err
		}
		argv = []string{bin}
		env = append(m.env("polymesh-users"), "POLYMESH_LISTEN_ADDR="+addr,
			"POLYMESH_USERS_DB="+filepath.Join(m.Dir, "users.db"))
	case "inference":
		if err := m.need(".venv/bin/python", "build/models/.complete"); err != nil {
			return "", err
		}
		argv = []string{filepath.Join(m.root, ".venv/bin/python"), "-m", "polymesh_inference"}
		env = append(m.env("polymesh-inference"), "POLYMESH_LISTEN_ADDR="+addr,
			"POLYMESH_MODEL_REPOSITORY="+filepath.Join(m.root, "build/models"), "POLYMESH_WORKERS=1")
	case "aiapi":
		inference, err := m.startLocked("inference")
		if err != nil {
			return "", err
		}
		bin, err := m.binaryLocked("./services/aiapi/cmd/aiapi")
		if err != nil {
			return "", err
		}
		keys := filepath.Join(m.Dir, "api-keys.yaml")
		if err := os.WriteFile(keys, []byte("keys:\n  - name: test\n    key: "+APIKey+"\n"), 0o600); err != nil {
			return "", err
		}
		argv = []string{bin}
		env = append(m.env("polymesh-aiapi"), "POLYMESH_LISTEN_ADDR="+addr,
			"POLYMESH_INFERENCE_ADDR="+inference, "POLYMESH_API_KEYS_FILE="+keys)
	case "gateway":
		const bin = "build/cmake/gateway/polymesh-gateway"
		if err := m.need(bin); err != nil {
			return "", err
		}
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
		argv = []string{filepath.Join(m.root, bin), "--config", config}
		env = m.env("polymesh-gateway")
	default:
		return "", fmt.Errorf("testmesh: no process %q", name)
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

// gatewayConfig writes the gateway's configuration: listening on addr,
// routing each public contract to its upstream.
func (m *Mesh) gatewayConfig(addr string, upstreams map[string]string) (string, error) {
	local, err := FreeAddr()
	if err != nil {
		return "", err
	}
	admin, err := FreeAddr()
	if err != nil {
		return "", err
	}
	hostPort := func(a string) string {
		host, port, _ := strings.Cut(a, ":")
		return fmt.Sprintf("{ address: %q, port: %s }", host, port)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listener: %s\nlocal_services: %s\nadmin: { address: %s }\nclusters:\n",
		hostPort(addr), hostPort(local), hostPort(admin))
	for _, name := range []string{"aiapi", "users", "inference"} {
		fmt.Fprintf(&b, "  - name: %s\n    endpoints: [%s]\n", name, hostPort(upstreams[name]))
	}
	b.WriteString(`routes:
  - name: ai
    match: { service: polymesh.ai.v1.AIService }
    cluster: aiapi
  - name: users
    match: { service: polymesh.users.v1.UserService }
    cluster: users
  - name: inference
    match: { service: inference.GRPCInferenceService }
    cluster: inference
  - name: health
    match: { service: grpc.health.v1.Health }
    cluster: local
`)
	path := filepath.Join(m.Dir, "gateway.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}
