package compose

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// devArray is the words of a bash array assigned in ./dev or a script it
// sources (NAME=( ... )).
func devArray(t *testing.T, name string) []string {
	t.Helper()
	m := regexp.MustCompile(`(?ms)^` + name + `=\((.*?)\)`).FindStringSubmatch(devText(t))
	if m == nil {
		t.Fatalf("./dev: no %s=( ... )", name)
	}
	var words []string
	for _, line := range strings.Split(m[1], "\n") {
		line, _, _ = strings.Cut(line, "#")
		words = append(words, strings.Fields(line)...)
	}
	return words
}

// devText is ./dev and the scripts of deploy/dev/ that it sources, where
// the pinned versions are.
func devText(t *testing.T) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "deploy/dev/*.sh"))
	if err != nil || len(files) == 0 {
		t.Fatalf("deploy/dev/*.sh: none found (%v)", err)
	}
	var text strings.Builder
	for _, f := range append([]string{filepath.Join(repoRoot(t), "dev")}, files...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text.Write(data)
		text.WriteString("\n")
	}
	return text.String()
}

// aptPinWords is every name=version word a Dockerfile stage passes to
// apt-get install, as written.
func aptPinWords(s *stage) []string {
	var words []string
	for _, in := range s.instrs {
		if in.cmd != "RUN" || !strings.Contains(in.args, "apt-get install") {
			continue
		}
		_, rest, _ := strings.Cut(in.args, "apt-get install")
		rest, _, _ = strings.Cut(rest, "&&")
		for _, w := range strings.Fields(rest) {
			if strings.Contains(w, "=") && !strings.HasPrefix(w, "-") {
				words = append(words, w)
			}
		}
	}
	return words
}

// aptPins is every package a Dockerfile stage installs by name=version, with
// its version unquoted.
func aptPins(s *stage) map[string]string {
	pins := map[string]string{}
	for _, w := range aptPinWords(s) {
		name, version, _ := strings.Cut(w, "=")
		pins[name] = unquote(version)
	}
	return pins
}

func unquote(s string) string {
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		return s[1 : len(s)-1]
	}
	return s
}

// debianPin is a pin by upstream version whose Debian revision floats, quoted
// so that the shell does not expand the glob: name='1.51.1-3*'. An exact
// revision (1.51.1-3+b1) stops installing once the archive's next point
// release replaces it.
var debianPin = regexp.MustCompile(`^[a-z0-9][a-z0-9.+-]*='[0-9][^'*]*\*'$`)

// dockerfilesOfTheRepository is every Dockerfile of the images the project
// builds: those of compose.yaml and the local base images'.
func dockerfilesOfTheRepository(t *testing.T) []string {
	t.Helper()
	root := repoRoot(t)
	files := []string{"gateway/Dockerfile", "services/go.Dockerfile", "services/inference/Dockerfile"}
	more, err := filepath.Glob(filepath.Join(root, "deploy/docker/images/*.Dockerfile"))
	if err != nil || len(more) == 0 {
		t.Fatalf("no deploy/docker/images/*.Dockerfile: %v", err)
	}
	for _, m := range more {
		rel, _ := filepath.Rel(root, m)
		files = append(files, rel)
	}
	return files
}

func TestDebianPackagesArePinnedByUpstreamVersion(t *testing.T) {
	root := repoRoot(t)
	for _, rel := range dockerfilesOfTheRepository(t) {
		df, err := parseDockerfile(filepath.Join(root, rel))
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range df.stages {
			for _, w := range aptPinWords(&st) {
				if !debianPin.MatchString(w) {
					t.Errorf("%s: apt-get install %s: pin the upstream version, quoted, the revision a glob: name='1.2.3-1*'", rel, w)
				}
			}
		}
		for _, in := range df.all() {
			if in.cmd == "RUN" && strings.Contains(in.args, "apt-get install") && !strings.Contains(in.args, "--no-install-recommends") {
				t.Errorf("%s:%d: apt-get install without --no-install-recommends", rel, in.line)
			}
		}
	}
	for _, spec := range devArray(t, "APT_PACKAGES") {
		if !debianPin.MatchString(spec) && !strings.HasSuffix(spec, "='15.*'") {
			t.Errorf("./dev: APT_PACKAGES: %s: pin the upstream version, the revision a glob", spec)
		}
	}
}

