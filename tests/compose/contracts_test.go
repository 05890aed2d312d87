package compose

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// gatewayContracts is the contracts section of a gateway configuration.
type gatewayContracts struct {
	Contracts struct {
		DescriptorSets []string `yaml:"descriptor_sets"`
	} `yaml:"contracts"`
}

func readGatewayContracts(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// mesh.yaml.in's unquoted @PLACEHOLDERS@ (ports) are not YAML scalars.
	text := strings.NewReplacer("@", "").Replace(string(data))
	var cfg gatewayContracts
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Contracts.DescriptorSets
}

// The gateway checks its routes against the descriptor set of proto/ and
// answers server reflection from it, in both meshes: ./dev fills in the one
// the build writes, and the image carries the one its build stage writes,
// where the compose configuration names it.
func TestGatewayContractsAreTheBuildsDescriptorSet(t *testing.T) {
	root := repoRoot(t)
	if got := readGatewayContracts(t, filepath.Join(root, "gateway", "config", "mesh.yaml.in")); !slices.Equal(got, []string{"DESCRIPTORS"}) {
		t.Errorf("mesh.yaml.in: contracts.descriptor_sets = %q, want [\"@DESCRIPTORS@\"]", got)
	}
	dev, err := os.ReadFile(filepath.Join(root, "dev"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dev), `s|@DESCRIPTORS@|$BUILD/cmake/descriptors/polymesh.binpb|g`) {
		t.Error("dev: write_configs does not fill @DESCRIPTORS@ with build/cmake/descriptors/polymesh.binpb")
	}

	p := loadProject(t)
	sets := readGatewayContracts(t, gatewayConfigFile(t, p))
	if len(sets) != 1 || !filepath.IsAbs(sets[0]) {
		t.Fatalf("gateway/config/compose.yaml: contracts.descriptor_sets = %q, want one absolute path in the image", sets)
	}
	df := mustParseDockerfile(t, p, "gateway")
	built := false
	for _, in := range df.stages[df.stageIndex("build")].instrs {
		if in.cmd == "RUN" && strings.Contains(in.args, "polymesh_descriptors") {
			built = true
		}
	}
	if !built {
		t.Error("gateway/Dockerfile: the build stage does not build the polymesh_descriptors target")
	}
	copied := false
	for _, in := range df.final().instrs {
		if in.cmd != "COPY" {
			continue
		}
		c, err := parseCopy(in)
		if err != nil {
			t.Fatal(err)
		}
		if c.from == "build" && c.dest == sets[0] && slices.Equal(c.sources, []string{"/build/descriptors/polymesh.binpb"}) {
			copied = true
		}
	}
	if !copied {
		t.Errorf("gateway/Dockerfile: no COPY --from=build /build/descriptors/polymesh.binpb %s", sets[0])
	}
}
