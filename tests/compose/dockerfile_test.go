package compose

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	cmd  string // the keyword, upper case
	args string // everything after the keyword
	line int    // the line it starts on
}

// stage is one FROM and the instructions that follow it.
type stage struct {
	base   string // an image reference or the name of an earlier stage
	name   string // the stage's name (AS name), or ""
	line   int
	instrs []instruction
}

// dockerfile is a parsed Dockerfile.
type dockerfile struct {
	path   string
	args   []instruction // ARGs before the first FROM
	stages []stage
}

var dockerfileKeywords = map[string]bool{
	"ADD": true, "ARG": true, "CMD": true, "COPY": true, "ENTRYPOINT": true, "ENV": true,
	"EXPOSE": true, "FROM": true, "HEALTHCHECK": true, "LABEL": true, "ONBUILD": true,
	"RUN": true, "SHELL": true, "STOPSIGNAL": true, "USER": true, "VOLUME": true, "WORKDIR": true,
}

// parseDockerfile reads a Dockerfile the way the Dockerfile frontend splits
// it: comment lines dropped (also inside continuations), lines ending in a
// backslash joined, one instruction per logical line. Heredocs and parser
// directives other than the defaults are not supported and are errors.
func parseDockerfile(p string) (*dockerfile, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	df := &dockerfile{path: p}
	var (
		cur   strings.Builder
		start int
		n     int
	)
	flush := func() error {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return nil
		}
		kw, args, _ := strings.Cut(text, " ")
		kw = strings.ToUpper(kw)
		if !dockerfileKeywords[kw] {
			return fmt.Errorf("%s:%d: unknown instruction %q", p, start, kw)
		}
		if strings.Contains(args, "<<") && (kw == "RUN" || kw == "COPY") {
			return fmt.Errorf("%s:%d: heredocs are not supported by this check", p, start)
		}
		in := instruction{cmd: kw, args: strings.TrimSpace(args), line: start}
		switch {
		case kw == "FROM":
			s, err := parseFrom(in)
			if err != nil {
				return fmt.Errorf("%s:%d: %w", p, start, err)
			}
			df.stages = append(df.stages, s)
		case len(df.stages) == 0 && kw == "ARG":
			df.args = append(df.args, in)
		case len(df.stages) == 0:
			return fmt.Errorf("%s:%d: %s before the first FROM", p, start, kw)
		default:
			last := &df.stages[len(df.stages)-1]
			last.instrs = append(last.instrs, in)
		}
		return nil
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n++
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			if n == 1 && strings.Contains(strings.ToLower(trimmed), "escape=") {
				return nil, fmt.Errorf("%s:1: the escape directive is not supported by this check", p)
			}
			continue
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = n
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur.WriteString(strings.TrimSuffix(trimmed, `\`))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(trimmed)
		if err := flush(); err != nil {
			return nil, err
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if cur.Len() > 0 {
		return nil, fmt.Errorf("%s: ends inside a continued line", p)
	}
	if len(df.stages) == 0 {
		return nil, fmt.Errorf("%s: no FROM", p)
	}
	return df, nil
}

func parseFrom(in instruction) (stage, error) {
	var words []string
	for _, w := range strings.Fields(in.args) {
		if strings.HasPrefix(w, "--platform=") {
			continue
		}
		words = append(words, w)
	}
	switch {
	case len(words) == 1:
		return stage{base: words[0], line: in.line}, nil
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		return stage{base: words[0], name: words[2], line: in.line}, nil
	}
	return stage{}, fmt.Errorf("cannot read FROM %q", in.args)
}

// argDefaults is the default of every ARG before the first FROM, the only
// build arguments a FROM line can use.
func (d *dockerfile) argDefaults() map[string]string {
	out := map[string]string{}
	for _, in := range d.args {
		name, value, _ := strings.Cut(in.args, "=")
		out[strings.TrimSpace(name)] = strings.Trim(strings.TrimSpace(value), `"'`)
	}
	return out
}

var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// baseImage is the image a stage is built FROM when the build is given the
// build arguments args, ARGs not given taking their defaults; an error if
// the FROM names an ARG with no value.
func (d *dockerfile) baseImage(st *stage, args map[string]string) (string, error) {
	defaults := d.argDefaults()
	var missing []string
	base := argRef.ReplaceAllStringFunc(st.base, func(ref string) string {
		m := argRef.FindStringSubmatch(ref)
		name := m[1] + m[2]
		if v, ok := args[name]; ok {
			return v
		}
		if v := defaults[name]; v != "" {
			return v
		}
		missing = append(missing, name)
		return ref
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%s:%d: FROM %s: no value for %v", d.path, st.line, st.base, missing)
	}
	return base, nil
}

// final is the stage the image is made of when no target is given.
func (d *dockerfile) final() *stage { return &d.stages[len(d.stages)-1] }

// targetIndex is the index of the stage an image built with --target target
// is made of: that stage, or the last one when target is "".
func (d *dockerfile) targetIndex(target string) (int, error) {
	if target == "" {
		return len(d.stages) - 1, nil
	}
	if i := d.stageIndex(target); i >= 0 {
		return i, nil
	}
	return -1, fmt.Errorf("%s: no stage named %q (the build target)", d.path, target)
}

// inherited is the instruction cmd that the image of stage i carries: the
// stage's own last one or, failing that, the one of the earlier stage it is
// built FROM, and so on; nil if none. As in Docker, an ENTRYPOINT clears the
// CMD its stage inherits.
func (d *dockerfile) inherited(i int, cmd string) *instruction {
	for i >= 0 {
		st := &d.stages[i]
		if in := st.last(cmd); in != nil {
			return in
		}
		if cmd == "CMD" && st.last("ENTRYPOINT") != nil {
			return nil
		}
		base := d.stageIndex(st.base)
		if base >= i {
			return nil
		}
		i = base
	}
	return nil
}

// stageIndex is the index of the stage named name, or -1.
func (d *dockerfile) stageIndex(name string) int {
	for i, s := range d.stages {
		if s.name != "" && s.name == name {
			return i
		}
	}
	return -1
}

// all is every instruction of every stage, in order.
func (d *dockerfile) all() []instruction {
	var out []instruction
	for _, s := range d.stages {
		out = append(out, s.instrs...)
	}
	return out
}

// last is the last instruction cmd of the stage, or nil.
func (s *stage) last(cmd string) *instruction {
	for i := len(s.instrs) - 1; i >= 0; i-- {
		if s.instrs[i].cmd == cmd {
			return &s.instrs[i]
		}
	}
	return nil
}

// copySpec is what one COPY instruction reads and from where.
type copySpec struct {
	from    string // --from=..., or "" for the build context
	sources []string
	dest    string
}

func parseCopy(in instruction) (copySpec, error) {
	var c copySpec
	args := in.args
	var words []string
	if strings.HasPrefix(args, "[") {
		// The JSON form, after any flags.
		if err := json.Unmarshal([]byte(args), &words); err != nil {
			return c, fmt.Errorf("line %d: COPY: %w", in.line, err)
		}
	} else {
		for _, w := range strings.Fields(args) {
			if strings.HasPrefix(w, "--") && len(words) == 0 {
				if v, ok := strings.CutPrefix(w, "--from="); ok {
					c.from = v
				}
				continue
			}
			words = append(words, w)
		}
	}
	if len(words) < 2 {
		return c, fmt.Errorf("line %d: COPY needs a source and a destination", in.line)
	}
	c.sources, c.dest = words[:len(words)-1], words[len(words)-1]
	return c, nil
}

// execForm reads a JSON (exec form) argument list, as ENTRYPOINT, CMD and
// HEALTHCHECK CMD take; the shell form is an error here.
func execForm(args string) ([]string, error) {
	var out []string
	if err := json.Unmarshal([]byte(args), &out); err != nil {
		return nil, fmt.Errorf("want the exec (JSON) form, got %q: %w", args, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return out, nil
}

// healthcheckCommand is the command of the stage's HEALTHCHECK (its options
// skipped).
func healthcheckCommand(in instruction) ([]string, error) {
	rest := in.args
	for strings.HasPrefix(rest, "--") {
		_, after, ok := strings.Cut(rest, " ")
		if !ok {
			return nil, fmt.Errorf("HEALTHCHECK without a command")
		}
		rest = strings.TrimSpace(after)
	}
	cmd, after, ok := strings.Cut(rest, " ")
	if !ok || !strings.EqualFold(cmd, "CMD") {
		return nil, fmt.Errorf("HEALTHCHECK %q: want CMD [...]", in.args)
	}
	return execForm(strings.TrimSpace(after))
}

var (
	digestRef = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)
	// A pinned tag names a version: it has a digit and is not a moving alias.
	pinnedTag = regexp.MustCompile(`^[A-Za-z0-9_.-]*[0-9][A-Za-z0-9_.-]*$`)
)

// imagePinned says whether an image reference names one image version: a
// digest, or a tag with a version number in it.
func imagePinned(ref string) bool {
	if digestRef.MatchString(ref) {
		return true
	}
	if strings.Contains(ref, "$") {
		return false
	}
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon < slash+1 {
		return false // no tag: latest
	}
	tag := ref[colon+1:]
	return tag != "latest" && pinnedTag.MatchString(tag)
}

// dockerignore is the exclude patterns of a .dockerignore file.
type dockerignore struct{ patterns []string }

func readDockerignore(t *testing.T, dir string) dockerignore {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, ".dockerignore"))
	if err != nil {
		t.Fatalf("the build context %s needs a .dockerignore: %v", dir, err)
	}
	var di dockerignore
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%q) are not supported by this check", line)
		}
		di.patterns = append(di.patterns, strings.Trim(path.Clean(line), "/"))
	}
	return di
}

