package interop

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	internalerrors "sigs.k8s.io/secrets-store-csi-driver/pkg/errors"
	secretsstore "sigs.k8s.io/secrets-store-csi-driver/pkg/secrets-store"
	"sigs.k8s.io/secrets-store-csi-driver/provider/v1alpha1"
)

const (
	mib = 1024 * 1024
	// planted in the store next to failing objects; must never appear in an error
	plantedValue = "planted-secret-value-must-not-leak"
)

// pseudoRandom returns n deterministic bytes (fixed seed): binary content, not UTF-8.
func pseudoRandom(n int, seed byte) []byte {
	data := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(data)
	return data
}

// TestVersion: the driver's health check (secretsstore.Version, 5 s timeout like
// PluginClientBuilder.HealthCheck) and the raw VersionResponse fields.
func TestVersion(t *testing.T) {
	d := mainDriver(t)
	want := requireEnv(t, envVersion)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	runtimeVersion, err := secretsstore.Version(ctx, d.client)
	if err != nil {
		t.Fatalf("secretsstore.Version: %v", err)
	}
	if runtimeVersion != want {
		t.Errorf("runtime version %q, want %q", runtimeVersion, want)
	}

	resp, err := d.client.Version(ctx, &v1alpha1.VersionRequest{Version: "v1alpha1"})
	if err != nil {
		t.Fatalf("Version RPC: %v", err)
	}
	if resp.GetVersion() != "v1alpha1" || resp.GetRuntimeName() != d.provider || resp.GetRuntimeVersion() != want {
		t.Errorf("VersionResponse = {version %q, runtime_name %q, runtime_version %q}, want {v1alpha1, %q, %q}",
			resp.GetVersion(), resp.GetRuntimeName(), resp.GetRuntimeVersion(), d.provider, want)
	}
}

// TestMountNestedPathsAndModes: a successful mount with nested paths (path translation
// off, aliases with directories, JMESPath files, keys expanded into a directory), binary
// content and explicit modes, written by the driver's atomic writer and checked on disk.
func TestMountNestedPathsAndModes(t *testing.T) {
	d := mainDriver(t)
	tlsKey := append([]byte{0xff, 0xfe, 0x00}, pseudoRandom(509, 1)...)
	writeStore(t, map[string]any{
		"app/db":      map[string]any{"value": `{"username": "app", "password": "correct-horse"}`, "version": "v7"},
		"app/api-key": "key-123",
		"app/tls":     binary(tlsKey),
		"app/flags":   `{"newCheckout": "on", "darkMode": "off"}`,
		"app/locked":  "locked",
	})
	params := spc([]object{
		{"objectName": "app/db", "objectType": "fake", "objectAlias": "config/db.json", "filePermission": "0640",
			"jmesPath": []object{
				{"path": "username", "objectAlias": "config/creds/username", "filePermission": "0600"},
				{"path": "password", "objectAlias": "config/creds/password", "filePermission": "0400"},
			}},
		{"objectName": "app/api-key", "objectType": "fake"}, // no alias: "app/api-key" with the request's 0644
		{"objectName": "app/tls", "objectType": "fake", "objectAlias": "tls/tls.key", "filePermission": "0440"},
		{"objectName": "app/flags", "objectType": "fake", "objectAlias": "flags", "expandKeys": "directory"},
		{"objectName": "app/locked", "objectType": "fake", "objectAlias": "locked.txt", "filePermission": "0000"},
	}, "pathTranslation", "False")
	target := t.TempDir()

	r := d.mount(t, params, target, nil)
	expectOK(t, r)
	if r.errorReason != "" {
		t.Errorf("error reason %q on success", r.errorReason)
	}
	expectFiles(t, target, map[string]diskFile{
		"config/db.json":        {0o640, []byte(`{"username": "app", "password": "correct-horse"}`)},
		"config/creds/username": {0o600, []byte("app")},
		"config/creds/password": {0o400, []byte("correct-horse")},
		"app/api-key":           {0o644, []byte("key-123")},
		"tls/tls.key":           {0o440, tlsKey},
		"flags/newCheckout":     {0o644, []byte("on")},
		"flags/darkMode":        {0o644, []byte("off")},
		"locked.txt":            {0o000, []byte("locked")}, // mode 0 is proto3's default: omitted on the wire, still 0
	})
	expectVersions(t, r.versions, map[string]string{
		"config/db.json": "v7", "config/creds/username": "v7", "config/creds/password": "v7",
		"app/api-key": "1", "tls/tls.key": "1", "flags/newCheckout": "1", "flags/darkMode": "1", "locked.txt": "1",
	})
	if n := d.counter.mounts(); n != 1 {
		t.Errorf("%d Mount attempts, want 1", n)
	}
}

