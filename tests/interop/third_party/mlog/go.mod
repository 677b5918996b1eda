// A local stand-in for monis.app/mlog, which the Go module proxy does not serve
// ("403 This module version is not available"). The driver's pkg/secrets-store imports it
// only for mlog.Fatal in its own CSI gRPC server's Start (server.go), which the interop
// tests never run; the driver's main (built by scripts/e2e-binaries.sh) calls its logging
// setup functions.
module monis.app/mlog

go 1.21