// TestDockerfiles checks each image's Dockerfile as far as a machine
// can without building it: it parses, every base image is pinned,
// every COPY reads something that exists in the build context (and is not
// left out by .dockerignore) or in an earlier stage, and the image runs as
// an unprivileged user the same program as ./dev up, with a grpc.health.v1
// HEALTHCHECK on the port it listens on.
func TestDockerfiles(t *testing.T) {
	p, mesh := loadProject(t), devMesh(t)
	for _, name := range builtServices {
		t.Run(name, func(t *testing.T) {
			s := p.Services[name]
			df := mustParseDockerfile(t, p, name)
			ctxDir := s.Build.Context
			ignore := readDockerignore(t, ctxDir)

			for i, st := range df.stages {
				base, err := df.baseImage(&st, nil)
				if err != nil {
					t.Error(err)
				}
				fromStage := df.stageIndex(base)
				if (fromStage < 0 || fromStage >= i) && !imagePinned(base) {
					t.Errorf("%s:%d: FROM %s (%s): pin the image to a version", df.path, st.line, st.base, base)
				}
				for _, in := range st.instrs {
					if in.cmd == "ADD" {
						t.Errorf("%s:%d: use COPY, not ADD", df.path, in.line)
					}
					if in.cmd != "COPY" {
						continue
					}
					c, err := parseCopy(in)
					if err != nil {
						t.Errorf("%s: %v", df.path, err)
						continue
					}
					if c.from != "" {
						if idx := df.stageIndex(c.from); idx < 0 || idx >= i {
							t.Errorf("%s:%d: COPY --from=%s names no earlier stage", df.path, in.line, c.from)
						}
						continue
					}
					for _, src := range c.sources {
						rel := path.Clean(strings.TrimPrefix(src, "/"))
						matches, _ := filepath.Glob(filepath.Join(ctxDir, filepath.FromSlash(rel)))
						if len(matches) == 0 {
							t.Errorf("%s:%d: COPY %s: no such file in the build context %s", df.path, in.line, src, ctxDir)
						}
						if ignore.excludes(rel) {
							t.Errorf("%s:%d: COPY %s: .dockerignore leaves it out of the build context", df.path, in.line, src)
						}
					}
				}
			}

			target, err := df.targetIndex(s.Build.Target)
			if err != nil {
				t.Fatal(err)
			}
			last := func(cmd string) *instruction { return df.inherited(target, cmd) }
			user := last("USER")
			if user == nil {
				t.Errorf("%s: the image runs as root; add USER", df.path)
			} else if u, _, _ := strings.Cut(user.args, ":"); u == "0" || u == "root" {
				t.Errorf("%s:%d: USER %s: run as an unprivileged user", df.path, user.line, user.args)
			}

			// A service may run another program of a shared image (the
			// Python tier's image installs every Python service): then
			// compose.yaml gives its entrypoint and exposes its port.
			overridden := len(s.Entrypoint) > 0
			port := listenPort(t, p, name)
			if overridden {
				if !slices.Contains([]string(s.Expose), port) {
					t.Errorf("%s: runs its own entrypoint but does not expose its port %s", name, port)
				}
			} else if ex := last("EXPOSE"); ex == nil || !slices.Contains(strings.Fields(ex.args), port) {
				t.Errorf("%s: EXPOSE lacks the listening port %s", df.path, port)
			}
			hc := last("HEALTHCHECK")
			if hc == nil {
				t.Errorf("%s: no HEALTHCHECK", df.path)
			} else if cmd, err := healthcheckCommand(*hc); err != nil {
				t.Errorf("%s:%d: %v", df.path, hc.line, err)
			} else {
				text := strings.Join(cmd, " ")
				if !strings.Contains(text, "grpc-health-probe") && !strings.Contains(text, "grpc_health.v1") {
					t.Errorf("%s:%d: HEALTHCHECK %q does not use grpc.health.v1", df.path, hc.line, text)
				}
				if strings.Contains(text, "grpc-health-probe") && !strings.Contains(text, "127.0.0.1:"+port) {
					t.Errorf("%s:%d: HEALTHCHECK %q does not probe the listening port %s", df.path, hc.line, text, port)
				}
			}

			// The same program as ./dev up, with the same arguments.
			ep := last("ENTRYPOINT")
			if ep == nil {
				t.Fatalf("%s: no ENTRYPOINT", df.path)
			}
			entry, err := execForm(ep.args)
			if err != nil {
				t.Fatalf("%s:%d: ENTRYPOINT: %v", df.path, ep.line, err)
			}
			if c := last("CMD"); c != nil {
				more, err := execForm(c.args)
				if err != nil {
					t.Fatalf("%s:%d: CMD: %v", df.path, c.line, err)
				}
				entry = append(entry, more...)
			}
			if overridden {
				entry = append(append([]string(nil), s.Entrypoint...), s.Command...)
			}
			for _, proc := range mesh {
				if proc.name != name {
					continue
				}
				got := append([]string{path.Base(entry[0])}, entry[1:]...)
				want := append([]string{path.Base(proc.command[0])}, proc.command[1:]...)
				if !slices.Equal(got, want) {
					t.Errorf("%s: the image runs %q, ./dev up runs %q", df.path, entry, proc.command)
				}
			}
		})
	}
}

