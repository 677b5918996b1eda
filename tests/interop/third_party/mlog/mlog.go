// Package mlog stands in for monis.app/mlog (see go.mod): only what the driver calls —
// Fatal from pkg/secrets-store (the interop test), and the logging setup of the driver's
// main (cmd/secrets-store-csi-driver, built by scripts/e2e-binaries.sh for tests/e2e).
// The driver logs through klog itself; this stand-in only has to accept the setup calls.
package mlog

import (
	"context"
	"fmt"
	"os"
)

// LogFormat names the driver's two log formats (--log-format-json picks JSON).
type LogFormat string

const (
	FormatText LogFormat = "text"
	FormatJSON LogFormat = "json"
)

// Fatal logs err with its key/value pairs and exits, like mlog.Fatal.
func Fatal(err error, keysAndValues ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"fatal:", err}, keysAndValues...)...)
	os.Exit(255)
}

// Error logs msg and err with key/value pairs to stderr.
func Error(msg string, err error, keysAndValues ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"error:", msg, err}, keysAndValues...)...)
}

// Setup returns the function main defers to flush logs; klog keeps its own default setup here.
func Setup() func() {
	return func() {}
}

// ValidateAndSetKlogLevelAndFormatGlobally accepts the driver's klog level (an int32 type,
// taken generically so the stand-in needs no dependencies) and either format.
func ValidateAndSetKlogLevelAndFormatGlobally[Level ~int32](_ context.Context, level Level, format LogFormat) error {
	if level < 0 {
		return fmt.Errorf("invalid log level %d", level)
	}
	if format != FormatText && format != FormatJSON {
		return fmt.Errorf("invalid log format %q", format)
	}
	return nil
}
