package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// Provider SDKs on npm (e.g. @pulumi/random) mark themselves in package.json:
//
//	"pulumi": {"resource": true, "name": "random", "version": "4.21.2", "server": "https://..."}
//
// The CLI asks us for these up front (GetRequiredPackages) so it can make sure the matching resource
// plugins are installed before the program runs and pin the default providers' versions.
type packageManifest struct {
	Name    string          `json:"name"`
	Version string          `json:"version"`
	Pulumi  *pulumiManifest `json:"pulumi"`
}

type pulumiManifest struct {
	Resource         bool                    `json:"resource"`
	Name             string                  `json:"name"`
	Version          string                  `json:"version"`
	Server           string                  `json:"server"`
	Parameterization *parameterizationFields `json:"parameterization"`
}

type parameterizationFields struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Value   string `json:"value"` // base64
}

// packageFromManifest turns one package.json into a package dependency. ok is false for ordinary npm
// packages (no "pulumi.resource": true).
func packageFromManifest(data []byte) (dep *pulumirpc.PackageDependency, ok bool, err error) {
	var m packageManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, false, err
	}
	if m.Pulumi == nil || !m.Pulumi.Resource {
		return nil, false, nil
	}

	name := m.Pulumi.Name
	if name == "" {
		// Historic convention: the plugin name is the package name without the @pulumi/ scope.
		if !strings.HasPrefix(m.Name, "@pulumi/") {
			return nil, false, fmt.Errorf("package %q is marked as a Pulumi resource package but has no "+
				"pulumi.name and is not in the @pulumi scope", m.Name)
		}
		name = strings.TrimPrefix(m.Name, "@pulumi/")
	}

	ver := m.Pulumi.Version
	if ver == "" {
		ver = m.Version
	}
	if ver == "" {
		return nil, false, fmt.Errorf("package %q has no version", m.Name)
	}
	if !strings.HasPrefix(ver, "v") {
		ver = "v" + ver // plugin versions are conventionally v-prefixed; the CLI parses them tolerantly
	}

	dep = &pulumirpc.PackageDependency{
		Name:    name,
		Kind:    "resource",
		Version: ver,
		Server:  m.Pulumi.Server,
	}
	if p := m.Pulumi.Parameterization; p != nil {
		value, err := base64.StdEncoding.DecodeString(p.Value)
		if err != nil {
			return nil, false, fmt.Errorf("package %q: invalid base64 in pulumi.parameterization.value: %w",
				m.Name, err)
		}
		dep.Parameterization = &pulumirpc.PackageParameterization{
			Name:    p.Name,
			Version: p.Version,
			Value:   value,
		}
	}
	return dep, true, nil
}

// nodeModulesRoots lists the node_modules directories whose packages the program can load: the one next
// to the nearest package.json and, for npm/yarn/pnpm workspaces, the one at the workspace root where
// dependencies get hoisted.
func nodeModulesRoots(programDir string) []string {
	var roots []string
	root := packageRoot(programDir)
	roots = append(roots, filepath.Join(root, "node_modules"))
	for dir := filepath.Dir(root); dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if isWorkspaceRoot(dir) {
			roots = append(roots, filepath.Join(dir, "node_modules"))
			break
		}
	}
	return roots
}

func isWorkspaceRoot(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "pnpm-workspace.yaml")); err == nil {
		return true
	}
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return false
	}
	var m struct {
		Workspaces json.RawMessage `json:"workspaces"`
	}
	return json.Unmarshal(data, &m) == nil && len(m.Workspaces) > 0
}

// scanNodeModules walks node_modules trees (following symlinks, as npm link and pnpm use them) and
// collects every Pulumi resource package. Malformed package.json files are reported but don't stop the
// scan: a broken unrelated package must not block a deployment.
func scanNodeModules(roots []string) ([]*pulumirpc.PackageDependency, []error) {
	var (
		deps    []*pulumirpc.PackageDependency
		errs    []error
		visited = map[string]bool{}
	)

	var walk func(dir string)
	walk = func(dir string) {
		real, err := filepath.EvalSymlinks(dir)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			return
		}
		if visited[real] {
			return
		}
		visited[real] = true

		entries, err := os.ReadDir(real)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, e := range entries {
			name := e.Name()
			path := filepath.Join(real, name)
			isDir := e.IsDir()
			if e.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(path)
				if err != nil {
					continue // dangling link
				}
				isDir = st.IsDir()
			}
			switch {
			case isDir:
				if name == ".bin" || name == ".cache" {
					continue // executables and tool caches, never packages
				}
				walk(path)
			case name == "package.json":
				data, err := os.ReadFile(path)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				dep, ok, err := packageFromManifest(data)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", path, err))
					continue
				}
				if ok {
					deps = append(deps, dep)
				}
			}
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return dedupePackages(deps), errs
}

// dedupePackages drops repeated (name, version, server, parameterization) entries, which appear when
// several copies of the same SDK are installed, and sorts for stable output.
func dedupePackages(deps []*pulumirpc.PackageDependency) []*pulumirpc.PackageDependency {
	seen := map[string]bool{}
	out := make([]*pulumirpc.PackageDependency, 0, len(deps))
	for _, d := range deps {
		key := d.Name + "\x00" + d.Version + "\x00" + d.Server
		if p := d.Parameterization; p != nil {
			key += "\x00" + p.Name + "\x00" + p.Version
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out
}

func (h *nodeHost) requiredPackages(info *pulumirpc.ProgramInfo, legacyDir string) []*pulumirpc.PackageDependency {
	dir := programDirectory(info, legacyDir)
	deps, errs := scanNodeModules(nodeModulesRoots(dir))
	for _, err := range errs {
		logging.V(3).Infof("while discovering Pulumi packages under %s: %v", dir, err)
	}
	return deps
}

// GetRequiredPackages is what current CLIs call before every preview/update.
func (h *nodeHost) GetRequiredPackages(
	_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{Packages: h.requiredPackages(req.GetInfo(), "")}, nil
}

// GetRequiredPlugins is the deprecated predecessor; parameterized packages collapse onto their base plugin.
func (h *nodeHost) GetRequiredPlugins(
	_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	var plugins []*pulumirpc.PluginDependency
	seen := map[string]bool{}
	for _, d := range h.requiredPackages(req.GetInfo(), req.GetPwd()) { //nolint:staticcheck // legacy field
		key := d.Name + "\x00" + d.Version + "\x00" + d.Server
		if seen[key] {
			continue
		}
		seen[key] = true
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: d.Name, Kind: d.Kind, Version: d.Version, Server: d.Server, Checksums: d.Checksums,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}