type errorCase struct {
	name     string
	params   map[string]string
	code     codes.Code
	desc     []string // substrings of the status message (what the pod event shows after "desc = ")
	attempts int      // Mount attempts the driver makes: it retries only UNAVAILABLE (3 attempts)
}

// TestMountErrors: every error class through the driver's client, checking the status
// code, the FailedMount event text, that nothing was written, that no secret or token
// leaks into the text, and how often the driver called (its retry policy).
func TestMountErrors(t *testing.T) {
	socket := requireEnv(t, envSocket)
	writeStore(t, map[string]any{
		"err/ok":          plantedValue,
		"err/versioned":   map[string]any{"value": plantedValue, "version": "v1"},
		"err/unavailable": map[string]any{"value": plantedValue, "faults": map[string]any{"error": "unavailable"}},
		"err/throttled":   map[string]any{"value": plantedValue, "faults": map[string]any{"error": "throttled"}},
		"err/denied":      map[string]any{"value": plantedValue, "faults": map[string]any{"error": "denied"}},
		"err/invalid":     map[string]any{"value": plantedValue, "faults": map[string]any{"error": "invalid"}},
		"err/notfound":    map[string]any{"value": plantedValue, "faults": map[string]any{"error": "notfound"}},
		"err/quota":       map[string]any{"value": plantedValue, "faults": map[string]any{"error": "quota"}},
		"err/hang":        map[string]any{"value": plantedValue, "faults": map[string]any{"error": "hang"}},
		"err/big-1":       binary(pseudoRandom(5*mib/2, 2)),
		"err/big-2":       binary(pseudoRandom(5*mib/2, 3)),
	})
	fake := func(name string, more ...any) object {
		o := object{"objectName": name, "objectType": "fake"}
		for i := 0; i+1 < len(more); i += 2 {
			o[more[i].(string)] = more[i+1]
		}
		return o
	}
	ok := fake("err/ok")

	cases := []errorCase{
		{name: "InvalidArgument/unknown-object-type",
			params: spc([]object{ok, {"objectName": "err/x", "objectType": "nosuch"}}),
			code:   codes.InvalidArgument, desc: []string{`objects[1] "err/x"`, "Invalid objectType: nosuch"}, attempts: 1},
		{name: "InvalidArgument/no-objects", // an empty response would fail in the driver as "missing object versions"
			params: map[string]string{},
			code:   codes.InvalidArgument, desc: []string{`"objects" is missing or empty`}, attempts: 1},
		{name: "InvalidArgument/objects-not-yaml",
			params: map[string]string{"objects": "- {objectName: [err/ok"},
			code:   codes.InvalidArgument, desc: []string{"Failed to load SecretProviderClass"}, attempts: 1},
		{name: "InvalidArgument/alias-escapes-volume",
			params: spc([]object{ok, fake("err/versioned", "objectAlias", "../escape")}, "pathTranslation", "False"),
			code:   codes.InvalidArgument, desc: []string{`objects[1] "err/versioned"`, "../escape"}, attempts: 1},
		{name: "InvalidArgument/alias-translated-into-drivers-reserved-name",
			params: spc([]object{ok, fake("err/versioned", "objectAlias", "../escape")}),
			code:   codes.InvalidArgument, desc: []string{`objects[1] "err/versioned"`, `".._escape"`}, attempts: 1},
		{name: "InvalidArgument/alias-is-the-drivers-data-dir",
			params: spc([]object{ok, fake("err/versioned", "objectAlias", "..data")}),
			code:   codes.InvalidArgument, desc: []string{`objects[1] "err/versioned"`, `"..data"`}, attempts: 1},
		{name: "InvalidArgument/bad-file-permission",
			params: spc([]object{fake("err/ok", "filePermission", "644")}),
			code:   codes.InvalidArgument, desc: []string{`"err/ok"`}, attempts: 1},
		{name: "InvalidArgument/bad-fakeSecrets-parameter",
			params: spc([]object{ok}, "fakeSecrets", "secrets: [unclosed"),
			code:   codes.InvalidArgument, desc: []string{"fakeSecrets"}, attempts: 1},
		{name: "InvalidArgument/backend-refuses",
			params: spc([]object{ok, fake("err/invalid")}),
			code:   codes.InvalidArgument, desc: []string{`"err/invalid" (fake @ local)`, "injected fault: invalid request"}, attempts: 1},
		{name: "NotFound/no-such-secret",
			params: spc([]object{ok, fake("err/missing")}),
			code:   codes.NotFound, desc: []string{`"err/missing" (fake @ local)`, `no fake secret named "err/missing"`}, attempts: 1},
		{name: "NotFound/no-such-version",
			params: spc([]object{fake("err/versioned", "objectVersion", "v9")}),
			code:   codes.NotFound, desc: []string{`"err/versioned"`, `has no version "v9"`}, attempts: 1},
		{name: "NotFound/backend-says-so",
			params: spc([]object{fake("err/notfound")}),
			code:   codes.NotFound, desc: []string{`"err/notfound" (fake @ local)`, "injected fault: not found"}, attempts: 1},
		{name: "NotFound/inline-fakeSecrets-missing-name",
			params: spc([]object{fake("inline/absent")}, "fakeSecrets", mustJSON(map[string]any{"secrets": map[string]any{"inline/present": plantedValue}})),
			code:   codes.NotFound, desc: []string{`no fake secret named "inline/absent"`}, attempts: 1},
		{name: "PermissionDenied/backend-denies",
			params: spc([]object{ok, fake("err/denied")}),
			code:   codes.PermissionDenied, desc: []string{`"err/denied" (fake @ local)`, "injected fault: access denied"}, attempts: 1},
		{name: "Unavailable/backend-unavailable",
			params: spc([]object{ok, fake("err/unavailable")}),
			code:   codes.Unavailable, desc: []string{`"err/unavailable" (fake @ local)`, "injected fault: service unavailable"}, attempts: 3},
		{name: "Unavailable/backend-throttles",
			params: spc([]object{fake("err/throttled")}),
			code:   codes.Unavailable, desc: []string{`"err/throttled"`, "throttled"}, attempts: 3},
		{name: "DeadlineExceeded/backend-hangs",
			params: spc([]object{ok, fake("err/hang")}),
			code:   codes.DeadlineExceeded, desc: []string{`"err/hang" (fake @ local)`, "no answer from fake within 1s"}, attempts: 1},
		{name: "ResourceExhausted/backend-quota",
			params: spc([]object{ok, fake("err/quota")}),
			code:   codes.ResourceExhausted, desc: []string{`"err/quota" (fake @ local)`, "injected fault: quota exceeded"}, attempts: 1},
		{name: "ResourceExhausted/response-over-4MiB",
			params: spc([]object{fake("err/big-1"), fake("err/big-2")}),
			code:   codes.ResourceExhausted, desc: []string{"above the limit of 4194304 bytes", `"err_big-1"`, `"err_big-2"`}, attempts: 1},
		{name: "Internal/backend-crashes",
			params: spc([]object{ok, {"objectName": "err/crash", "objectType": "crash"}}),
			code:   codes.Internal, desc: []string{"backend crash failed unexpectedly"}, attempts: 1},
		{name: "NotFound/outranks-Unavailable-so-no-retry",
			params: spc([]object{ok, fake("err/unavailable"), fake("err/missing")}),
			code:   codes.NotFound, desc: []string{"2 of 3 objects failed", `"err/unavailable"`, `"err/missing"`}, attempts: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := newDriver(t, socket) // a fresh attempt counter per case
			target := t.TempDir()
			r := d.mount(t, tc.params, target, nil)
			if r.err == nil {
				t.Fatalf("mount succeeded, want %s (versions %v)", tc.code, r.versions)
			}
			event := podEvent(r.err)
			t.Logf("pod event: %s", event)
			if got := status.Code(r.err); got != tc.code {
				t.Errorf("status code %s, want %s", got, tc.code)
			}
			if r.errorReason != internalerrors.GRPCProviderError {
				t.Errorf("error reason (driver metric label) %q, want %q", r.errorReason, internalerrors.GRPCProviderError)
			}
			// The driver's gRPC client reports retries it gave up on (grpc-go stream.go).
			retries := ""
			if tc.attempts > 1 {
				retries = fmt.Sprintf("max retries exhausted: failed after %d attempts: ", tc.attempts)
			}
			prefix := "failed to mount secrets store objects for pod " + podNamespace + "/" + podName +
				", err: " + retries + "rpc error: code = " + tc.code.String() + " desc = "
			if !strings.Contains(event, prefix) {
				t.Errorf("event lacks %q", prefix)
			}
			desc := status.Convert(r.err).Message()
			for _, want := range tc.desc {
				if !strings.Contains(desc, want) {
					t.Errorf("message lacks %q", want)
				}
			}
			for _, secret := range []string{plantedValue, plantedToken} {
				if strings.Contains(event, secret) {
					t.Errorf("event leaks %q", secret)
				}
			}
			if entries, _ := os.ReadDir(target); len(entries) != 0 {
				t.Errorf("the driver wrote %d entries into the volume of a failed mount", len(entries))
			}
			if n := d.counter.mounts(); n != tc.attempts {
				t.Errorf("%d Mount attempts, want %d", n, tc.attempts)
			}
		})
	}
}

