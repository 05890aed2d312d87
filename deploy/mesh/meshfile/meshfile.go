// Package meshfile reads deploy/mesh.yaml, the one description of the mesh,
// for Go: its processes in start order (command, environment, ports, health
// check) and the gateway's configuration, with the placeholders filled in.
// The Python package polymesh_mesh (deploy/mesh/src) reads the same file
// for ./dev up; deploy/mesh.yaml documents the format.
//
//	f, err := meshfile.Load(meshfile.Path(root))
//	values := f.Defaults()                      // POLYMESH_HOST, POLYMESH_*_PORT
//	p, _ := f.Process("aiapi")
//	argv, env, err := p.Resolve(values, meshfile.CheckoutFolders(root))
package meshfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"go.yaml.in/yaml/v3"
)

// File is deploy/mesh.yaml as written, with its placeholders.
type File struct {
	Host      Host           `yaml:"host"`
	Processes []Process      `yaml:"processes"`
	Pki       Pki            `yaml:"pki"`
	Gateway   map[string]any `yaml:"gateway"`
}

// Pki is the mesh's local certificate authority: the folder its files go to
// and the certificates it signs (polymesh_mesh.pki makes them). Each
// certificate is Folder/<name>.crt with its key Folder/<name>.key; the CA's
// are ca.crt and ca.key.
type Pki struct {
	Folder       string        `yaml:"folder"`
	Certificates []Certificate `yaml:"certificates"`
}

// Certificate is one certificate of the Pki and the names it holds.
type Certificate struct {
	Name  string   `yaml:"name"`
	Usage string   `yaml:"usage"` // "server" or "client"
	DNS   []string `yaml:"dns"`
	IPs   []string `yaml:"ips"`
	URIs  []string `yaml:"uris"`
}

// Certificate is the certificate name of the Pki, if it has one.
func (p Pki) Certificate(name string) (Certificate, bool) {
	for _, c := range p.Certificates {
		if c.Name == name {
			return c, true
		}
	}
	return Certificate{}, false
}

// Files are the file names (without folder) that the Pki makes: ca.crt,
// ca.key, and each certificate's .crt and .key.
func (p Pki) Files() []string {
	files := []string{"ca.crt", "ca.key"}
	for _, c := range p.Certificates {
		files = append(files, c.Name+".crt", c.Name+".key")
	}
	return files
}

// Host is the variable that holds the address every process listens on.
type Host struct {
	Variable string `yaml:"variable"`
	Default  string `yaml:"default"`
}

// Process is one process of the mesh.
type Process struct {
	Name        string            `yaml:"name"`
	About       string            `yaml:"about"`
	Command     []string          `yaml:"command"`
	Source      string            `yaml:"source"` // a Go main package, for Go processes
	Environment map[string]string `yaml:"environment"`
	Ports       []Port            `yaml:"ports"`
	Health      Health            `yaml:"health"`
}

// Port is a port a process listens on, moved by its variable.
type Port struct {
	Variable string `yaml:"variable"`
	Default  int    `yaml:"default"`
	About    string `yaml:"about"`
	URL      string `yaml:"url"`
}

// Health says how to know a process is ready: grpc.health.v1 on the port
// of the variable GRPC, or an HTTP GET of Path on the port of HTTP.
type Health struct {
	GRPC string `yaml:"grpc"`
	HTTP string `yaml:"http"`
	Path string `yaml:"path"`
}

// Variable is the port variable the health check uses.
func (h Health) Variable() string {
	if h.GRPC != "" {
		return h.GRPC
	}
	return h.HTTP
}

// Folders are what {root}, {build}, {venv}, {tools} and {run} stand for.
type Folders struct {
	Root, Build, Venv, Tools, Run string
}

// CheckoutFolders are the folders of ./dev in the checkout root; tools is
// left as the placeholder {tools}.
func CheckoutFolders(root string) Folders {
	return Folders{
		Root:  root,
		Build: filepath.Join(root, "build"),
		Venv:  filepath.Join(root, ".venv"),
		Tools: "{tools}",
		Run:   filepath.Join(root, ".run"),
	}
}

