// Package interop runs the Secrets Store CSI Driver's own provider client
// (sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store, the code the driver runs in
// production) against a running secrets-gateway with the fake backend.
//
// The gateways are started by tests/interop/test_driver_client.py, which passes their
// sockets and the fake store file through the environment (see env* below). Each Test*
// function writes the fake store it needs, so the data and the assertions live together.
// Run without that environment, every test skips.
package interop

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	secretsstore "sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

// Environment set by the pytest wrapper.
const (
	envSocket          = "SGW_INTEROP_SOCKET"           // main gateway: default limits, --backend-timeout 1, fake + crashing backends
	envUnlimitedSocket = "SGW_INTEROP_UNLIMITED_SOCKET" // a gateway whose own response limit is above the driver's
	envStore           = "SGW_INTEROP_STORE"            // the fake store file both gateways read (re-read on mtime change)
	envVersion         = "SGW_INTEROP_VERSION"          // the gateway's expected runtime version
	envStoppedSocket   = "SGW_INTEROP_STOPPED_SOCKET"   // where a gateway served before it stopped
)

// What kubelet and the driver put into every Mount request.
const (
	podName      = "interop-pod"
	podNamespace = "interop-ns"
	podUID       = "5e7a1c2d-0000-4000-8000-000000000001"
	volumeName   = "secrets-store-inline"
	spcName      = "interop-spc"
	// The driver marshals its default os.FileMode(0644) with encoding/json.
	defaultPermission = "420"
	// Driver v1.6 sends json.Marshal(req.GetSecrets()): "null" without a nodePublishSecretRef.
	noNodePublishSecrets = "null"
	// The driver's --max-call-recv-msg-size default (cmd/secrets-store-csi-driver/main.go).
	driverMaxRecvMsgSize = 4 * 1024 * 1024
	// Planted in the request; must never appear in any error text.
	plantedToken = "planted-sa-token-must-not-leak"
)

func requireEnv(t *testing.T, name string) string {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		t.Skipf("%s is not set: run these tests through tests/interop/test_driver_client.py (uv run pytest tests/interop)", name)
	}
	return value
}

// ---------------------------------------------------------------------------- driver side

// attemptCounter counts Mount attempts on the wire (the driver's service config retries
// UNAVAILABLE up to 3 attempts; each attempt is a separate stats.Begin).
type attemptCounter struct {
	mu       sync.Mutex
	attempts map[string]int
}

type methodKey struct{}

func (a *attemptCounter) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return context.WithValue(ctx, methodKey{}, info.FullMethodName)
}

func (a *attemptCounter) HandleRPC(ctx context.Context, s stats.RPCStats) {
	begin, ok := s.(*stats.Begin)
	if !ok || !begin.IsClient() || begin.IsTransparentRetryAttempt {
		return
	}
	method, _ := ctx.Value(methodKey{}).(string)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts[method]++
}

func (a *attemptCounter) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}
func (a *attemptCounter) HandleConn(context.Context, stats.ConnStats) {}

func (a *attemptCounter) mounts() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.attempts[v1alpha1.CSIDriverProvider_Mount_FullMethodName]
}

// driver is one provider client built exactly as the driver builds it.
type driver struct {
	provider string
	client   v1alpha1.CSIDriverProviderClient
	counter  *attemptCounter
}

// newDriver builds a client for the provider socket at socketPath the way
// cmd/secrets-store-csi-driver does: NewPluginClientBuilder(providerDirs,
// WithDefaultCallOptions(MaxCallRecvMsgSize(4 MiB))), then Get(provider), which finds
// <dir>/<provider>.sock. The only addition is a stats handler that counts attempts.
func newDriver(t *testing.T, socketPath string) *driver {
	t.Helper()
	provider := strings.TrimSuffix(filepath.Base(socketPath), ".sock")
	counter := &attemptCounter{attempts: map[string]int{}}
	builder := secretsstore.NewPluginClientBuilder(
		[]string{filepath.Dir(socketPath)},
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(driverMaxRecvMsgSize)),
		grpc.WithStatsHandler(counter),
	)
	t.Cleanup(builder.Cleanup)
	client, err := builder.Get(context.Background(), provider)
	if err != nil {
		t.Fatalf("PluginClientBuilder.Get(%q): %v", provider, err)
	}
	return &driver{provider: provider, client: client, counter: counter}
}

func mainDriver(t *testing.T) *driver { return newDriver(t, requireEnv(t, envSocket)) }

// mountResult is what secretsstore.MountContent returned.
type mountResult struct {
	versions    map[string]string
	errorReason string
	err         error
}

// mount calls secretsstore.MountContent — the driver's Mount call, response checks and
// atomic file writer — with attributes built like NodePublishVolume builds them.
// oldVersions is nil for driver v1.6 (a v1.5 driver sent the previous versions).
func (d *driver) mount(t *testing.T, params map[string]string, targetDir string, oldVersions map[string]string) mountResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // kubelet's budget
	defer cancel()
	versions, reason, err := secretsstore.MountContent(ctx, d.client, attributes(params), noNodePublishSecrets, targetDir, defaultPermission, oldVersions)
	return mountResult{versions, reason, err}
}

