package main

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func TestRunnerArgs(t *testing.T) {
	req := &pulumirpc.RunRequest{
		MonitorAddress: "127.0.0.1:1234",
		Organization:   "organization",
		Project:        "x",
		Stack:          "dev",
		Pwd:            "/proj",
		DryRun:         true,
		Parallel:       16,
		Args:           []string{"a", "b"},
		Info:           &pulumirpc.ProgramInfo{RootDirectory: "/proj", ProgramDirectory: "/proj", EntryPoint: "."},
	}
	got := runnerArgs(req, "/proj/node_modules/@pulumi/pulumi/cmd/run/index.js", "127.0.0.1:99", "", "/proj")
	want := []string{
		"/proj/node_modules/@pulumi/pulumi/cmd/run/index.js",
		"--monitor", "127.0.0.1:1234",
		"--engine", "127.0.0.1:99",
		"--organization", "organization",
		"--project", "x",
		"--root-directory", "/proj",
		"--stack", "dev",
		"--pwd", "/proj",
		"--dry-run",
		"--parallel", "16",
		".", "a", "b",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}

	// Update (not dry run), serial, tracing, explicit entry point; no empty flags.
	req = &pulumirpc.RunRequest{
		MonitorAddress: "m", Project: "x", Stack: "dev", Parallel: 1,
		Info: &pulumirpc.ProgramInfo{EntryPoint: "index.ts"},
	}
	got = runnerArgs(req, "run.js", "", "http://trace", "/proj")
	want = []string{"run.js", "--monitor", "m", "--project", "x", "--stack", "dev", "--tracing", "http://trace", "index.ts"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestEntryPoint(t *testing.T) {
	cases := []struct {
		req  *pulumirpc.RunRequest
		want string
	}{
		{&pulumirpc.RunRequest{}, "."},
		{&pulumirpc.RunRequest{Program: "legacy.ts"}, "legacy.ts"},
		{&pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{EntryPoint: "."}, Pwd: "/other"}, "."},
		{&pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{EntryPoint: "index.ts"}, Pwd: "/proj"}, "index.ts"},
		{&pulumirpc.RunRequest{Info: &pulumirpc.ProgramInfo{EntryPoint: "index.ts"}, Pwd: "/other"}, "/proj/index.ts"},
	}
	for _, c := range cases {
		if got := entryPoint(c.req, "/proj"); got != c.want {
			t.Errorf("entryPoint(%v) = %q, want %q", c.req, got, c.want)
		}
	}
}

func envMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if _, dup := m[k]; dup {
			m[k] = "DUPLICATE"
			continue
		}
		m[k] = v
	}
	return m
}