// excludes says whether the context path rel (slash-separated) or a folder
// above it is left out of the build context.
func (d dockerignore) excludes(rel string) bool {
	parts := strings.Split(path.Clean(rel), "/")
	for i := 1; i <= len(parts); i++ {
		prefix := strings.Join(parts[:i], "/")
		for _, p := range d.patterns {
			if ok, _ := path.Match(p, prefix); ok {
				return true
			}
			if tail, found := strings.CutPrefix(p, "**/"); found {
				for j := 0; j < i; j++ {
					if ok, _ := path.Match(tail, strings.Join(parts[j:i], "/")); ok {
						return true
					}
				}
			}
		}
	}
	return false
}

func TestDockerignoreKeepsLocalOutputsOut(t *testing.T) {
	di := readDockerignore(t, repoRoot(t))
	for _, p := range []string{
		"build/cmake/gateway/polymesh-gateway", "gen/go/inference/grpc_service.pb.go",
		".venv/bin/python", ".run/gateway.yaml", ".git/HEAD",
		"services/inference/src/polymesh_inference/__pycache__/x.pyc",
	} {
		if !di.excludes(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	for _, p := range []string{"proto/inference/grpc_service.proto", "gateway/CMakeLists.txt", "go.mod", "requirements.lock"} {
		if di.excludes(p) {
			t.Errorf(".dockerignore keeps %s, which the images build from, out of the build context", p)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "Dockerfile")
	const text = `# comment
ARG V=1
FROM golang:1.26.8-bookworm AS build
RUN a \
# a comment inside a continuation
    && b
COPY --from=build --chown=1:1 x y /dst/
FROM scratch
HEALTHCHECK --interval=5s \
  CMD ["probe", "-addr=127.0.0.1:1"]
ENTRYPOINT ["/app"]
`
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(df.stages), 2; got != want {
		t.Fatalf("stages: got %d, want %d", got, want)
	}
	if got, want := df.stages[0].instrs[0].args, "a      && b"; strings.Join(strings.Fields(got), " ") != strings.Join(strings.Fields(want), " ") {
		t.Errorf("RUN: got %q, want %q", got, want)
	}
	c, err := parseCopy(df.stages[0].instrs[1])
	if err != nil {
		t.Fatal(err)
	}
	if c.from != "build" || strings.Join(c.sources, ",") != "x,y" || c.dest != "/dst/" {
		t.Errorf("COPY: got %+v", c)
	}
	hc, err := healthcheckCommand(*df.final().last("HEALTHCHECK"))
	if err != nil || strings.Join(hc, " ") != "probe -addr=127.0.0.1:1" {
		t.Errorf("HEALTHCHECK: got %q, %v", hc, err)
	}
	for _, bad := range []string{"FROM a\nFORM b\n", "RUN x\nFROM a\n", "FROM a\nRUN x \\\n"} {
		if err := os.WriteFile(p, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := parseDockerfile(p); err == nil {
			t.Errorf("parseDockerfile(%q): got no error", bad)
		}
	}
	df, err = parseDockerfile(writeDockerfile(t, "ARG BASE=debian:12.11-slim\nARG NONE\nFROM ${BASE} AS a\nFROM $NONE\nFROM a\n"))
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"debian:12.11-slim", "", "a"} {
		got, err := df.baseImage(&df.stages[i], nil)
		if got != want && !(want == "" && err != nil) {
			t.Errorf("stage %d: base image %q, %v; want %q", i, got, err, want)
		}
	}
	if got, _ := df.baseImage(&df.stages[0], map[string]string{"BASE": "local/debian"}); got != "local/debian" {
		t.Errorf("with BASE=local/debian: base image %q", got)
	}
	for ref, want := range map[string]bool{
		"debian:12.11-slim": true, "golang:1.26.8-bookworm": true, "debian": false,
		"debian:latest": false, "debian:bookworm": false, "localhost:5000/x": false,
		"gcr.io/distroless/static-debian12:nonroot@sha256:" + strings.Repeat("ab", 32): true,
	} {
		if got := imagePinned(ref); got != want {
			t.Errorf("imagePinned(%q): got %v, want %v", ref, got, want)
		}
	}
}

func writeDockerfile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "Dockerfile")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBuildTargetsInheritFromTheirBaseStage checks what an image built with
// --target carries: its stage's instructions, then those of the stages it
// is built FROM, an ENTRYPOINT clearing the CMD it inherits.
func TestBuildTargetsInheritFromTheirBaseStage(t *testing.T) {
	p := filepath.Join(t.TempDir(), "Dockerfile")
	const text = `FROM debian:12.11-slim AS runtime
USER 10:10
CMD ["--base"]
FROM runtime AS plain
FROM runtime AS app
ENTRYPOINT ["/app"]
FROM runtime AS other
USER 20:20
`
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	df, err := parseDockerfile(p)
	if err != nil {
		t.Fatal(err)
	}
	args := func(target, cmd string) string {
		t.Helper()
		i, err := df.targetIndex(target)
		if err != nil {
			t.Fatal(err)
		}
		if in := df.inherited(i, cmd); in != nil {
			return in.args
		}
		return "<none>"
	}
	for _, c := range []struct{ target, cmd, want string }{
		{"app", "USER", "10:10"},
		{"app", "ENTRYPOINT", `["/app"]`},
		{"app", "CMD", "<none>"},
		{"plain", "CMD", `["--base"]`},
		{"other", "USER", "20:20"},
		{"", "USER", "20:20"},
		{"runtime", "ENTRYPOINT", "<none>"},
	} {
		if got := args(c.target, c.cmd); got != c.want {
			t.Errorf("--target %q, %s: got %s, want %s", c.target, c.cmd, got, c.want)
		}
	}
	if _, err := df.targetIndex("missing"); err == nil {
		t.Error(`targetIndex("missing"): got no error`)
	}
}
