// Package mlog stands in for monis.app/mlog (see go.mod): only what the driver's
// pkg/secrets-store calls.
package mlog

import (
	"fmt"
	"os"
)

// Fatal logs err with its key/value pairs and exits, like mlog.Fatal.
func Fatal(err error, keysAndValues ...any) {
	fmt.Fprintln(os.Stderr, append([]any{"fatal:", err}, keysAndValues...)...)
	os.Exit(255)
}
