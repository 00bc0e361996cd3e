package main

import (
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPackageFromManifest(t *testing.T) {
	cases := []struct {
		name, json      string
		wantOK, wantErr bool
		wantName, wantV string
		wantServer      string
		wantParamName   string
		wantParamValue  string
	}{
		{name: "plain npm package", json: `{"name":"zod","version":"3.25.76"}`},
		{name: "sdk itself", json: `{"name":"@pulumi/pulumi","version":"3.259.0","pulumi":{"comment":"x"}}`},
		{name: "command", json: `{"name":"@pulumi/command","version":"1.2.1",
			"pulumi":{"resource":true,"name":"command","version":"1.2.1"}}`,
			wantOK: true, wantName: "command", wantV: "v1.2.1"},
		{name: "name from scope, version from package", json: `{"name":"@pulumi/random","version":"4.21.2",
			"pulumi":{"resource":true}}`, wantOK: true, wantName: "random", wantV: "v4.21.2"},
		{name: "third party with server", json: `{"name":"@acme/thing","version":"0.1.0",
			"pulumi":{"resource":true,"name":"thing","version":"v0.2.0","server":"github://api.github.com/acme"}}`,
			wantOK: true, wantName: "thing", wantV: "v0.2.0", wantServer: "github://api.github.com/acme"},
		{name: "third party without name", json: `{"name":"acme-thing","version":"1.0.0","pulumi":{"resource":true}}`,
			wantErr: true},
		{name: "parameterized", json: `{"name":"@acme/tf","version":"1.0.0","pulumi":{"resource":true,
			"name":"terraform-provider","version":"0.5.0",
			"parameterization":{"name":"tf","version":"1.0.0","value":"aGVsbG8="}}}`,
			wantOK: true, wantName: "terraform-provider", wantV: "v0.5.0", wantParamName: "tf", wantParamValue: "hello"},
		{name: "broken json", json: `{`, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dep, ok, err := packageFromManifest([]byte(c.json))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if ok != c.wantOK {
				t.Fatalf("ok = %v, want %v", ok, c.wantOK)
			}
			if !ok {
				return
			}
			if dep.Name != c.wantName || dep.Version != c.wantV || dep.Kind != "resource" || dep.Server != c.wantServer {
				t.Fatalf("got %s %s %s %s", dep.Name, dep.Kind, dep.Version, dep.Server)
			}
			if c.wantParamName != "" {
				if dep.Parameterization == nil || dep.Parameterization.Name != c.wantParamName ||
					string(dep.Parameterization.Value) != c.wantParamValue {
					t.Fatalf("parameterization = %v", dep.Parameterization)
				}
			} else if dep.Parameterization != nil {
				t.Fatalf("unexpected parameterization %v", dep.Parameterization)
			}
		})
	}
}

func TestScanNodeModules(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "package.json"), `{"name":"proj"}`)
	nm := filepath.Join(root, "node_modules")
	writeFile(t, filepath.Join(nm, "@pulumi/pulumi/package.json"),
		`{"name":"@pulumi/pulumi","version":"3.259.0","pulumi":{"comment":"no"}}`)
	writeFile(t, filepath.Join(nm, "@pulumi/command/package.json"),
		`{"name":"@pulumi/command","version":"1.2.1","pulumi":{"resource":true,"name":"command","version":"1.2.1"}}`)
	writeFile(t, filepath.Join(nm, "@pulumi/random/package.json"),
		`{"name":"@pulumi/random","version":"4.21.2","pulumi":{"resource":true,"name":"random","version":"4.21.2"}}`)
	// A nested duplicate and a nested different version.
	writeFile(t, filepath.Join(nm, "lib/node_modules/@pulumi/random/package.json"),
		`{"name":"@pulumi/random","version":"4.21.2","pulumi":{"resource":true,"name":"random","version":"4.21.2"}}`)
	writeFile(t, filepath.Join(nm, "old/node_modules/@pulumi/random/package.json"),
		`{"name":"@pulumi/random","version":"4.0.0","pulumi":{"resource":true}}`)
	writeFile(t, filepath.Join(nm, "broken/package.json"), `{nope`)
	writeFile(t, filepath.Join(nm, ".bin/package.json"),
		`{"name":"@pulumi/ignored","version":"1.0.0","pulumi":{"resource":true}}`)
	// A symlinked package (npm link) and a symlink cycle.
	linked := filepath.Join(t.TempDir(), "linked")
	writeFile(t, filepath.Join(linked, "package.json"),
		`{"name":"@pulumi/linked","version":"0.0.1","pulumi":{"resource":true}}`)
	if err := os.Symlink(linked, filepath.Join(nm, "linked")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(nm, filepath.Join(nm, "lib", "cycle")); err != nil {
		t.Fatal(err)
	}

	// Program in a subdirectory: packages come from the package.json root.
	prog := filepath.Join(root, "src")
	if err := os.MkdirAll(prog, 0o755); err != nil {
		t.Fatal(err)
	}
	deps, errs := scanNodeModules(nodeModulesRoots(prog))
	if len(errs) != 1 {
		t.Fatalf("expected exactly the broken manifest error, got %v", errs)
	}
	var got []string
	for _, d := range deps {
		got = append(got, d.Name+"@"+d.Version)
	}
	want := []string{"command@v1.2.1", "linked@v0.0.1", "random@v4.0.0", "random@v4.21.2"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func TestNodeModulesRootsWorkspace(t *testing.T) {
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "package.json"), `{"name":"ws","workspaces":["infra"]}`)
	writeFile(t, filepath.Join(ws, "infra", "package.json"), `{"name":"infra"}`)
	roots := nodeModulesRoots(filepath.Join(ws, "infra"))
	if len(roots) != 2 || roots[0] != filepath.Join(ws, "infra", "node_modules") ||
		roots[1] != filepath.Join(ws, "node_modules") {
		t.Fatalf("roots = %v", roots)
	}
}

// The real project: it must report exactly the provider SDKs it depends on.
func TestScanProjectNodeModules(t *testing.T) {
	proj, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(proj, "node_modules", "@pulumi", "pulumi")); err != nil {
		t.Skip("project node_modules not installed")
	}
	deps, _ := scanNodeModules(nodeModulesRoots(proj))
	found := map[string]string{}
	for _, d := range deps {
		found[d.Name] = d.Version
	}
	if found["command"] != "v1.2.1" {
		t.Errorf("command = %q, want v1.2.1 (all: %v)", found["command"], found)
	}
	if found["random"] == "" {
		t.Errorf("random not found (all: %v)", found)
	}
}
