package compose

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v3"
)

// plannedTargets are scrape targets whose endpoint is not built yet, and why
// they are scraped anyway (they show as down until then).
var plannedTargets = map[string]string{}

// mountedConfig is the file compose mounts at target in service, and the
// name of the config it comes from.
func mountedConfig(t *testing.T, p *types.Project, service, target string) (string, string) {
	t.Helper()
	s := p.Services[service]
	for _, c := range s.Configs {
		if c.Target != target {
			continue
		}
		cfg, ok := p.Configs[c.Source]
		if !ok || cfg.File == "" {
			t.Fatalf("%s: config %q is not a file", service, c.Source)
		}
		return cfg.File, c.Source
	}
	t.Fatalf("%s: nothing mounted at %s", service, target)
	return "", ""
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// flagValue is the value of --name=value in args.
func flagValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

type prometheusConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestComposeConfigFilesExist(t *testing.T) {
	p := loadProject(t)
	for name, cfg := range p.Configs {
		if generated(t, cfg.File) {
			continue // made before the stack starts: TestComposeMountsTheStacksPki
		}
		if st, err := os.Stat(cfg.File); err != nil || st.IsDir() {
			t.Errorf("config %s: %s is not a file: %v", name, cfg.File, err)
		}
	}
}

// TestPrometheusScrapesEveryMetricsEndpoint checks the scrape targets
// against the services: each job names a compose service on a network
// Prometheus is on, at the port it serves metrics on (POLYMESH_METRICS_ADDR;
// the gateway's admin listener), exposed, or at a planned one; and every
// service that serves metrics is scraped.
func TestPrometheusScrapesEveryMetricsEndpoint(t *testing.T) {
	p := loadProject(t)
	prom := p.Services["prometheus"]
	file, _ := mountedConfig(t, p, "prometheus", flagValue(prom.Command, "config.file"))
	if got, want := file, filepath.Join(repoRoot(t), "deploy", "prometheus", "prometheus.yml"); got != want {
		t.Errorf("prometheus: config %s, want %s", got, want)
	}
	var cfg prometheusConfig
	readYAML(t, file, &cfg)

	// What each service serves metrics on, from its environment.
	metricsPort := map[string]string{}
	for _, name := range p.ServiceNames() {
		if addr, ok := composeEnv(t, p.Services[name])["POLYMESH_METRICS_ADDR"]; ok {
			_, port := splitHostPort(t, name+" POLYMESH_METRICS_ADDR", addr)
			metricsPort[name] = port
		}
	}
	// The gateway serves them on its admin listener, once its configuration
	// has one.
	if gw := readGatewayConfig(t, gatewayConfigFile(t, p)); gw.Admin.Address.Port != "" && !gw.Admin.Disabled {
		metricsPort["gateway"] = gw.Admin.Address.Port
	}
	if len(metricsPort) < 2 {
		t.Fatalf("services serving metrics: %v; want aiapi and inference at least", metricsPort)
	}

	scraped := map[string]bool{}
	for _, job := range cfg.ScrapeConfigs {
		if job.MetricsPath != "" && job.MetricsPath != "/metrics" {
			t.Errorf("job %s: metrics_path %s; the services serve /metrics", job.JobName, job.MetricsPath)
		}
		var targets []string
		for _, sc := range job.StaticConfigs {
			targets = append(targets, sc.Targets...)
		}
		if len(targets) == 0 {
			t.Errorf("job %s: no targets", job.JobName)
		}
		for _, target := range targets {
			host, port := splitHostPort(t, "job "+job.JobName, target)
			s, ok := p.Services[host]
			if !ok {
				t.Errorf("job %s: target %s names no compose service", job.JobName, target)
				continue
			}
			// The dashboards select by job: it is the service's name.
			if job.JobName != host {
				t.Errorf("job %s: target %s; name the job after its service", job.JobName, target)
			}
			if !slices.ContainsFunc(sortedKeys(prom.Networks), func(n string) bool { _, on := s.Networks[n]; return on }) {
				t.Errorf("job %s: %s shares no network with prometheus", job.JobName, host)
			}
			if why, planned := plannedTargets[target]; planned {
				if _, served := metricsPort[host]; served {
					t.Errorf("job %s: %s serves metrics now; drop %s from plannedTargets", job.JobName, host, target)
				}
				t.Logf("job %s: %s is scraped before it exists: %s", job.JobName, target, why)
				continue
			}
			if port != metricsPort[host] {
				t.Errorf("job %s: target %s, but %s serves metrics on %q", job.JobName, target, host, metricsPort[host])
				continue
			}
			if !slices.Contains([]string(s.Expose), port) {
				t.Errorf("job %s: %s does not expose %s", job.JobName, host, port)
			}
			scraped[host] = true
		}
	}
	for name, port := range metricsPort {
		if !scraped[name] {
			t.Errorf("%s serves metrics on %s, but prometheus does not scrape it (deploy/prometheus/prometheus.yml)", name, port)
		}
	}
	for target := range plannedTargets {
		host, _ := splitHostPort(t, "planned target", target)
		if _, ok := p.Services[host]; !ok {
			t.Errorf("planned target %s names no compose service", target)
		}
	}
}

// TestGrafanaIsProvisioned checks that Grafana's data sources point at the
// compose services that serve them, and that the dashboards it loads are
// the ones in deploy/grafana/dashboards.
func TestGrafanaIsProvisioned(t *testing.T) {
	p := loadProject(t)
	root := repoRoot(t)
	g := p.Services["grafana"]

	dsFile, _ := mountedConfig(t, p, "grafana", "/etc/grafana/provisioning/datasources/polymesh.yaml")
	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, dsFile, &ds)
	// The compose service and port behind each type of data source.
	want := map[string][2]string{
		"prometheus": {"prometheus", "9090"},
		"jaeger":     {collector, "16686"}, // the query API, which the UI is published from
	}
	kinds := map[string]bool{}
	for _, d := range ds.Datasources {
		kinds[d.Type] = true
		w, ok := want[d.Type]
		if !ok {
			t.Errorf("data source %s: type %s, this test knows %v", d.Name, d.Type, sortedKeys(want))
			continue
		}
		if host, port := urlHostPort(t, d.URL); host != w[0] || port != w[1] {
			t.Errorf("data source %s: %s, want http://%s:%s", d.Name, d.URL, w[0], w[1])
		}
		s := p.Services[w[0]]
		var served []string
		served = append(served, s.Expose...)
		for _, port := range s.Ports {
			served = append(served, strconv.FormatUint(uint64(port.Target), 10))
		}
		if !slices.Contains(served, w[1]) {
			t.Errorf("data source %s: %s neither exposes nor publishes %s", d.Name, w[0], w[1])
		}
		if _, dep := g.DependsOn[w[0]]; !dep {
			t.Errorf("grafana: does not depend on %s, its data source %s", w[0], d.Name)
		}
		if d.UID == "" {
			t.Errorf("data source %s: no uid; the dashboards refer to it by uid", d.Name)
		}
	}
	if !kinds["prometheus"] || !kinds["jaeger"] {
		t.Errorf("data sources %v: want prometheus and jaeger", sortedKeys(kinds))
	}

	provFile, _ := mountedConfig(t, p, "grafana", "/etc/grafana/provisioning/dashboards/polymesh.yaml")
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, provFile, &prov)
	if len(prov.Providers) != 1 {
		t.Fatalf("%s: %d providers, want 1", provFile, len(prov.Providers))
	}
	dir := prov.Providers[0].Options.Path
	local, err := filepath.Glob(filepath.Join(root, "deploy", "grafana", "dashboards", "*.json"))
	if err != nil || len(local) == 0 {
		t.Fatalf("no dashboards in deploy/grafana/dashboards: %v", err)
	}
	for _, path := range local {
		target := dir + "/" + filepath.Base(path)
		if got, _ := mountedConfig(t, p, "grafana", target); got != path {
			t.Errorf("grafana: %s holds %s, want %s", target, got, path)
		}
	}
	home := composeEnv(t, g)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
	if home != "" && !slices.ContainsFunc(g.Configs, func(c types.ServiceConfigObjConfig) bool { return c.Target == home }) {
		t.Errorf("grafana: the home dashboard %s is not mounted", home)
	}
}

