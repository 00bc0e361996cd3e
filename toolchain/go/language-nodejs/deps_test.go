package main

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestDirectAndInstalledDependencies(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "package.json"),
		`{"dependencies":{"@pulumi/pulumi":"^3.0.0","zod":"3.25.76"},"devDependencies":{"typescript":"^5"}}`)
	nm := filepath.Join(root, "node_modules")
	writeFile(t, filepath.Join(nm, "@pulumi/pulumi/package.json"), `{"name":"@pulumi/pulumi","version":"3.259.0"}`)
	writeFile(t, filepath.Join(nm, "typescript/package.json"), `{"name":"typescript","version":"5.9.2"}`)
	writeFile(t, filepath.Join(nm, "typescript/node_modules/inner/package.json"), `{"version":"1.0.0"}`)

	deps, err := directDependencies(root)
	if err != nil {
		t.Fatal(err)
	}
	want := []dependency{{"@pulumi/pulumi", "3.259.0"}, {"typescript", "5.9.2"}, {"zod", "3.25.76"}}
	if !reflect.DeepEqual(deps, want) {
		t.Fatalf("direct = %v", deps)
	}

	all := installedPackages([]string{nm})
	want = []dependency{{"@pulumi/pulumi", "3.259.0"}, {"inner", "1.0.0"}, {"typescript", "5.9.2"}}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("transitive = %v", all)
	}
}
