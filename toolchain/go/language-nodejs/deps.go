package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// GetProgramDependencies feeds the dependency table of `pulumi about`. Instead of shelling out to
// `npm ls` (slow, and it fails outright on any extraneous/missing package) we read package.json and the
// installed manifests directly.
func (h *nodeHost) GetProgramDependencies(
	_ context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	dir := programDirectory(req.GetInfo(), req.GetPwd()) //nolint:staticcheck // legacy field fallback
	root, ok := searchUp(dir, "package.json")
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "no package.json found at or above %s", dir)
	}
	var deps []dependency
	var err error
	if req.GetTransitiveDependencies() {
		deps = installedPackages(nodeModulesRoots(dir))
	} else {
		deps, err = directDependencies(root)
	}
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.name, Version: d.version})
	}
	return resp, nil
}

type dependency struct{ name, version string }

// directDependencies lists dependencies and devDependencies of the package at root with the version that
// is actually installed, or the declared range when it is not installed.
func directDependencies(root string) ([]dependency, error) {
	data, err := os.ReadFile(filepath.Join(root, "package.json"))
	if err != nil {
		return nil, err
	}
	var m struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	declared := map[string]string{}
	for k, v := range m.DevDependencies {
		declared[k] = v
	}
	for k, v := range m.Dependencies {
		declared[k] = v
	}
	var out []dependency
	for name, spec := range declared {
		ver := spec
		if installed, ok := installedVersion(root, name); ok {
			ver = installed
		}
		out = append(out, dependency{name, ver})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

// installedVersion resolves name the way node does from dir: nearest node_modules/<name> upwards.
func installedVersion(dir, name string) (string, bool) {
	for {
		if v, ok := manifestVersion(filepath.Join(dir, "node_modules", name, "package.json")); ok {
			return v, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func manifestVersion(path string) (string, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	var m struct {
		Version string `json:"version"`
	}
	if json.Unmarshal(data, &m) != nil || m.Version == "" {
		return "", false
	}
	return m.Version, true
}

// installedPackages lists every package under the given node_modules trees (including nested
// node_modules and @scope directories), de-duplicated by name and version.
func installedPackages(roots []string) []dependency {
	seen := map[dependency]bool{}
	var out []dependency
	var walk func(nodeModules string)
	walk = func(nodeModules string) {
		entries, err := os.ReadDir(nodeModules)
		if err != nil {
			return
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			dirs := []string{name}
			if strings.HasPrefix(name, "@") {
				dirs = nil
				scoped, _ := os.ReadDir(filepath.Join(nodeModules, name))
				for _, s := range scoped {
					dirs = append(dirs, name+"/"+s.Name())
				}
			}
			for _, pkg := range dirs {
				pkgDir := filepath.Join(nodeModules, filepath.FromSlash(pkg))
				if v, ok := manifestVersion(filepath.Join(pkgDir, "package.json")); ok {
					d := dependency{pkg, v}
					if !seen[d] {
						seen[d] = true
						out = append(out, d)
					}
				}
				walk(filepath.Join(pkgDir, "node_modules"))
			}
		}
	}
	for _, r := range roots {
		walk(r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].name != out[j].name {
			return out[i].name < out[j].name
		}
		return out[i].version < out[j].version
	})
	return out
}