// TestLargeResponse: a 3.5 MiB file passes the driver's 4 MiB receive limit and is
// written intact.
func TestLargeResponse(t *testing.T) {
	d := mainDriver(t)
	big := pseudoRandom(7*mib/2, 4)
	writeStore(t, map[string]any{"big/blob": binary(big), "big/small": "small"})
	target := t.TempDir()
	r := d.mount(t, spc([]object{
		{"objectName": "big/blob", "objectType": "fake", "objectAlias": "blob.bin"},
		{"objectName": "big/small", "objectType": "fake", "objectAlias": "small.txt"},
	}), target, nil)
	expectOK(t, r)
	expectFiles(t, target, map[string]diskFile{"blob.bin": {0o644, big}, "small.txt": {0o644, []byte("small")}})
	expectVersions(t, r.versions, map[string]string{"blob.bin": "1", "small.txt": "1"})
}

// TestResponseSizeBoundary: the gateway's size accounting agrees with the driver's to the
// byte. A response of exactly 4 MiB (measured with proto.Size on what the driver
// received) mounts; one byte more is refused by the gateway itself with a readable
// ResourceExhausted instead of gRPC's generic "received message larger than max".
func TestResponseSizeBoundary(t *testing.T) {
	d := mainDriver(t)
	params := spc([]object{{"objectName": "edge/blob", "objectType": "fake", "objectAlias": "edge.bin"}})

	// Probe: the response overhead around one file of 3 MiB (same varint widths as at 4 MiB).
	const probe = 3 * mib
	writeStore(t, map[string]any{"edge/blob": binary(pseudoRandom(probe, 5))})
	resp, err := d.client.Mount(context.Background(), &v1alpha1.MountRequest{
		Attributes: attributes(params), Secrets: noNodePublishSecrets, TargetPath: t.TempDir(), Permission: defaultPermission,
	})
	if err != nil {
		t.Fatalf("probe mount: %v", err)
	}
	overhead := proto.Size(resp) - probe
	atLimit := driverMaxRecvMsgSize - overhead

	for _, tc := range []struct {
		name string
		size int
		code codes.Code
	}{
		{"exactly-4MiB-mounts", atLimit, codes.OK},
		{"one-byte-over-is-refused-by-the-gateway", atLimit + 1, codes.ResourceExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := pseudoRandom(tc.size, 6)
			writeStore(t, map[string]any{"edge/blob": binary(data)})
			target := t.TempDir()
			r := d.mount(t, params, target, nil)
			if tc.code == codes.OK {
				expectOK(t, r)
				expectFiles(t, target, map[string]diskFile{"edge.bin": {0o644, data}})
				return
			}
			if status.Code(r.err) != tc.code {
				t.Fatalf("got %v, want %s", r.err, tc.code)
			}
			msg := status.Convert(r.err).Message()
			if !strings.Contains(msg, "would be 4194305 bytes, above the limit of 4194304 bytes") {
				t.Errorf("not the gateway's own size message: %s", podEvent(r.err))
			}
		})
	}
}

