package meshfile

import (
	"path/filepath"
	"slices"
	"testing"
)

func root(t *testing.T) string {
	t.Helper()
	r, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMeshFileLoadsAndResolves(t *testing.T) {
	r := root(t)
	f, err := Load(Path(r))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range f.Processes {
		names = append(names, p.Name)
	}
	if want := []string{"jaeger", "inference", "gateway", "aiapi", "users", "users-py"}; !slices.Equal(names, want) {
		t.Errorf("processes: got %v, want %v", names, want)
	}
	aiapi, ok := f.Process("aiapi")
	if !ok {
		t.Fatal("no aiapi")
	}
	argv, env, err := aiapi.Resolve(f.Defaults(), CheckoutFolders(r))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := argv, []string{filepath.Join(r, "build/bin/aiapi")}; !slices.Equal(got, want) {
		t.Errorf("aiapi argv: got %v, want %v", got, want)
	}
	for k, want := range map[string]string{
		"POLYMESH_LISTEN_ADDR":        "127.0.0.1:50051",
		"POLYMESH_INFERENCE_ADDR":     "127.0.0.1:8443",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
		"OTEL_SERVICE_NAME":           "polymesh-aiapi",
	} {
		if env[k] != want {
			t.Errorf("aiapi %s: got %q, want %q", k, env[k], want)
		}
	}
	if owner, port, ok := f.Owner("POLYMESH_USERS_PY_PORT"); !ok || owner.Name != "users-py" || port.Default != 50054 {
		t.Errorf("Owner(POLYMESH_USERS_PY_PORT): got %v %v %v", owner, port, ok)
	}
	if got, want := f.Pki.Folder, "{run}/tls"; got != want {
		t.Errorf("pki folder: got %q, want %q", got, want)
	}
	gateway, ok := f.Pki.Certificate("gateway")
	if !ok || gateway.Usage != "server" || !slices.Contains(gateway.DNS, "gateway") {
		t.Errorf("pki gateway certificate: got %+v, %v", gateway, ok)
	}
	if files := f.Pki.Files(); !slices.Contains(files, "aiapi.key") || !slices.Contains(files, "ca.crt") {
		t.Errorf("pki files: got %v", files)
	}
}

func TestExpandRejectsUnknownPlaceholders(t *testing.T) {
	if _, err := Expand("${NOPE}:{build}", map[string]string{}, Folders{Build: "/b"}); err == nil {
		t.Error("an unknown variable expanded without an error")
	}
	if _, err := Expand("{nowhere}/x", map[string]string{}, Folders{}); err == nil {
		t.Error("an unknown folder expanded without an error")
	}
	got, err := Expand("${A}/{run}", map[string]string{"A": "1"}, Folders{Run: "/r"})
	if err != nil || got != "1//r" {
		t.Errorf("Expand: got %q, %v", got, err)
	}
	if got := PortVariable("${POLYMESH_AIAPI_PORT}"); got != "POLYMESH_AIAPI_PORT" {
		t.Errorf("PortVariable: got %q", got)
	}
	if got := PortVariable("x${POLYMESH_AIAPI_PORT}"); got != "" {
		t.Errorf("PortVariable of a longer string: got %q", got)
	}
}
