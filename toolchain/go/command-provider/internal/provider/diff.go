package provider

import (
	"sort"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// outputOnly are state keys that are not inputs and so never cause a diff.
var outputOnly = map[resource.PropertyKey]bool{"stdout": true, "stderr": true}

// replaceKeys are inputs whose change means "run delete, then create again"
// (the SDK also asks the engine for replaceOnChanges: ["triggers[*]"]).
var replaceKeys = map[resource.PropertyKey]bool{"triggers": true}

// computeDiff compares old inputs with new inputs. A triggers change is a
// replace; any other change is an in-place update (which runs `update`, or
// `create` again); identical inputs are DIFF_NONE so a second `pulumi up`
// runs nothing. Missing and null are treated alike.
func computeDiff(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	keys := map[resource.PropertyKey]bool{}
	for k := range olds {
		keys[k] = true
	}
	for k := range news {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		if !outputOnly[k] && !resource.IsInternalPropertyKey(k) {
			sorted = append(sorted, string(k))
		}
	}
	sort.Strings(sorted)

	resp := &pulumirpc.DiffResponse{
		Changes:         pulumirpc.DiffResponse_DIFF_NONE,
		DetailedDiff:    map[string]*pulumirpc.PropertyDiff{},
		HasDetailedDiff: true,
	}
	for _, name := range sorted {
		k := resource.PropertyKey(name)
		o, hasO := present(olds[k])
		n, hasN := present(news[k])
		if hasO == hasN && (!hasO || equalKnown(o, n)) {
			continue
		}
		resp.Diffs = append(resp.Diffs, name)
		if replaceKeys[k] {
			resp.Replaces = append(resp.Replaces, name)
		}
		detail(resource.PropertyPath{name}, o, hasO, n, hasN, replaceKeys[k], resp.DetailedDiff)
	}
	if len(resp.Diffs) > 0 {
		resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	}
	return resp
}

func present(v resource.PropertyValue) (resource.PropertyValue, bool) {
	v = unwrap(v)
	return v, !v.IsNull()
}

// equalKnown is DeepEquals, except that an unknown value never equals
// anything: during preview it may well turn out to differ.
func equalKnown(a, b resource.PropertyValue) bool {
	if a.ContainsUnknowns() || b.ContainsUnknowns() {
		return false
	}
	return a.DeepEquals(b)
}

// detail records per-path diff entries so `pulumi preview --diff` can point at
// e.g. environment.FOO or triggers[1] instead of the whole property.
func detail(path resource.PropertyPath, o resource.PropertyValue, hasO bool, n resource.PropertyValue, hasN bool,
	replace bool, out map[string]*pulumirpc.PropertyDiff,
) {
	kind := func(k pulumirpc.PropertyDiff_Kind) *pulumirpc.PropertyDiff {
		if replace {
			switch k {
			case pulumirpc.PropertyDiff_ADD:
				k = pulumirpc.PropertyDiff_ADD_REPLACE
			case pulumirpc.PropertyDiff_DELETE:
				k = pulumirpc.PropertyDiff_DELETE_REPLACE
			default:
				k = pulumirpc.PropertyDiff_UPDATE_REPLACE
			}
		}
		return &pulumirpc.PropertyDiff{Kind: k, InputDiff: true}
	}
	switch {
	case !hasO:
		out[path.String()] = kind(pulumirpc.PropertyDiff_ADD)
	case !hasN:
		out[path.String()] = kind(pulumirpc.PropertyDiff_DELETE)
	case o.IsObject() && n.IsObject():
		om, nm := o.ObjectValue(), n.ObjectValue()
		keys := map[resource.PropertyKey]bool{}
		for k := range om {
			keys[k] = true
		}
		for k := range nm {
			keys[k] = true
		}
		for k := range keys {
			ov, hasOv := present(om[k])
			nv, hasNv := present(nm[k])
			if hasOv == hasNv && (!hasOv || equalKnown(ov, nv)) {
				continue
			}
			detail(append(append(resource.PropertyPath{}, path...), string(k)), ov, hasOv, nv, hasNv, replace, out)
		}
	case o.IsArray() && n.IsArray():
		oa, na := o.ArrayValue(), n.ArrayValue()
		for i := 0; i < max(len(oa), len(na)); i++ {
			var ov, nv resource.PropertyValue
			hasOv, hasNv := i < len(oa), i < len(na)
			if hasOv {
				ov = unwrap(oa[i])
			}
			if hasNv {
				nv = unwrap(na[i])
			}
			if hasOv && hasNv && equalKnown(ov, nv) {
				continue
			}
			detail(append(append(resource.PropertyPath{}, path...), i), ov, hasOv, nv, hasNv, replace, out)
		}
	default:
		out[path.String()] = kind(pulumirpc.PropertyDiff_UPDATE)
	}
}
