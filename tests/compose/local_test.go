package compose

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

// The override that runs compose.yaml on a machine without a registry, with
// the images deploy/docker/engine.sh makes.
const localOverride = "deploy/docker/compose.local.yaml"

// loadLocalProject loads compose.yaml with the override, as
// `docker compose -f compose.yaml -f deploy/docker/compose.local.yaml` does.
func loadLocalProject(t *testing.T, profiles ...string) *types.Project {
	t.Helper()
	return loadComposeFiles(t, profiles, "compose.yaml", localOverride)
}

// engineImages is every image name deploy/docker/engine.sh makes
// (BASE_*_IMAGE=name, LOCAL_*_IMAGE=name).
func engineImages(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "deploy/docker/engine.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range regexp.MustCompile(`(?m)^(?:BASE|LOCAL)_[A-Z]+_IMAGE=(\S+)$`).FindAllStringSubmatch(string(data), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		t.Fatal("deploy/docker/engine.sh names no images (BASE_*_IMAGE=, LOCAL_*_IMAGE=)")
	}
	return names
}

func imageTag(ref string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref[i+1:]
	}
	return ""
}

// TestLocalOverrideNeedsNoRegistry checks that with the override, every
// image of the stack is one the engine makes: each stage of each build
// starts from a build argument the override sets to a local image (or from
// an earlier stage, or scratch), and each service that is not built runs a
// local build of the release compose.yaml pins, or waits behind a profile.
func TestLocalOverrideNeedsNoRegistry(t *testing.T) {
	public := loadProject(t)
	local := engineImages(t)
	for _, profiles := range [][]string{nil, {"loadgen"}} {
		p := loadLocalProject(t, profiles...)
		for _, name := range p.ServiceNames() {
			s := p.Services[name]
			if s.Build == nil {
				if !slices.Contains(local, s.Image) {
					t.Errorf("%s: image %q is not one deploy/docker/engine.sh makes", name, s.Image)
				}
				if pub, ok := public.Services[name]; ok && imageTag(pub.Image) != imageTag(s.Image) {
					t.Errorf("%s: the local image %s is not the release of compose.yaml's %s", name, s.Image, pub.Image)
				}
				if s.PullPolicy != types.PullPolicyNever {
					t.Errorf("%s: pull_policy %q: a local image is never pulled", name, s.PullPolicy)
				}
				continue
			}
			// The builds' RUN steps fetch packages over the machine's network.
			if s.Build.Network != "host" {
				t.Errorf("%s: build network %q, want host", name, s.Build.Network)
			}
			df, err := parseDockerfile(dockerfilePath(s))
			if err != nil {
				t.Fatal(err)
			}
			args := map[string]string{}
			defaults := df.argDefaults()
			for k, v := range s.Build.Args {
				if _, ok := defaults[k]; !ok {
					t.Errorf("%s: build argument %s is no ARG before the first FROM of %s", name, k, df.path)
				}
				if v != nil {
					args[k] = *v
				}
			}
			for i, st := range df.stages {
				base, err := df.baseImage(&st, args)
				if err != nil {
					t.Error(err)
					continue
				}
				if at := df.stageIndex(base); (at >= 0 && at < i) || base == "scratch" {
					continue
				}
				if !slices.Contains(local, base) {
					t.Errorf("%s: %s:%d: FROM %s is %s, not an image deploy/docker/engine.sh makes", name, df.path, st.line, st.base, base)
				}
			}
		}
		// Only Grafana, which cannot be built here, waits behind a profile.
		for _, name := range public.ServiceNames() {
			if _, ok := p.Services[name]; !ok && name != "grafana" {
				t.Errorf("%s: the override leaves it out of the stack", name)
			}
		}
	}
}
