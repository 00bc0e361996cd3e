package provider

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

// TestLocalLifecycleThroughEngine walks one local Command through preview,
// create, no-op diff, update, replace diff and delete, checking side effects.
func TestLocalLifecycleThroughEngine(t *testing.T) {
	h := newEngineHarness(t)
	dir := t.TempDir()
	urn := urnFor(localCommandType, "local1")
	ins := resource.PropertyMap{
		"create":      resource.NewStringProperty(`printf 'hello\n'; echo created > created.txt; cat > stdin.txt`),
		"update":      resource.NewStringProperty(`echo "prev=$PULUMI_COMMAND_STDOUT" ; echo updated > updated.txt`),
		"delete":      resource.NewStringProperty(`echo "deleted after $PULUMI_COMMAND_STDOUT $TOKEN" > ../deleted.txt`),
		"dir":         resource.NewStringProperty(dir),
		"stdin":       secret("TOP-SECRET-STDIN"),
		"environment": resource.NewObjectProperty(resource.PropertyMap{"TOKEN": secret("tok")}),
		"triggers":    resource.NewPropertyValue([]any{"t1"}),
	}
	if chk := h.check(t, urn, ins); len(chk.Failures) != 0 {
		t.Fatalf("check failures: %v", chk.Failures)
	} else if !chk.Properties["stdin"].IsSecret() {
		t.Fatalf("check lost stdin secretness: %v", chk.Properties["stdin"])
	}

	// Preview: nothing runs, outputs unknown.
	prev, err := h.create(urn, ins, true)
	if err != nil {
		t.Fatal(err)
	}
	if !prev.Properties["stdout"].IsComputed() || !prev.Properties["stderr"].IsComputed() {
		t.Fatalf("preview outputs should be unknown: %v", prev.Properties)
	}
	if _, err := os.Stat(filepath.Join(dir, "created.txt")); !os.IsNotExist(err) {
		t.Fatal("preview ran the create command")
	}

	// Create.
	cr, err := h.create(urn, ins, false)
	if err != nil {
		t.Fatal(err)
	}
	outs := cr.Properties
	if !strings.HasPrefix(string(cr.ID), "local1") || len(cr.ID) != len("local1")+8 {
		t.Fatalf("id %q", cr.ID)
	}
	if got := outs["stdout"]; got.IsSecret() || got.StringValue() != "hello" {
		t.Fatalf("stdout = %v (want plain \"hello\", one trailing newline trimmed)", got)
	}
	if !outs["stdin"].IsSecret() || !outs["environment"].ObjectValue()["TOKEN"].IsSecret() {
		t.Fatalf("secret inputs must stay secret in outputs: %v", outs)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "stdin.txt")); string(b) != "TOP-SECRET-STDIN" {
		t.Fatalf("stdin not piped (provider must see the plain value): %q", b)
	}
	if !strings.Contains(h.log.all(), "status info: hello") {
		t.Fatalf("stdout lines should be streamed to the engine: %s", h.log.all())
	}

	// Same inputs: no diff.
	if d := h.diff(t, urn, ins, outs, ins); d.Changes != plugin.DiffNone {
		t.Fatalf("identical inputs diff = %v", d)
	}

	// Changed update text: update, not replace.
	news := ins.Copy()
	news["update"] = resource.NewStringProperty(`echo "prev=$PULUMI_COMMAND_STDOUT"; echo v2 > updated.txt`)
	d := h.diff(t, urn, ins, outs, news)
	if d.Changes != plugin.DiffSome || len(d.ReplaceKeys) != 0 || d.DetailedDiff["update"].Kind != plugin.DiffUpdate {
		t.Fatalf("update diff = %+v", d)
	}
	up, err := h.update(urn, ins, outs, news, true)
	if err != nil || !up.Properties["stdout"].IsComputed() {
		t.Fatalf("update preview: %v %v", up.Properties, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "updated.txt")); !os.IsNotExist(err) {
		t.Fatal("preview ran the update command")
	}
	up, err = h.update(urn, ins, outs, news, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := up.Properties["stdout"].StringValue(); got != "prev=hello" {
		t.Fatalf("update stdout %q (PULUMI_COMMAND_STDOUT should carry the previous stdout)", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "updated.txt")); string(b) != "v2\n" {
		t.Fatalf("update command did not run: %q", b)
	}
	if !up.Properties["stdin"].IsSecret() {
		t.Fatal("stdin lost secretness on update")
	}

	// Triggers change: replace.
	news2 := news.Copy()
	news2["triggers"] = resource.NewPropertyValue([]any{"t2"})
	d = h.diff(t, urn, news, up.Properties, news2)
	if len(d.ReplaceKeys) != 1 || d.ReplaceKeys[0] != "triggers" {
		t.Fatalf("triggers diff = %+v", d)
	}

	// Delete uses the stored state.
	if err := h.delete(urn, news, up.Properties); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), "deleted.txt"))
	if string(b) != "deleted after prev=hello tok\n" {
		t.Fatalf("delete output %q", b)
	}

	// Read/refresh: unchanged.
	rr, err := h.prov.Read(context.Background(), plugin.ReadRequest{URN: urn, ID: "id", Inputs: news, State: up.Properties})
	if err != nil || !rr.Outputs.DeepEquals(up.Properties) || !rr.Inputs.DeepEquals(news) {
		t.Fatalf("read changed state: %v %v", rr, err)
	}
}