func TestRunnerEnv(t *testing.T) {
	base := []string{"PATH=/bin", "PULUMI_CONFIG=stale", "PULUMI_NODEJS_TRANSPILE_ONLY=true"}
	req := &pulumirpc.RunRequest{
		Config:           map[string]string{"x:name": "world", "x:password": "hunter2"},
		ConfigSecretKeys: []string{"x:password"},
	}
	env, err := runnerEnv(base, req, runtimeOptions{typescript: true, tsconfig: "tsconfig.pulumi.json"})
	if err != nil {
		t.Fatal(err)
	}
	m := envMap(env)
	var cfg map[string]string
	if err := json.Unmarshal([]byte(m["PULUMI_CONFIG"]), &cfg); err != nil {
		t.Fatalf("PULUMI_CONFIG %q: %v", m["PULUMI_CONFIG"], err)
	}
	if !reflect.DeepEqual(cfg, req.Config) {
		t.Fatalf("config = %v", cfg)
	}
	if m["PULUMI_CONFIG_SECRET_KEYS"] != `["x:password"]` {
		t.Fatalf("secret keys = %q", m["PULUMI_CONFIG_SECRET_KEYS"])
	}
	if m["PULUMI_NODEJS_TYPESCRIPT"] != "true" || m["PULUMI_NODEJS_TSCONFIG_PATH"] != "tsconfig.pulumi.json" {
		t.Fatalf("ts env = %v", m)
	}
	if m["PATH"] != "/bin" || m["PULUMI_NODEJS_TRANSPILE_ONLY"] != "true" {
		t.Fatalf("passthrough env lost: %v", m)
	}

	env, err = runnerEnv(nil, &pulumirpc.RunRequest{}, runtimeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m = envMap(env)
	if m["PULUMI_CONFIG"] != "{}" || m["PULUMI_CONFIG_SECRET_KEYS"] != "[]" || m["PULUMI_NODEJS_TYPESCRIPT"] != "false" {
		t.Fatalf("empty env = %v", m)
	}
	if _, ok := m["PULUMI_NODEJS_TSCONFIG_PATH"]; ok {
		t.Fatal("tsconfig path set without option")
	}
}

func TestRunResponse(t *testing.T) {
	if r := runResponse(nil); r.Error != "" || r.Bail {
		t.Fatalf("success = %v", r)
	}
	exit := func(code string) error { return exec.Command("sh", "-c", "exit "+code).Run() }
	if r := runResponse(exit("32")); !r.Bail || r.Error != "" {
		t.Fatalf("32 = %v", r)
	}
	if r := runResponse(exit("1")); r.Bail || !strings.Contains(r.Error, "non-zero exit code: 1") {
		t.Fatalf("1 = %v", r)
	}
	if r := runResponse(exec.Command("sh", "-c", "kill -9 $$").Run()); !strings.Contains(r.Error, "signal") {
		t.Fatalf("signal = %v", r)
	}
	if r := runResponse(exec.Command("/nonexistent/node").Run()); !strings.Contains(r.Error, "could not run node") {
		t.Fatalf("start failure = %v", r)
	}
}

func TestParseRuntimeOptions(t *testing.T) {
	legacy := runtimeOptions{typescript: false, nodeargs: "--legacy"}
	opts, err := parseRuntimeOptions(nil, legacy)
	if err != nil || opts != legacy {
		t.Fatalf("nil options should keep legacy flags: %v %v", opts, err)
	}
	st, _ := structpb.NewStruct(map[string]any{})
	opts, err = parseRuntimeOptions(st.AsMap(), legacy)
	if err != nil || !opts.typescript || opts.nodeargs != "" {
		t.Fatalf("empty options should default typescript=true: %v %v", opts, err)
	}
	opts, err = parseRuntimeOptions(map[string]any{
		"typescript": false, "tsconfig": "tsconfig.x.json", "nodeargs": "--inspect", "packagemanager": "pnpm",
	}, legacy)
	want := runtimeOptions{typescript: false, tsconfig: "tsconfig.x.json", nodeargs: "--inspect", packagemanager: "pnpm"}
	if err != nil || opts != want {
		t.Fatalf("got %v %v", opts, err)
	}
	for _, bad := range []map[string]any{
		{"typescript": "yes"}, {"nodeargs": 3.0}, {"packagemanager": "cargo"},
	} {
		if _, err := parseRuntimeOptions(bad, legacy); err == nil {
			t.Errorf("expected error for %v", bad)
		}
	}
}

func TestSplitArgs(t *testing.T) {
	cases := map[string][]string{
		"":                                 nil,
		"--max-old-space-size=4096":        {"--max-old-space-size=4096"},
		`  -r  ts-node/register   --trace`: {"-r", "ts-node/register", "--trace"},
		`--title "my program" 'a b'\ c`:    {"--title", "my program", "a b c"},
		`""`:                               {""},
	}
	for in, want := range cases {
		got, err := splitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("splitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := splitArgs(`"open`); err == nil {
		t.Error("expected error for unterminated quote")
	}
}

func TestSummarizeNodeError(t *testing.T) {
	stderr := "node:internal/modules/cjs/loader:1210\n  throw err;\n  ^\n\n" +
		"Error: Cannot find module '@pulumi/pulumi/cmd/run'\nRequire stack:\n- /tmp/x/[eval]\n" +
		"    at Module._resolveFilename (node:internal/modules/cjs/loader:1207:15)\n"
	if got := summarizeNodeError(stderr, nil); got != "Error: Cannot find module '@pulumi/pulumi/cmd/run'" {
		t.Fatalf("got %q", got)
	}
}
