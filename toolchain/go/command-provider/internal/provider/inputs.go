package provider

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"pgha.local/toolchain/command-provider/internal/sshconn"
)

// Logging modes of the `logging` input (enums.local.Logging / enums.remote.Logging).
const (
	logStdout          = "stdout"
	logStderr          = "stderr"
	logStdoutAndStderr = "stdoutAndStderr"
	logNone            = "none"
)

// spec is the parsed, defaulted view of a Command's inputs. Exactly one of
// local/remote is set, according to the resource type.
type spec struct {
	create, update, delete string
	environment            map[string]string
	stdin                  *string // nil: no stdin at all; "" is a real (empty) stdin
	logging                string
	addPreviousOutputInEnv bool
	local                  *localSpec
	remote                 *sshconn.Config
}

type localSpec struct {
	dir         string
	interpreter []string
}

// fieldErrs collects input problems so Check can report all of them at once,
// each against its property path, like the engine shows CheckFailures.
type fieldErrs []*pulumirpc.CheckFailure

func (f *fieldErrs) add(prop, format string, args ...any) {
	*f = append(*f, &pulumirpc.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, args...)})
}

func (f fieldErrs) err(typ string) error {
	if len(f) == 0 {
		return nil
	}
	msgs := make([]string, len(f))
	for i, c := range f {
		msgs[i] = c.Property + ": " + c.Reason
	}
	return fmt.Errorf("invalid inputs for %s: %s", typ, strings.Join(msgs, "; "))
}

// parseSpec validates and defaults the inputs of a command resource. Unknown
// values (preview) are skipped rather than reported: they are checked again
// when they become known.
func parseSpec(typ string, m resource.PropertyMap, errs *fieldErrs) spec {
	r := reader{m: m, errs: errs}
	s := spec{
		logging:                logStdoutAndStderr,
		addPreviousOutputInEnv: true,
	}
	s.create, _ = r.str("create")
	s.update, _ = r.str("update")
	s.delete, _ = r.str("delete")
	if v, ok := r.str("stdin"); ok {
		s.stdin = &v
	}
	s.environment = r.strMap("environment")
	if v, ok := r.str("logging"); ok {
		switch v {
		case logStdout, logStderr, logStdoutAndStderr, logNone:
			s.logging = v
		default:
			errs.add("logging", "must be one of stdout, stderr, stdoutAndStderr, none; got %q", v)
		}
	}
	if v, ok := r.boolean("addPreviousOutputInEnv"); ok {
		s.addPreviousOutputInEnv = v
	}
	if v, ok := r.known("triggers"); ok && !v.IsArray() {
		errs.add("triggers", "must be an array, got %s", v.TypeString())
	}

	switch typ {
	case localCommandType:
		s.local = parseLocal(r)
	case remoteCommandType:
		s.remote = parseConnection(r)
	}
	return s
}

func parseLocal(r reader) *localSpec {
	l := &localSpec{interpreter: []string{"/bin/sh", "-c"}}
	l.dir, _ = r.str("dir")
	if v, ok := r.strArray("interpreter"); ok {
		if len(v) == 0 {
			r.errs.add("interpreter", "must not be empty")
		} else {
			l.interpreter = v
		}
	}
	// Asset/archive collection is a feature this build leaves out; say so
	// instead of silently returning no assets.
	for _, k := range []string{"assetPaths", "archivePaths"} {
		if v, ok := r.m[resource.PropertyKey(k)]; ok {
			v = unwrap(v)
			if v.IsNull() || (v.IsArray() && len(v.ArrayValue()) == 0) {
				continue
			}
			r.errs.add(k, "is not supported by this build of pulumi-resource-command (pgha); remove it")
		}
	}
	return l
}

func parseConnection(r reader) *sshconn.Config {
	v, ok := r.m["connection"]
	if v = unwrap(v); !ok || v.IsNull() {
		r.errs.add("connection", "is required")
		return &sshconn.Config{}
	}
	if !v.IsObject() {
		if !v.ContainsUnknowns() {
			r.errs.add("connection", "must be an object, got %s", v.TypeString())
		}
		return &sshconn.Config{}
	}
	conn := reader{m: v.ObjectValue(), prefix: "connection.", errs: r.errs}
	c := connectionFields(conn)
	if p, ok := conn.known("proxy"); ok {
		if p.IsObject() {
			pc := connectionFields(reader{m: p.ObjectValue(), prefix: "connection.proxy.", errs: r.errs})
			c.Proxy = &pc
		} else {
			r.errs.add("connection.proxy", "must be an object, got %s", p.TypeString())
		}
	}
	return &c
}