// TestDriverReceiveLimit: what happens without the gateway's own limit (a gateway started
// with a higher --max-response-bytes): the driver's client refuses the response with
// gRPC's generic message and writes nothing. This is the failure the gateway's default
// limit turns into a message naming the files.
func TestDriverReceiveLimit(t *testing.T) {
	d := newDriver(t, requireEnv(t, envUnlimitedSocket))
	writeStore(t, map[string]any{"over/a": binary(pseudoRandom(5*mib/2, 7)), "over/b": binary(pseudoRandom(5*mib/2, 8))})
	target := t.TempDir()
	r := d.mount(t, spc([]object{{"objectName": "over/a", "objectType": "fake"}, {"objectName": "over/b", "objectType": "fake"}}), target, nil)
	if status.Code(r.err) != codes.ResourceExhausted {
		t.Fatalf("got %v, want ResourceExhausted from the driver's receive limit", r.err)
	}
	if msg := status.Convert(r.err).Message(); !strings.Contains(msg, "grpc: received message larger than max") || !strings.Contains(msg, "vs. 4194304") {
		t.Errorf("not gRPC's receive-limit error: %s", msg)
	}
	if entries, _ := os.ReadDir(target); len(entries) != 0 {
		t.Errorf("the driver wrote %d entries into the volume of a failed mount", len(entries))
	}
}

