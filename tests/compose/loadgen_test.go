package compose

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestLoadgenProfileRunsTheClientsLoadGenerator: `docker compose --profile
// loadgen up` adds a service that runs polymesh_client.loadgen from an image
// that installs the Python client, against the gateway, after the services it
// calls are healthy; without the profile it does not run.
func TestLoadgenProfileRunsTheClientsLoadGenerator(t *testing.T) {
	if _, ok := loadProject(t).Services["loadgen"]; ok {
		t.Error("loadgen runs without its profile")
	}
	root := repoRoot(t)
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	p, err := loader.LoadWithContext(ctx, types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "compose.yaml")}},
		Environment: types.Mapping{},
	}, loader.WithProfiles([]string{"loadgen"}))
	if err != nil {
		t.Fatalf("compose.yaml does not load with the loadgen profile: %v", err)
	}
	s, ok := p.Services["loadgen"]
	if !ok {
		t.Fatal("no loadgen service in the loadgen profile")
	}
	if got := strings.Join(s.Entrypoint, " "); got != "python -m polymesh_client.loadgen" {
		t.Errorf("loadgen entrypoint = %q", got)
	}
	if _, err := os.Stat(filepath.Join(root, "clients/python/src/polymesh_client/loadgen.py")); err != nil {
		t.Errorf("the loadgen module: %v", err)
	}
	if s.Build == nil {
		t.Fatal("loadgen has no build")
	}
	dockerfile, err := os.ReadFile(filepath.Join(root, s.Build.Dockerfile))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dockerfile), "clients/python/pyproject.toml") {
		t.Errorf("%s does not install the Python client", s.Build.Dockerfile)
	}
	// The gateway's TLS listener, its CA mounted.
	target := strings.Join(s.Command, " ")
	if !strings.Contains(target, "--target gateway:"+tlsListenPort(t, p)) {
		t.Errorf("loadgen command %q does not call the gateway's TLS listener", target)
	}
	ca := flagArg(s.Command, "--ca-file")
	if file, _ := mountedFile(t, p, "loadgen", ca); file != composePkiFile(t, "ca.crt") {
		t.Errorf("loadgen --ca-file %q mounts %s, want the stack's CA", ca, file)
	}
	for _, dep := range []string{"gateway", "aiapi", "users"} {
		d, ok := s.DependsOn[dep]
		if !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("loadgen does not wait for %s to be healthy", dep)
		}
	}
	if !slices.Contains(s.Profiles, "loadgen") {
		t.Errorf("loadgen profiles = %v", s.Profiles)
	}
}