// connectionFields reads one connection object, applying the same defaults
// as the Node SDK's connectionArgsProvideDefaults (in case a caller skipped it).
func connectionFields(r reader) sshconn.Config {
	c := sshconn.Config{Port: 22, User: "root", DialErrorLimit: 10, PerDialTimeout: 15 * time.Second}
	if hv, has := r.m["host"]; !has || unwrap(hv).IsNull() {
		r.errs.add(r.prefix+"host", "is required")
	} else if h, ok := r.str("host"); ok {
		if h == "" {
			r.errs.add(r.prefix+"host", "must not be empty")
		}
		c.Host = h
	}
	if p, ok := r.integer("port"); ok {
		if p < 1 || p > 65535 {
			r.errs.add(r.prefix+"port", "must be between 1 and 65535, got %d", p)
		}
		c.Port = p
	}
	if u, ok := r.str("user"); ok {
		c.User = u
	}
	c.Password, _ = r.str("password")
	c.PrivateKey, _ = r.str("privateKey")
	c.PrivateKeyPassword, _ = r.str("privateKeyPassword")
	c.AgentSocketPath, _ = r.str("agentSocketPath")
	if hk, ok := r.str("hostKey"); ok && hk != "" {
		if _, err := sshconn.ParseHostKey(hk); err != nil {
			r.errs.add(r.prefix+"hostKey", "%v", err)
		}
		c.HostKey = hk
	}
	if n, ok := r.integer("dialErrorLimit"); ok {
		c.DialErrorLimit = n
	}
	if n, ok := r.integer("perDialTimeout"); ok {
		if n < 0 {
			r.errs.add(r.prefix+"perDialTimeout", "must be >= 0 seconds, got %d", n)
		}
		c.PerDialTimeout = time.Duration(n) * time.Second
	}
	return c
}

// unwrap removes secret wrappers. With AcceptSecrets=false the engine already
// strips them, but tests and future engines may still send them.
func unwrap(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	if v.IsOutput() {
		o := v.OutputValue()
		if !o.Known {
			return resource.MakeComputed(resource.NewStringProperty(""))
		}
		return unwrap(o.Element)
	}
	return v
}

// reader reads typed values from one object, reporting type errors against
// the full property path (prefix + key).
type reader struct {
	m      resource.PropertyMap
	prefix string
	errs   *fieldErrs
}

// known returns a present, non-null, fully known value.
func (r reader) known(key string) (resource.PropertyValue, bool) {
	v, ok := r.m[resource.PropertyKey(key)]
	if !ok {
		return v, false
	}
	v = unwrap(v)
	if v.IsNull() || v.ContainsUnknowns() {
		return v, false
	}
	return v, true
}

func (r reader) str(key string) (string, bool) {
	v, ok := r.known(key)
	if !ok {
		return "", false
	}
	if !v.IsString() {
		r.errs.add(r.prefix+key, "must be a string, got %s", v.TypeString())
		return "", false
	}
	return v.StringValue(), true
}

func (r reader) boolean(key string) (bool, bool) {
	v, ok := r.known(key)
	if !ok {
		return false, false
	}
	if !v.IsBool() {
		r.errs.add(r.prefix+key, "must be a boolean, got %s", v.TypeString())
		return false, false
	}
	return v.BoolValue(), true
}

func (r reader) integer(key string) (int, bool) {
	v, ok := r.known(key)
	if !ok {
		return 0, false
	}
	if !v.IsNumber() || v.NumberValue() != math.Trunc(v.NumberValue()) {
		r.errs.add(r.prefix+key, "must be a whole number, got %v", v)
		return 0, false
	}
	return int(v.NumberValue()), true
}

func (r reader) strArray(key string) ([]string, bool) {
	v, ok := r.known(key)
	if !ok {
		return nil, false
	}
	if !v.IsArray() {
		r.errs.add(r.prefix+key, "must be an array of strings, got %s", v.TypeString())
		return nil, false
	}
	out := make([]string, 0, len(v.ArrayValue()))
	for i, e := range v.ArrayValue() {
		if e = unwrap(e); !e.IsString() {
			r.errs.add(fmt.Sprintf("%s%s[%d]", r.prefix, key, i), "must be a string, got %s", e.TypeString())
			return nil, false
		}
		out = append(out, e.StringValue())
	}
	return out, true
}

func (r reader) strMap(key string) map[string]string {
	v, ok := r.known(key)
	if !ok {
		return nil
	}
	if !v.IsObject() {
		r.errs.add(r.prefix+key, "must be a map of strings, got %s", v.TypeString())
		return nil
	}
	out := map[string]string{}
	for k, e := range v.ObjectValue() {
		if e = unwrap(e); e.IsNull() {
			continue
		}
		if !e.IsString() {
			r.errs.add(r.prefix+key+"."+string(k), "must be a string, got %s", e.TypeString())
			continue
		}
		out[string(k)] = e.StringValue()
	}
	return out
}

// sortedKeys gives a stable order, e.g. for Setenv calls.
func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
