package auth

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

func TestNewRejectsBadKeys(t *testing.T) {
	k := HashKey("k")
	tests := []struct {
		name string
		keys []Key
		want string
	}{
		{"none", nil, "no API keys"},
		{"no name", []Key{{SHA256: k}}, "keys[0]: name is required"},
		{"no hash", []Key{{Name: "a"}}, "sha256 is required"},
		{"bad hash", []Key{{Name: "a", SHA256: "xyz"}}, "64 hexadecimal digits"},
		{"same name", []Key{{Name: "a", SHA256: k}, {Name: "a", SHA256: HashKey("j")}}, "keys[1] (a): the name is used twice"},
		{"same key", []Key{{Name: "a", SHA256: k}, {Name: "b", SHA256: strings.ToUpper(k)}}, "same key is configured twice"},
		{"negative rate", []Key{{Name: "a", SHA256: k, RequestsPerSecond: -1}}, "requests_per_second"},
		{"negative burst", []Key{{Name: "a", SHA256: k, Burst: -1}}, "burst must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys, Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.yaml")
	// The shared format: the gateway's fields (name, sha256, groups) and the
	// quota.
	writeFile(t, good, "keys:\n  - name: demo\n    sha256: "+HashKey("secret")+
		"\n    groups: [ai-users, users]\n    requests_per_second: 5\n    burst: 10\n")
	keys, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	want := Key{Name: "demo", SHA256: HashKey("secret"), Groups: []string{"ai-users", "users"}, RequestsPerSecond: 5, Burst: 10}
	if len(keys) != 1 || !reflect.DeepEqual(keys[0], want) {
		t.Errorf("LoadFile = %+v, want %+v", keys, want)
	}
	for name, tc := range map[string]struct{ text, want string }{
		"typo":     {"keys:\n  - name: demo\n    sha265: abc\n", "sha265"},
		"in clear": {"keys:\n  - name: demo\n    key: secret\n", "keys[0] (demo): a key in the clear is refused"},
	} {
		path := filepath.Join(dir, name+".yaml")
		writeFile(t, path, tc.text)
		if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("LoadFile(%s) error = %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadFile(missing) succeeded")
	}
}

func TestTheSharedKeyFileLoads(t *testing.T) {
	keys, err := LoadFile(filepath.Join("..", "..", "..", "..", "deploy", "auth", "api-keys.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(Header, "polymesh-demo-key"))
	ctx, err = a.Authenticate(ctx)
	if c, _ := FromContext(ctx); err != nil || c.Name != "demo" {
		t.Errorf("the demo key: caller %+v, %v; want demo", c, err)
	}
}

// guardedConn is a client of a real server whose one method,
// /polymesh.test.Guarded/Call, sits behind the interceptors, beside an
// unguarded grpc.health.v1.
type guardedConn struct {
	cc *grpc.ClientConn
}

func startGuarded(t *testing.T, a *Authenticator) guardedConn {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(a.UnaryInterceptor()), grpc.ChainStreamInterceptor(a.StreamInterceptor()))
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "polymesh.test.Guarded", HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{MethodName: "Call", Handler: func(_ any, ctx context.Context, dec func(any) error, ic grpc.UnaryServerInterceptor) (any, error) {
			in := new(emptypb.Empty)
			if err := dec(in); err != nil {
				return nil, err
			}
			info := &grpc.UnaryServerInfo{FullMethod: "/polymesh.test.Guarded/Call"}
			return ic(ctx, in, info, func(ctx context.Context, req any) (any, error) {
				if c, ok := FromContext(ctx); !ok || c.Name == "" {
					return nil, status.Error(codes.Internal, "handler ran without a caller in its context")
				}
				return &emptypb.Empty{}, nil
			})
		}}},
	}, struct{}{})
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return guardedConn{cc: cc}
}

func (g guardedConn) call(ctx context.Context, key string) error {
	return g.callWith(ctx, Header, key)
}

// callWith calls with one metadata entry (none when value is empty).
func (g guardedConn) callWith(ctx context.Context, header, value string) error {
	if value != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, header, value)
	}
	return g.cc.Invoke(ctx, "/polymesh.test.Guarded/Call", &emptypb.Empty{}, &emptypb.Empty{})
}

