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

func meshGatewayConfigContracts(t *testing.T) []string {
	t.Helper()
	data, err := yaml.Marshal(loadMesh(t).Gateway)
	if err != nil {
		t.Fatal(err)
	}
	var cfg gatewayContracts
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.Contracts.DescriptorSets
}

func readGatewayContracts(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cfg gatewayContracts
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return cfg.Contracts.DescriptorSets
}

// The gateway checks its routes against the descriptor set of proto/ and
// answers server reflection from it, in both meshes: deploy/mesh.yaml names
// the one the build writes, and the image carries the one its build stage
// writes, where the compose configuration names it.
func TestGatewayContractsAreTheBuildsDescriptorSet(t *testing.T) {
	if got, want := meshGatewayConfigContracts(t), []string{"{build}/cmake/descriptors/polymesh.binpb"}; !slices.Equal(got, want) {
		t.Errorf("deploy/mesh.yaml: gateway.contracts.descriptor_sets = %q, want %q", got, want)
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