// TestRotation: remounts into the same volume, as the driver's rotation does: content
// changes, files of objects removed from the SecretProviderClass are deleted (nested
// directories too), a failed remount leaves the previous content, and the v1.5 request
// shape (current object versions sent) gets the full file set as well.
func TestRotation(t *testing.T) {
	d := mainDriver(t)
	target := t.TempDir()
	objA := object{"objectName": "rot/a", "objectType": "fake", "objectAlias": "dir/a.txt"}
	objB := object{"objectName": "rot/b", "objectType": "fake", "objectAlias": "b.txt", "filePermission": "0600"}
	objC := object{"objectName": "rot/c", "objectType": "fake", "objectAlias": "c.txt"}
	versioned := func(entries ...[3]string) map[string]any { // {id, value, label}
		versions := []map[string]any{}
		for _, e := range entries {
			versions = append(versions, map[string]any{"id": e[0], "value": e[1], "labels": []string{e[2]}})
		}
		return map[string]any{"versions": versions}
	}

	steps := []struct {
		name        string
		store       map[string]any // nil: unchanged
		objects     []object
		oldVersions bool // send the previous versions, as driver v1.5 did
		wantErr     codes.Code
		files       map[string]diskFile
		versions    map[string]string
	}{
		{name: "first-mount",
			store:    map[string]any{"rot/a": versioned([3]string{"v1", "alpha-1", "AWSCURRENT"}), "rot/b": "bravo", "rot/c": "charlie"},
			objects:  []object{objA, objB},
			files:    map[string]diskFile{"dir/a.txt": {0o644, []byte("alpha-1")}, "b.txt": {0o600, []byte("bravo")}},
			versions: map[string]string{"dir/a.txt": "v1", "b.txt": "1"}},
		{name: "content-changes",
			store: map[string]any{"rot/a": versioned([3]string{"v1", "alpha-1", "AWSPREVIOUS"}, [3]string{"v2", "alpha-2", "AWSCURRENT"}),
				"rot/b": "bravo", "rot/c": "charlie"},
			objects:  []object{objA, objB},
			files:    map[string]diskFile{"dir/a.txt": {0o644, []byte("alpha-2")}, "b.txt": {0o600, []byte("bravo")}},
			versions: map[string]string{"dir/a.txt": "v2", "b.txt": "1"}},
		{name: "v1.5-request-with-current-versions-gets-full-set",
			objects: []object{objA, objB}, oldVersions: true,
			files:    map[string]diskFile{"dir/a.txt": {0o644, []byte("alpha-2")}, "b.txt": {0o600, []byte("bravo")}},
			versions: map[string]string{"dir/a.txt": "v2", "b.txt": "1"}},
		{name: "failed-remount-keeps-previous-files",
			store:   map[string]any{"rot/b": "bravo", "rot/c": "charlie"}, // rot/a is gone
			objects: []object{objA, objB}, wantErr: codes.NotFound,
			files: map[string]diskFile{"dir/a.txt": {0o644, []byte("alpha-2")}, "b.txt": {0o600, []byte("bravo")}}},
		{name: "object-removed-from-spc-is-deleted",
			store:    map[string]any{"rot/a": versioned([3]string{"v3", "alpha-3", "AWSCURRENT"}), "rot/b": "bravo", "rot/c": "charlie"},
			objects:  []object{objA},
			files:    map[string]diskFile{"dir/a.txt": {0o644, []byte("alpha-3")}},
			versions: map[string]string{"dir/a.txt": "v3"}},
		{name: "nested-directory-removed-object-added",
			objects:  []object{objC},
			files:    map[string]diskFile{"c.txt": {0o644, []byte("charlie")}},
			versions: map[string]string{"c.txt": "1"}},
	}
	var previous map[string]string
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.store != nil {
				writeStore(t, step.store)
			}
			var old map[string]string
			if step.oldVersions {
				old = previous
				if len(old) == 0 {
					t.Fatal("no previous versions to send")
				}
			}
			r := d.mount(t, spc(step.objects, "pathTranslation", "False"), target, old)
			if step.wantErr != codes.OK {
				if status.Code(r.err) != step.wantErr {
					t.Fatalf("got %v, want %s", r.err, step.wantErr)
				}
			} else {
				expectOK(t, r)
				expectVersions(t, r.versions, step.versions)
				previous = r.versions
			}
			expectFiles(t, target, step.files)
			if step.name == "nested-directory-removed-object-added" {
				if _, err := os.Lstat(filepath.Join(target, "dir")); !os.IsNotExist(err) {
					t.Errorf("directory dir/ still visible after its only file's object was removed (%v)", err)
				}
			}
		})
		if t.Failed() {
			return // later steps build on this one
		}
	}
}

// TestSocketRemovedAfterStop (run after the gateway stopped): the driver finds no socket
// and fails the mount at once with "provider not found", instead of blocking on a stale
// socket until kubelet's deadline.
func TestSocketRemovedAfterStop(t *testing.T) {
	socket := requireEnv(t, envStoppedSocket)
	provider := strings.TrimSuffix(filepath.Base(socket), ".sock")
	builder := secretsstore.NewPluginClientBuilder([]string{filepath.Dir(socket)})
	defer builder.Cleanup()
	_, err := builder.Get(context.Background(), provider)
	if err == nil || !strings.Contains(err.Error(), `provider not found: provider "`+provider+`"`) {
		t.Fatalf("PluginClientBuilder.Get after the gateway stopped: %v, want provider not found", err)
	}
}
