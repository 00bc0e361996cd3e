package provider

import (
	"reflect"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

func pm(m map[string]any) resource.PropertyMap { return resource.NewPropertyMapFromMap(m) }

func kinds(r *pulumirpc.DiffResponse) map[string]pulumirpc.PropertyDiff_Kind {
	out := map[string]pulumirpc.PropertyDiff_Kind{}
	for k, v := range r.DetailedDiff {
		out[k] = v.Kind
		if !v.InputDiff {
			panic("detailed diff must be an input diff")
		}
	}
	return out
}

func TestDiffSemantics(t *testing.T) {
	conn := map[string]any{"host": "10.0.0.1", "port": 22.0, "user": "root"}
	base := map[string]any{
		"connection":  conn,
		"create":      "echo create",
		"delete":      "echo delete",
		"environment": map[string]any{"FOO": "1"},
		"triggers":    []any{"a", 1.0},
	}
	with := func(k string, v any) map[string]any {
		m := map[string]any{}
		for kk, vv := range base {
			m[kk] = vv
		}
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		olds     resource.PropertyMap
		news     resource.PropertyMap
		changes  pulumirpc.DiffResponse_DiffChanges
		replaces []string
		detailed map[string]pulumirpc.PropertyDiff_Kind
	}{
		{"identical inputs: nothing to do", pm(base), pm(base), pulumirpc.DiffResponse_DIFF_NONE, nil,
			map[string]pulumirpc.PropertyDiff_Kind{}},
		{"old state outputs are ignored", pm(with("stdout", "x")), pm(base), pulumirpc.DiffResponse_DIFF_NONE, nil,
			map[string]pulumirpc.PropertyDiff_Kind{}},
		{"null equals missing", pm(with("update", nil)), resource.PropertyMap{
			"connection": pm(base)["connection"], "create": pm(base)["create"], "delete": pm(base)["delete"],
			"environment": pm(base)["environment"], "triggers": pm(base)["triggers"],
			"update": resource.NewNullProperty(),
		}, pulumirpc.DiffResponse_DIFF_NONE, nil, map[string]pulumirpc.PropertyDiff_Kind{}},
		{"create text change is an update", pm(base), pm(with("create", "echo v2")),
			pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{"create": pulumirpc.PropertyDiff_UPDATE}},
		{"delete text change is an update too", pm(base), pm(with("delete", "echo bye")),
			pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{"delete": pulumirpc.PropertyDiff_UPDATE}},
		{"adding update", pm(base), pm(with("update", "echo up")), pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{"update": pulumirpc.PropertyDiff_ADD}},
		{"removing delete", pm(base), pm(with("delete", nil)), pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{"delete": pulumirpc.PropertyDiff_DELETE}},
		{"environment value change is reported per key", pm(base),
			pm(with("environment", map[string]any{"FOO": "2", "BAR": "x"})), pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{
				"environment.FOO": pulumirpc.PropertyDiff_UPDATE, "environment.BAR": pulumirpc.PropertyDiff_ADD,
			}},
		{"connection host change is an update", pm(base),
			pm(with("connection", map[string]any{"host": "10.0.0.2", "port": 22.0, "user": "root"})),
			pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{"connection.host": pulumirpc.PropertyDiff_UPDATE}},
		{"trigger element change replaces", pm(base), pm(with("triggers", []any{"a", 2.0})),
			pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"},
			map[string]pulumirpc.PropertyDiff_Kind{"triggers[1]": pulumirpc.PropertyDiff_UPDATE_REPLACE}},
		{"trigger appended replaces", pm(base), pm(with("triggers", []any{"a", 1.0, "b"})),
			pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"},
			map[string]pulumirpc.PropertyDiff_Kind{"triggers[2]": pulumirpc.PropertyDiff_ADD_REPLACE}},
		{"triggers added replaces", pm(with("triggers", nil)), pm(base),
			pulumirpc.DiffResponse_DIFF_SOME, []string{"triggers"},
			map[string]pulumirpc.PropertyDiff_Kind{"triggers": pulumirpc.PropertyDiff_ADD_REPLACE}},
		{"unknown new value is a change", pm(base), resource.PropertyMap{
			"connection": pm(base)["connection"], "create": resource.MakeComputed(resource.NewStringProperty("")),
			"delete": pm(base)["delete"], "environment": pm(base)["environment"], "triggers": pm(base)["triggers"],
		}, pulumirpc.DiffResponse_DIFF_SOME, nil,
			map[string]pulumirpc.PropertyDiff_Kind{"create": pulumirpc.PropertyDiff_UPDATE}},
		{"secret wrapper alone is not a change", pm(base), resource.PropertyMap{
			"connection": resource.MakeSecret(pm(base)["connection"]), "create": pm(base)["create"],
			"delete": pm(base)["delete"], "environment": pm(base)["environment"], "triggers": pm(base)["triggers"],
		}, pulumirpc.DiffResponse_DIFF_NONE, nil, map[string]pulumirpc.PropertyDiff_Kind{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := computeDiff(tc.olds, tc.news)
			if r.Changes != tc.changes {
				t.Errorf("changes = %v, want %v", r.Changes, tc.changes)
			}
			if !reflect.DeepEqual(r.Replaces, tc.replaces) {
				t.Errorf("replaces = %v, want %v", r.Replaces, tc.replaces)
			}
			if got := kinds(r); !reflect.DeepEqual(got, tc.detailed) {
				t.Errorf("detailedDiff = %v, want %v", got, tc.detailed)
			}
			if !r.HasDetailedDiff || r.DeleteBeforeReplace {
				t.Errorf("hasDetailedDiff=%v deleteBeforeReplace=%v", r.HasDetailedDiff, r.DeleteBeforeReplace)
			}
		})
	}
}