// TestImagesUseTheToolchainOfDev checks that the images build with the
// versions ./dev pins: Debian packages, protoc plugins, pip, and one
// grpc-health-probe version for every image.
func TestImagesUseTheToolchainOfDev(t *testing.T) {
	p := loadProject(t)
	dfs := map[string]*dockerfile{}
	for _, name := range builtServices {
		dfs[name] = mustParseDockerfile(t, p, name)
	}

	// The gateway builds with every Debian package of ./dev setup but those
	// only tests use, at the same version, and runs with libraries of those
	// same versions. No image installs a test-only package.
	gw := dfs["gateway"]
	devPins := map[string]string{}
	devVersions := map[string]bool{}
	testOnly := devArray(t, "APT_TEST_ONLY")
	for _, spec := range devArray(t, "APT_PACKAGES") {
		name, version, ok := strings.Cut(spec, "=")
		if !ok {
			t.Fatalf("./dev: APT_PACKAGES: %q is not name=version", spec)
		}
		if slices.Contains(testOnly, name) {
			continue
		}
		devPins[name] = unquote(version)
		devVersions[unquote(version)] = true
	}
	for _, name := range testOnly {
		found := false
		for _, spec := range devArray(t, "APT_PACKAGES") {
			found = found || strings.HasPrefix(spec, name+"=")
		}
		if !found {
			t.Errorf("./dev: APT_TEST_ONLY names %s, which APT_PACKAGES does not pin", name)
		}
		for _, df := range dfs {
			for _, st := range df.stages {
				if _, ok := aptPins(&st)[name]; ok {
					t.Errorf("%s installs %s, which only tests use", df.path, name)
				}
			}
		}
	}
	var build, runtime *stage
	for i := range gw.stages {
		st := &gw.stages[i]
		if st.last("COPY") != nil && strings.Contains(joinArgs(st.instrs), "cmake --build") {
			build = st
		}
	}
	runtime = gw.final()
	if build == nil {
		t.Fatalf("%s: no stage runs cmake --build", gw.path)
	}
	buildPins := aptPins(build)
	for name, version := range devPins {
		if got, ok := buildPins[name]; !ok || got != version {
			t.Errorf("%s: build stage installs %s=%q, ./dev setup %s=%s", gw.path, name, got, name, version)
		}
	}
	runtimePins := aptPins(runtime)
	if len(runtimePins) == 0 {
		t.Errorf("%s: the runtime stage installs no pinned libraries", gw.path)
	}
	for name, version := range runtimePins {
		if !devVersions[version] {
			t.Errorf("%s: runtime stage installs %s=%s, a version no package of ./dev setup has", gw.path, name, version)
		}
	}
	if _, ok := devPins["opentelemetry-cpp-dev"]; ok {
		text := joinArgs(gw.all())
		if !strings.Contains(text, "bookworm-backports") {
			t.Errorf("%s: opentelemetry-cpp-dev needs bookworm-backports enabled", gw.path)
		}
		if regexp.MustCompile(`https?://`).MatchString(text) {
			t.Errorf("%s: names a mirror; enable backports from the mirror the image is configured with", gw.path)
		}
	}

	// The Go services generate Go code with the protoc and plugins of ./dev.
	devGen := devText(t)
	goImages := 0
	for _, name := range builtServices {
		df := dfs[name]
		text := joinArgs(df.all())
		if !strings.Contains(text, "go build") {
			continue
		}
		goImages++
		for _, tool := range devArray(t, "GO_TOOLS") {
			if strings.Contains(tool, "protoc-gen-") && !strings.Contains(text, "go install "+tool) {
				t.Errorf("%s: does not install %s, the version ./dev pins", df.path, tool)
			}
		}
		// protoc, and the well-known types proto/ imports (Debian ships
		// google/protobuf/*.proto in libprotobuf-dev, not with protoc).
		for _, pkg := range []string{"protobuf-compiler", "libprotobuf-dev"} {
			installed := false
			for _, st := range df.stages {
				v, ok := aptPins(&st)[pkg]
				installed = installed || ok
				if ok && v != devPins[pkg] {
					t.Errorf("%s: %s=%s, ./dev setup %s", df.path, pkg, v, devPins[pkg])
				}
			}
			if !installed {
				t.Errorf("%s: generates code with protoc but does not install %s", df.path, pkg)
			}
		}
		for _, flag := range regexp.MustCompile(`--go(?:-grpc)?_opt=\S+`).FindAllString(devGen, -1) {
			flag = strings.ReplaceAll(flag, `"`, "")
			if !strings.Contains(text, flag) {
				t.Errorf("%s: the Go code generation lacks %s, which ./dev build passes", df.path, flag)
			}
		}
	}
	if goImages == 0 {
		t.Error("no image builds a Go service (go build)")
	}

	// inference installs the lock with the pip of ./dev, and generates
	// Python code with the same outputs as ./dev build.
	inf := dfs["inference"]
	infText := joinArgs(inf.all())
	if !strings.Contains(infText, "-r requirements.lock") {
		t.Errorf("%s: does not install requirements.lock", inf.path)
	}
	pip := regexp.MustCompile(`pip==[0-9]\S*`).FindString(devGen)
	if m := regexp.MustCompile(`(?m)^PIP_VERSION=(\S+)$`).FindStringSubmatch(devGen); m != nil {
		pip = "pip==" + m[1]
	}
	if pip == "" || !strings.Contains(infText, pip) {
		t.Errorf("%s: does not install %q, the pip of ./dev setup", inf.path, pip)
	}
	for _, out := range []string{"--python_out", "--pyi_out", "--grpc_python_out"} {
		if strings.Contains(devGen, out) != strings.Contains(infText, out) {
			t.Errorf("%s: %s differs from ./dev build's Python code generation", inf.path, out)
		}
	}

	// One grpc-health-probe version for every image that builds it.
	versions := map[string]string{}
	for name, df := range dfs {
		text := joinArgs(df.all())
		if !strings.Contains(text, "grpc-health-probe@") {
			continue
		}
		m := regexp.MustCompile(`GRPC_HEALTH_PROBE_VERSION=(v[0-9][^\s]*)`).FindStringSubmatch(text)
		if m == nil {
			t.Errorf("%s: grpc-health-probe is not pinned (ARG GRPC_HEALTH_PROBE_VERSION=vX.Y.Z)", df.path)
			continue
		}
		versions[name] = m[1]
	}
	var seen []string
	for _, v := range versions {
		if !slices.Contains(seen, v) {
			seen = append(seen, v)
		}
	}
	if len(seen) > 1 {
		t.Errorf("grpc-health-probe versions differ between images: %v", versions)
	}
}
