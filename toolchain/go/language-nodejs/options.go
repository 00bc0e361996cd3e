package main

import (
	"fmt"
	"strings"
	"unicode"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// runtimeOptions mirrors the `runtime.options` block of a nodejs Pulumi.yaml:
//
//	runtime:
//	  name: nodejs
//	  options: {typescript: true, tsconfig: tsconfig.json, nodeargs: "--max-old-space-size=4096", packagemanager: npm}
type runtimeOptions struct {
	typescript     bool   // run through ts-node (PULUMI_NODEJS_TYPESCRIPT); Pulumi defaults this to true
	tsconfig       string // PULUMI_NODEJS_TSCONFIG_PATH, relative to the program directory
	nodeargs       string // extra arguments placed before the runner script on the node command line
	packagemanager string // npm | yarn | pnpm | bun; empty means detect from lock files
}

// runtimeOptionFlags holds the legacy command-line equivalents of runtimeOptions; they only apply when
// the request carries no options at all.
type runtimeOptionFlags struct {
	typescript     bool
	tsconfig       string
	nodeargs       string
	packagemanager string
}

func (f runtimeOptionFlags) toOptions() runtimeOptions {
	return runtimeOptions{
		typescript:     f.typescript,
		tsconfig:       f.tsconfig,
		nodeargs:       f.nodeargs,
		packagemanager: f.packagemanager,
	}
}

// parseRuntimeOptions validates the options map from ProgramInfo. Unknown keys are ignored, as the real
// host does, so projects written for newer hosts keep working.
func parseRuntimeOptions(raw map[string]any, defaults runtimeOptions) (runtimeOptions, error) {
	opts := defaults
	if raw == nil {
		return opts, nil
	}
	// Options present in Pulumi.yaml fully replace the legacy flags; start from Pulumi's defaults.
	opts = runtimeOptions{typescript: true}

	if v, ok := raw["typescript"]; ok {
		b, isBool := v.(bool)
		if !isBool {
			return opts, fmt.Errorf("runtime option 'typescript' must be a boolean, got %T", v)
		}
		opts.typescript = b
	}
	for key, dst := range map[string]*string{
		"tsconfig":       &opts.tsconfig,
		"nodeargs":       &opts.nodeargs,
		"packagemanager": &opts.packagemanager,
	} {
		v, ok := raw[key]
		if !ok {
			continue
		}
		s, isString := v.(string)
		if !isString {
			return opts, fmt.Errorf("runtime option '%s' must be a string, got %T", key, v)
		}
		*dst = s
	}
	switch opts.packagemanager {
	case "", "auto", "npm", "yarn", "pnpm", "bun":
	default:
		return opts, fmt.Errorf("runtime option 'packagemanager' must be one of npm, yarn, pnpm, bun; got %q",
			opts.packagemanager)
	}
	if opts.packagemanager == "auto" {
		opts.packagemanager = ""
	}
	return opts, nil
}

// optionsFromInfo extracts and validates runtime options from a request's ProgramInfo.
func (h *nodeHost) optionsFromInfo(info *pulumirpc.ProgramInfo) (runtimeOptions, error) {
	var raw map[string]any
	if info != nil && info.GetOptions() != nil {
		raw = info.GetOptions().AsMap()
	}
	return parseRuntimeOptions(raw, h.flagOptions)
}

// splitArgs splits a nodeargs string like a POSIX shell would for the simple cases we need: whitespace
// separates words, single and double quotes group, backslash escapes the next character outside single
// quotes. It does no expansion of any kind.
func splitArgs(s string) ([]string, error) {
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case quote == '"':
			if r == '"' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if escaped || quote != 0 {
		return nil, fmt.Errorf("unterminated quote or escape in %q", s)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