func TestUpdateFallsBackToCreateAndNoCommandKeepsOutputs(t *testing.T) {
	h := newEngineHarness(t)
	urn := urnFor(localCommandType, "c")
	ins := resource.PropertyMap{"create": resource.NewStringProperty("echo one")}
	cr, err := h.create(urn, ins, false)
	if err != nil {
		t.Fatal(err)
	}
	news := resource.PropertyMap{"create": resource.NewStringProperty("echo two")}
	up, err := h.update(urn, ins, cr.Properties, news, false)
	if err != nil || up.Properties["stdout"].StringValue() != "two" {
		t.Fatalf("update without `update` must rerun create: %v %v", up.Properties, err)
	}
	// No create/update at all: nothing runs, previous outputs stay.
	empty := resource.PropertyMap{"delete": resource.NewStringProperty("true")}
	up2, err := h.update(urn, news, up.Properties, empty, false)
	if err != nil || up2.Properties["stdout"].StringValue() != "two" {
		t.Fatalf("%v %v", up2.Properties, err)
	}
	// Deleting without a delete command is a no-op.
	if err := h.delete(urn, news, up.Properties); err != nil {
		t.Fatal(err)
	}
}

func TestLocalFailureMessageHasOutputButNotStdin(t *testing.T) {
	h := newEngineHarness(t)
	cmd := `echo to-stdout; echo to-stderr >&2; cat >/dev/null; exit 3`
	_, err := h.create(urnFor(localCommandType, "f"), resource.PropertyMap{
		"create": resource.NewStringProperty(cmd),
		"stdin":  secret("NEVER-SHOW-THIS-STDIN"),
	}, false)
	if err == nil {
		t.Fatal("expected failure")
	}
	msg := err.Error()
	for _, want := range []string{"exit status 3", cmd, "to-stdout", "to-stderr"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "NEVER-SHOW-THIS-STDIN") {
		t.Errorf("error leaks stdin:\n%s", msg)
	}
}

func TestLoggingModes(t *testing.T) {
	for _, tc := range []struct{ mode, want, notWant string }{
		{"stdout", "OUT", "ERR"},
		{"stderr", "ERR", "OUT"},
		{"none", "", "OUT"},
	} {
		h := newEngineHarness(t)
		_, err := h.create(urnFor(localCommandType, "l"), resource.PropertyMap{
			"create":  resource.NewStringProperty("echo OUT; echo ERR >&2"),
			"logging": resource.NewStringProperty(tc.mode),
		}, false)
		if err != nil {
			t.Fatal(err)
		}
		log := h.log.all()
		if (tc.want != "" && !strings.Contains(log, tc.want)) || strings.Contains(log, tc.notWant) {
			t.Errorf("logging=%s: log %q", tc.mode, log)
		}
	}
}