// Path is deploy/mesh.yaml of the checkout root.
func Path(root string) string { return filepath.Join(root, "deploy", "mesh.yaml") }

// Load reads a mesh file.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f File
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(f.Processes) == 0 {
		return nil, fmt.Errorf("%s: no processes", path)
	}
	if f.Host.Variable == "" {
		f.Host = Host{Variable: "POLYMESH_HOST", Default: "127.0.0.1"}
	}
	return &f, nil
}

// Process is the process name, if the file has one.
func (f *File) Process(name string) (*Process, bool) {
	for i := range f.Processes {
		if f.Processes[i].Name == name {
			return &f.Processes[i], true
		}
	}
	return nil, false
}

// Owner is the process that listens on the port of variable.
func (f *File) Owner(variable string) (*Process, *Port, bool) {
	for i := range f.Processes {
		for j := range f.Processes[i].Ports {
			if f.Processes[i].Ports[j].Variable == variable {
				return &f.Processes[i], &f.Processes[i].Ports[j], true
			}
		}
	}
	return nil, nil, false
}

// Defaults is every variable (the host and each port) with its default.
func (f *File) Defaults() map[string]string {
	values := map[string]string{f.Host.Variable: f.Host.Default}
	for _, p := range f.Processes {
		for _, port := range p.Ports {
			values[port.Variable] = strconv.Itoa(port.Default)
		}
	}
	return values
}

var (
	variableRE = regexp.MustCompile(`\$\{([A-Z][A-Z0-9_]*)\}`)
	folderRE   = regexp.MustCompile(`\{([a-z]+)\}`)
)

// Expand fills the ${VARIABLE} and {folder} placeholders of s; one it does
// not know is an error.
func Expand(s string, values map[string]string, folders Folders) (string, error) {
	var errs []error
	s = variableRE.ReplaceAllStringFunc(s, func(m string) string {
		name := variableRE.FindStringSubmatch(m)[1]
		v, ok := values[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%q: no variable %s", s, name))
		}
		return v
	})
	s = folderRE.ReplaceAllStringFunc(s, func(m string) string {
		switch folderRE.FindStringSubmatch(m)[1] {
		case "root":
			return folders.Root
		case "build":
			return folders.Build
		case "venv":
			return folders.Venv
		case "tools":
			return folders.Tools
		case "run":
			return folders.Run
		}
		errs = append(errs, fmt.Errorf("%q: no folder %s", s, m))
		return m
	})
	return s, errors.Join(errs...)
}

// Resolve is the process's argv and environment with every placeholder
// filled in.
func (p *Process) Resolve(values map[string]string, folders Folders) ([]string, map[string]string, error) {
	var errs []error
	argv := make([]string, len(p.Command))
	for i, a := range p.Command {
		var err error
		argv[i], err = Expand(a, values, folders)
		errs = append(errs, err)
	}
	env := map[string]string{}
	for k, v := range p.Environment {
		var err error
		env[k], err = Expand(v, values, folders)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, nil, fmt.Errorf("process %s: %w", p.Name, err)
	}
	return argv, env, nil
}

// PortVariable is the variable a whole-string placeholder names
// ("${POLYMESH_AIAPI_PORT}" -> POLYMESH_AIAPI_PORT), or "".
func PortVariable(s string) string {
	if m := variableRE.FindStringSubmatch(s); m != nil && m[0] == s {
		return m[1]
	}
	return ""
}

// ExpandTree is a YAML tree (the gateway section) with every string's
// placeholders filled in; a string that is one port variable becomes its
// number, as the gateway's configuration wants.
func ExpandTree(node any, values map[string]string, folders Folders) (any, error) {
	switch n := node.(type) {
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, v := range n {
			e, err := ExpandTree(v, values, folders)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, v := range n {
			e, err := ExpandTree(v, values, folders)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case string:
		s, err := Expand(n, values, folders)
		if err != nil {
			return nil, err
		}
		if PortVariable(n) != "" {
			if port, err := strconv.Atoi(s); err == nil {
				return port, nil
			}
		}
		return s, nil
	}
	return node, nil
}
