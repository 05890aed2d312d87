package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
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
	hash := sha256.Sum256([]byte("k"))
	tests := []struct {
		name string
		keys []Key
		want string
	}{
		{"none", nil, "no API keys"},
		{"no name", []Key{{Key: "k"}}, "keys[0]: name is required"},
		{"no key", []Key{{Name: "a"}}, "key or sha256 is required"},
		{"both", []Key{{Name: "a", Key: "k", SHA256: hex.EncodeToString(hash[:])}}, "not both"},
		{"bad hash", []Key{{Name: "a", SHA256: "xyz"}}, "64 hexadecimal digits"},
		{"same name", []Key{{Name: "a", Key: "k"}, {Name: "a", Key: "j"}}, "keys[1] (a): the name is used twice"},
		{"same key", []Key{{Name: "a", Key: "k"}, {Name: "b", SHA256: hex.EncodeToString(hash[:])}}, "same key is configured twice"},
		{"negative rate", []Key{{Name: "a", Key: "k", RequestsPerSecond: -1}}, "requests_per_second"},
		{"negative burst", []Key{{Name: "a", Key: "k", Burst: -1}}, "burst must be >= 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.keys)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New() error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(good, []byte("keys:\n  - name: demo\n    key: secret\n    requests_per_second: 5\n    burst: 10\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	keys, err := LoadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != (Key{Name: "demo", Key: "secret", RequestsPerSecond: 5, Burst: 10}) {
		t.Errorf("LoadFile = %+v", keys)
	}
	typo := filepath.Join(dir, "typo.yaml")
	if err := os.WriteFile(typo, []byte("keys:\n  - name: demo\n    kye: secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(typo); err == nil || !strings.Contains(err.Error(), "kye") {
		t.Errorf("LoadFile(typo) error = %v, want one naming the unknown field", err)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("LoadFile(missing) succeeded")
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
	if key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, Header, key)
	}
	return g.cc.Invoke(ctx, "/polymesh.test.Guarded/Call", &emptypb.Empty{}, &emptypb.Empty{})
}

func TestKeysAndQuotas(t *testing.T) {
	hash := sha256.Sum256([]byte("hashed-secret"))
	a, err := New([]Key{
		{Name: "limited", Key: "limited-secret", RequestsPerSecond: 1, Burst: 2},
		{Name: "free", SHA256: hex.EncodeToString(hash[:])},
	})
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