// attributes: SecretProviderClass parameters overlaid with the pod's volume attributes and
// kubelet's pod info, plus the service-account tokens (CSIDriver tokenRequests).
func attributes(params map[string]string) string {
	attrs := map[string]string{}
	maps.Copy(attrs, params)
	maps.Copy(attrs, map[string]string{
		"secretProviderClass":                      spcName,
		"csi.storage.k8s.io/pod.name":              podName,
		"csi.storage.k8s.io/pod.namespace":         podNamespace,
		"csi.storage.k8s.io/pod.uid":               podUID,
		"csi.storage.k8s.io/serviceAccount.name":   "interop-sa",
		"csi.storage.k8s.io/ephemeral":             "false",
		"csi.storage.k8s.io/serviceAccount.tokens": mustJSON(map[string]any{"interop.example": map[string]string{"token": plantedToken, "expirationTimestamp": "2030-01-01T00:00:00Z"}}),
	})
	return mustJSON(attrs)
}

// podEvent is the FailedMount event text for a failed first mount: NodePublishVolume
// wraps MountContent's error (nodeserver.go), the CSI gRPC server turns that plain error
// into code Unknown, and kubelet prefixes it.
func podEvent(err error) string {
	wrapped := fmt.Errorf("failed to mount secrets store objects for pod %s/%s, err: %w", podNamespace, podName, err)
	return fmt.Sprintf("MountVolume.SetUp failed for volume %q : %v", volumeName, status.Error(codes.Unknown, wrapped.Error()))
}

// ---------------------------------------------------------------------------- SecretProviderClass

type object map[string]any

// spc builds SecretProviderClass parameters; objects is YAML (JSON is YAML).
func spc(objects []object, extra ...string) map[string]string {
	params := map[string]string{"objects": mustJSON(objects)}
	for i := 0; i+1 < len(extra); i += 2 {
		params[extra[i]] = extra[i+1]
	}
	return params
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// ---------------------------------------------------------------------------- fake store

// writeStore replaces the fake store file and moves its mtime one second past the old
// one, so the fake backend re-reads it on the next mount however fast we are (no sleeps).
func writeStore(t *testing.T, secrets map[string]any) {
	t.Helper()
	path := requireEnv(t, envStore)
	previous := time.Now()
	if info, err := os.Stat(path); err == nil {
		previous = info.ModTime()
	}
	if err := os.WriteFile(path, []byte(mustJSON(map[string]any{"secrets": secrets})), 0o600); err != nil {
		t.Fatalf("write fake store: %v", err)
	}
	next := previous.Add(time.Second)
	if err := os.Chtimes(path, next, next); err != nil {
		t.Fatalf("touch fake store: %v", err)
	}
}

func binary(data []byte) map[string]any {
	return map[string]any{"binary": base64.StdEncoding.EncodeToString(data)}
}

// ---------------------------------------------------------------------------- the volume on disk

type diskFile struct {
	mode     os.FileMode
	contents []byte
}

// visibleFiles reads the volume as the pod sees it: every path below the user-visible
// entries (the atomic writer's "..data"/timestamp entries excluded), following the
// symlinks into the current data directory. It also checks that each top-level entry is
// the atomic writer's symlink into ..data.
func visibleFiles(t *testing.T, dir string) map[string]diskFile {
	t.Helper()
	files := map[string]diskFile{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read target dir: %v", err)
	}
	var walk func(path, rel string)
	walk = func(path, rel string) {
		info, err := os.Stat(path)
		if err != nil {
			t.Fatalf("stat %s: %v", rel, err)
		}
		if !info.IsDir() {
			data, err := os.ReadFile(path)
			if errors.Is(err, os.ErrPermission) { // a mode-0 file when not root: let the owner read it
				if err = os.Chmod(path, 0o400); err == nil {
					data, err = os.ReadFile(path)
					_ = os.Chmod(path, info.Mode().Perm())
				}
			}
			if err != nil {
				t.Fatalf("read %s: %v", rel, err)
			}
			files[rel] = diskFile{info.Mode().Perm(), data}
			return
		}
		children, err := os.ReadDir(path)
		if err != nil {
			t.Fatalf("read dir %s: %v", rel, err)
		}
		for _, child := range children {
			walk(filepath.Join(path, child.Name()), rel+"/"+child.Name())
		}
	}
	for _, entry := range entries {
		if strings.HasPrefix(entry.Name(), "..") {
			continue
		}
		top := filepath.Join(dir, entry.Name())
		link, err := os.Readlink(top)
		if err != nil || !strings.HasPrefix(link, "..data/") {
			t.Errorf("%s is not the atomic writer's symlink into ..data (readlink: %q, %v)", entry.Name(), link, err)
		}
		walk(top, entry.Name())
	}
	return files
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func digest(data []byte) string { return fmt.Sprintf("%x", sha256.Sum256(data)) }

// expectFiles compares the volume with want (path -> mode and contents), exactly.
func expectFiles(t *testing.T, dir string, want map[string]diskFile) {
	t.Helper()
	got := visibleFiles(t, dir)
	if g, w := strings.Join(sortedKeys(got), ", "), strings.Join(sortedKeys(want), ", "); g != w {
		t.Fatalf("files in the volume:\n got  %s\n want %s", g, w)
	}
	for path, w := range want {
		g := got[path]
		if g.mode != w.mode {
			t.Errorf("%s: mode %#o, want %#o", path, g.mode, w.mode)
		}
		if string(g.contents) != string(w.contents) {
			if len(w.contents) > 256 {
				t.Errorf("%s: %d bytes (sha256 %s), want %d bytes (sha256 %s)", path, len(g.contents), digest(g.contents), len(w.contents), digest(w.contents))
			} else {
				t.Errorf("%s: contents %q, want %q", path, g.contents, w.contents)
			}
		}
	}
}

func expectVersions(t *testing.T, got, want map[string]string) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("object versions:\n got  %v\n want %v", got, want)
	}
}

func expectOK(t *testing.T, r mountResult) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("mount failed (reason %q): %s", r.errorReason, podEvent(r.err))
	}
}