func TestKeysAndQuotas(t *testing.T) {
	a, err := New([]Key{
		{Name: "limited", SHA256: HashKey("limited-secret"), RequestsPerSecond: 1, Burst: 2},
		{Name: "free", SHA256: HashKey("hashed-secret")},
	}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rejected []string
	a.OnReject = func(_ context.Context, name string, code codes.Code) {
		rejected = append(rejected, name+":"+code.String())
	}
	clock := time.Unix(1000, 0)
	a.now = func() time.Time { return clock }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := startGuarded(t, a)

	for _, tc := range []struct {
		key  string
		want codes.Code
		msg  string
	}{
		{"", codes.Unauthenticated, "missing API key"},
		{"wrong", codes.Unauthenticated, "unknown API key"},
		{"hashed-secret", codes.OK, ""},
		{"limited-secret", codes.OK, ""},
		{"limited-secret", codes.OK, ""}, // the burst of 2
		{"limited-secret", codes.ResourceExhausted, `quota exceeded for API key "limited" (1 requests per second, burst 2): retry in 1s`},
		{"hashed-secret", codes.OK, ""}, // another key's quota is its own
	} {
		err := conn.call(ctx, tc.key)
		if status.Code(err) != tc.want || !strings.Contains(status.Convert(err).Message(), tc.msg) {
			t.Fatalf("key %q: %v, want %v %q", tc.key, err, tc.want, tc.msg)
		}
		if tc.want == codes.ResourceExhausted {
			var retry *errdetails.RetryInfo
			var quota *errdetails.QuotaFailure
			for _, d := range status.Convert(err).Details() {
				switch d := d.(type) {
				case *errdetails.RetryInfo:
					retry = d
				case *errdetails.QuotaFailure:
					quota = d
				}
			}
			if retry == nil || retry.GetRetryDelay().AsDuration() != time.Second {
				t.Errorf("RetryInfo = %v, want a delay of 1s", retry)
			}
			if quota == nil || quota.GetViolations()[0].GetSubject() != "api_key:limited" {
				t.Errorf("QuotaFailure = %v, want subject api_key:limited", quota)
			}
		}
	}
	clock = clock.Add(time.Second) // one token back
	if err := conn.call(ctx, "limited-secret"); err != nil {
		t.Fatalf("after 1s: %v, want admitted", err)
	}
	if err := conn.call(ctx, "limited-secret"); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("second call after 1s: %v, want RESOURCE_EXHAUSTED", err)
	}
	if want := ":Unauthenticated :Unauthenticated limited:ResourceExhausted limited:ResourceExhausted"; strings.Join(rejected, " ") != want {
		t.Errorf("OnReject saw %v, want %s", rejected, want)
	}
	// Health needs no key.
	if _, err := healthpb.NewHealthClient(conn.cc).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Errorf("health without a key: %v", err)
	}
}

func TestTrustedPrincipalHeader(t *testing.T) {
	a, err := New([]Key{
		{Name: "limited", SHA256: HashKey("limited-secret"), RequestsPerSecond: 1, Burst: 1},
	}, Options{TrustPrincipalHeader: true})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	a.now = func() time.Time { return clock }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := startGuarded(t, a)
	for _, tc := range []struct {
		name, header, value string
		want                codes.Code
	}{
		{"no principal", "", "", codes.Unauthenticated},
		// The key is the gateway's to check: here it identifies nobody.
		{"a key, no principal", Header, "limited-secret", codes.Unauthenticated},
		{"the principal", PrincipalHeader, "limited", codes.OK},
		{"its quota", PrincipalHeader, "limited", codes.ResourceExhausted},
		// Admitted by the gateway, with no quota here.
		{"a principal the file does not name", PrincipalHeader, "spiffe://polymesh.local/operator", codes.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := conn.callWith(ctx, tc.header, tc.value); status.Code(err) != tc.want {
				t.Errorf("%s: %s: %v, want %v", tc.header, tc.value, err, tc.want)
			}
		})
	}
}

func TestReloadKeepsTheBucketsOfUnchangedQuotas(t *testing.T) {
	limited := Key{Name: "limited", SHA256: HashKey("limited-secret"), RequestsPerSecond: 1, Burst: 1}
	a, err := New([]Key{limited}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1000, 0)
	a.now = func() time.Time { return clock }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn := startGuarded(t, a)
	if err := conn.call(ctx, "limited-secret"); err != nil {
		t.Fatal(err)
	}
	added := Key{Name: "new", SHA256: HashKey("new-secret")}
	if err := a.Reload([]Key{limited, added}); err != nil {
		t.Fatal(err)
	}
	if err := conn.call(ctx, "limited-secret"); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("after a reload: %v, want the same bucket, empty", err)
	}
	if err := conn.call(ctx, "new-secret"); err != nil {
		t.Errorf("a key added by the reload: %v", err)
	}
	if err := a.Reload([]Key{{Name: "bad", SHA256: "xyz"}}); err == nil {
		t.Fatal("Reload of a bad key succeeded")
	}
	if err := conn.call(ctx, "new-secret"); err != nil {
		t.Errorf("after a failed reload: %v, want the keys in use kept", err)
	}
}

func TestWatchFileReloadsAnEditedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeFile(t, path, "keys:\n  - name: old\n    sha256: "+HashKey("old-secret")+"\n")
	keys, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(keys, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.WatchFile(ctx, path, 10*time.Millisecond, slog.New(slog.DiscardHandler))
	}()
	conn := startGuarded(t, a)
	// A rotation: the old key goes, a new one comes (a longer file, so the
	// change shows even within the file system's time resolution).
	writeFile(t, path, "keys:\n  - name: rotated\n    sha256: "+HashKey("rotated-secret")+"\n    groups: [ai-users]\n")
	for conn.call(ctx, "rotated-secret") != nil {
		if ctx.Err() != nil {
			t.Fatal("the edited key file was not reloaded")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := conn.call(ctx, "old-secret"); status.Code(err) != codes.Unauthenticated {
		t.Errorf("the rotated-out key: %v, want UNAUTHENTICATED", err)
	}
	cancel()
	<-done
}