func TestInterpreterAndEnvironment(t *testing.T) {
	h := newEngineHarness(t)
	cr, err := h.create(urnFor(localCommandType, "i"), resource.PropertyMap{
		"create":                 resource.NewStringProperty(`import os; print(os.environ["X"], "PULUMI_COMMAND_STDOUT" in os.environ)`),
		"interpreter":            resource.NewPropertyValue([]any{"python3", "-c"}),
		"environment":            resource.NewPropertyValue(map[string]any{"X": "y"}),
		"addPreviousOutputInEnv": resource.NewBoolProperty(false),
	}, false)
	if err != nil {
		t.Skipf("python3 unavailable? %v", err)
	}
	if got := cr.Properties["stdout"].StringValue(); got != "y False" {
		t.Fatalf("got %q", got)
	}
}

func TestCheckFailuresAndUnsupported(t *testing.T) {
	h := newEngineHarness(t)
	chk := h.check(t, urnFor(localCommandType, "a"), resource.PropertyMap{
		"create":     resource.NewStringProperty("true"),
		"logging":    resource.NewStringProperty("loud"),
		"assetPaths": resource.NewPropertyValue([]any{"*.txt"}),
	})
	props := map[string]bool{}
	for _, f := range chk.Failures {
		props[string(f.Property)] = true
	}
	if !props["logging"] || !props["assetPaths"] {
		t.Fatalf("failures %v", chk.Failures)
	}
	chk = h.check(t, urnFor(remoteCommandType, "r"), resource.PropertyMap{
		"create":     resource.NewStringProperty("true"),
		"connection": resource.NewPropertyValue(map[string]any{"port": "22"}),
	})
	props = map[string]bool{}
	for _, f := range chk.Failures {
		props[string(f.Property)] = true
	}
	if !props["connection.host"] || !props["connection.port"] {
		t.Fatalf("failures %v", chk.Failures)
	}
	// Unknown values during preview are not failures.
	chk = h.check(t, urnFor(remoteCommandType, "r"), resource.PropertyMap{
		"connection": resource.NewObjectProperty(resource.PropertyMap{
			"host": resource.MakeComputed(resource.NewStringProperty("")),
		}),
	})
	if len(chk.Failures) != 0 {
		t.Fatalf("unknown host flagged: %v", chk.Failures)
	}

	_, err := h.prov.Check(context.Background(), plugin.CheckRequest{
		URN: urnFor("command:remote:CopyToRemote", "x"), News: resource.PropertyMap{},
	})
	if err == nil || !strings.Contains(err.Error(), "not supported by this build") {
		t.Fatalf("CopyToRemote: %v", err)
	}
	_, err = h.srv.Invoke(context.Background(), &pulumirpc.InvokeRequest{Tok: "command:local:run"})
	if err == nil || !strings.Contains(err.Error(), "command:local:run is not supported by this build") {
		t.Fatalf("invoke: %v", err)
	}
}

func TestCancelStopsRunningCommand(t *testing.T) {
	h := newEngineHarness(t)
	done := make(chan error, 1)
	go func() {
		_, err := h.create(urnFor(localCommandType, "slow"), resource.PropertyMap{
			"create": resource.NewStringProperty("echo started; sleep 30"),
		}, false)
		done <- err
	}()
	time.Sleep(300 * time.Millisecond)
	if _, err := h.srv.Cancel(context.Background(), &emptypb.Empty{}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "cancelled") {
			t.Fatalf("got %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not stop the command")
	}
}

func TestTimeoutFromCustomTimeouts(t *testing.T) {
	h := newEngineHarness(t)
	start := time.Now()
	_, err := h.prov.Create(context.Background(), plugin.CreateRequest{
		URN:        urnFor(localCommandType, "t"),
		Properties: resource.PropertyMap{"create": resource.NewStringProperty("sleep 20")},
		Timeout:    0.5,
	})
	if err == nil || !strings.Contains(err.Error(), "timed out after 0.5s") || time.Since(start) > 8*time.Second {
		t.Fatalf("got %v after %s", err, time.Since(start))
	}
}

func TestPluginInfoAndSchema(t *testing.T) {
	s := New(nil, "1.2.1")
	info, _ := s.GetPluginInfo(context.Background(), &emptypb.Empty{})
	schema, _ := s.GetSchema(context.Background(), &pulumirpc.GetSchemaRequest{})
	if info.Version != "1.2.1" || schema.Schema != `{"name":"command","version":"1.2.1"}` {
		t.Fatalf("%v %v", info, schema)
	}
}