func urlHostPort(t *testing.T, raw string) (string, string) {
	t.Helper()
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		t.Fatalf("%q: want an http:// URL", raw)
	}
	rest, _, _ = strings.Cut(rest, "/")
	host, port, err := net.SplitHostPort(rest)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	return host, port
}

// promtool is the binary ./dev setup builds: on PATH under ./dev, else in
// the cache folder of the version ./dev pins.
func promtool(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("promtool"); err == nil {
		return path
	}
	version := devVariable(t, "PROMETHEUS_VERSION")
	cache := os.Getenv("POLYMESH_CACHE")
	if cache == "" {
		base := os.Getenv("XDG_CACHE_HOME")
		if base == "" {
			home, _ := os.UserHomeDir()
			base = filepath.Join(home, ".cache")
		}
		cache = filepath.Join(base, "polymesh")
	}
	path := filepath.Join(cache, "promtool-"+version, "bin", "promtool")
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no promtool (%v): run ./dev setup", err)
	}
	return path
}

func devVariable(t *testing.T, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `=(\S+)`).FindStringSubmatch(devText(t))
	if m == nil {
		t.Fatalf("./dev: no %s=", name)
	}
	return m[1]
}

// TestPrometheusImageAndPromtoolAreOneRelease checks that the promtool of
// ./dev setup is the release of the image compose.yaml runs: Prometheus's
// Go module numbers release v3.M.P as v0.3MM.P.
func TestPrometheusImageAndPromtoolAreOneRelease(t *testing.T) {
	p := loadProject(t)
	image := p.Services["prometheus"].Image
	_, tag, _ := strings.Cut(image, ":")
	m := regexp.MustCompile(`^v0\.3(\d\d)\.(\d+)$`).FindStringSubmatch(devVariable(t, "PROMETHEUS_VERSION"))
	if m == nil {
		t.Fatalf("./dev: PROMETHEUS_VERSION is not v0.3MM.P")
	}
	minor, _ := strconv.Atoi(m[1])
	release := "v3." + strconv.Itoa(minor) + "." + m[2]
	if tag != release {
		t.Errorf("compose.yaml runs %s, ./dev builds promtool of %s", image, release)
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool(t), "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("promtool --version: %v\n%s", err, out)
	}
	if want := "version " + strings.TrimPrefix(release, "v"); !strings.Contains(string(out), want) {
		t.Errorf("promtool --version says %q, want %s", out, want)
	}
}

func TestPromtoolChecksThePrometheusConfig(t *testing.T) {
	p := loadProject(t)
	file, _ := mountedConfig(t, p, "prometheus", flagValue(p.Services["prometheus"].Command, "config.file"))
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool(t), "check", "config", file).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config %s: %v\n%s", file, err, out)
	}
}
