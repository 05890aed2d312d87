// Package auth identifies the callers of the AI API and holds each to its
// quota.
//
// A caller is identified in one of two ways:
//
//   - by the API key in its `x-api-key` metadata (the default), looked up by
//     its SHA-256 in the key file;
//   - by the principal the gateway forwards in `x-polymesh-principal`
//     (Options.TrustPrincipalHeader), when the gateway has already checked
//     the caller's credential: the gateway sets that header itself and strips
//     it from clients, so the AI API must then be reachable through the
//     gateway only. The key file then gives the quota of each name.
//
// Keys come from a YAML file, the one the gateway reads too
// (deploy/auth/api-keys.yaml):
//
//	keys:
//	  - name: demo                  # who the caller is, in logs and metrics
//	    sha256: 5e884898da...       # hex SHA-256 of the key: printf %s "$KEY" | sha256sum
//	    groups: [ai-users]          # for the gateway's routes; not used here
//	    requests_per_second: 50     # sustained rate; 0 or none: unlimited
//	    burst: 100                  # calls allowed at once (default: the rate, at least 1)
//
// A key in the clear (`key:`) is refused, as the gateway refuses it.
//
// A call without a key (or principal), or with a key that is not
// configured, is UNAUTHENTICATED. A principal the file does not name has no
// quota of its own (the gateway's rate limit still applies to it). A call
// over its quota is RESOURCE_EXHAUSTED with a google.rpc.RetryInfo detail
// saying when a call would be admitted and a google.rpc.QuotaFailure detail
// naming the quota. Reload and WatchFile replace the keys while serving; a
// key whose quota did not change keeps its bucket.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Header is the metadata key callers put their API key in.
const Header = "x-api-key"

// PrincipalHeader is the metadata key the gateway forwards the caller's
// principal in, after checking its credential.
const PrincipalHeader = "x-polymesh-principal"

// Key is one entry of the key file: a caller and its quota.
type Key struct {
	Name              string   `yaml:"name"`
	SHA256            string   `yaml:"sha256"`
	Groups            []string `yaml:"groups"`
	RequestsPerSecond float64  `yaml:"requests_per_second"`
	Burst             int      `yaml:"burst"`
}

// fileKey is an entry as written, with the field this package refuses.
type fileKey struct {
	Key   `yaml:",inline"`
	Clear string `yaml:"key"`
}

type file struct {
	Keys []fileKey `yaml:"keys"`
}

// HashKey is the hex SHA-256 of an API key, as the key file holds it.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// LoadFile reads the keys of a YAML key file. Unknown fields, and keys in
// the clear, are errors.
func LoadFile(path string) ([]Key, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("API key file: %w", err)
	}
	var f file
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("API key file %s: %w", path, err)
	}
	keys := make([]Key, 0, len(f.Keys))
	for i, k := range f.Keys {
		if k.Clear != "" {
			return nil, fmt.Errorf("API key file %s: keys[%d] (%s): a key in the clear is refused; give its sha256 (printf %%s \"$KEY\" | sha256sum)", path, i, k.Name)
		}
		keys = append(keys, k.Key)
	}
	return keys, nil
}

// Options change how an Authenticator identifies callers.
type Options struct {
	// TrustPrincipalHeader identifies callers by the gateway's
	// x-polymesh-principal header instead of their API key.
	TrustPrincipalHeader bool
}

// Caller is the identity a call was admitted with.
type Caller struct {
	// Name is the configured name of the caller's key, or the principal the
	// gateway forwarded.
	Name string
}

type callerKey struct{}

// FromContext returns the caller of a call admitted by an Authenticator.
func FromContext(ctx context.Context) (Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok {
		return Caller{}, false
	}
	return Caller{Name: c.name}, true
}

type caller struct {
	name    string
	limiter *rate.Limiter // nil: unlimited
	quota   string        // the quota, in words
	rps     float64
	burst   int
}

// table is one generation of keys.
type table struct {
	keys   []Key
	byHash map[[sha256.Size]byte]*caller
	byName map[string]*caller
}

// Authenticator admits calls by API key (or forwarded principal) and quota.
// Its methods are safe for concurrent use.
type Authenticator struct {
	keys  atomic.Pointer[table]
	trust bool
	now   func() time.Time
	// OnReject, if set, is told of every call turned away: the caller's
	// name (empty when unknown) and the status code.
	OnReject func(ctx context.Context, name string, code codes.Code)
}

// New checks the keys and returns their Authenticator.
func New(keys []Key, opts Options) (*Authenticator, error) {
	a := &Authenticator{trust: opts.TrustPrincipalHeader, now: time.Now}
	if err := a.Reload(keys); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload checks keys and, if they are good, serves them from now on; a
// caller whose name and quota are unchanged keeps its bucket. On an error
// the keys in use stay.
func (a *Authenticator) Reload(keys []Key) error {
	if len(keys) == 0 {
		return errors.New("no API keys configured")
	}
	old := a.keys.Load()
	t := &table{keys: slices.Clone(keys), byHash: map[[sha256.Size]byte]*caller{}, byName: map[string]*caller{}}
	for i, k := range keys {
		where := fmt.Sprintf("keys[%d]", i)
		if k.Name == "" {
			return fmt.Errorf("%s: name is required", where)
		}
		where = fmt.Sprintf("%s (%s)", where, k.Name)
		if _, dup := t.byName[k.Name]; dup {
			return fmt.Errorf("%s: the name is used twice", where)
		}
		if k.SHA256 == "" {
			return fmt.Errorf("%s: sha256 is required", where)
		}
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return fmt.Errorf("%s: sha256 must be 64 hexadecimal digits", where)
		}
		var hash [sha256.Size]byte
		copy(hash[:], raw)
		if _, dup := t.byHash[hash]; dup {
			return fmt.Errorf("%s: the same key is configured twice", where)
		}
		if k.RequestsPerSecond < 0 || math.IsNaN(k.RequestsPerSecond) || math.IsInf(k.RequestsPerSecond, 0) {
			return fmt.Errorf("%s: requests_per_second must be a number >= 0", where)
		}
		if k.Burst < 0 {
			return fmt.Errorf("%s: burst must be >= 0", where)
		}
		c := &caller{name: k.Name, quota: "unlimited", rps: k.RequestsPerSecond, burst: k.Burst}
		if old != nil {
			if prev, ok := old.byName[k.Name]; ok && prev.rps == c.rps && prev.burst == c.burst {
				c = prev
			}
		}
		if c.limiter == nil && k.RequestsPerSecond > 0 {
			burst := k.Burst
			if burst == 0 {
				burst = max(1, int(math.Ceil(k.RequestsPerSecond)))
			}
			c.limiter = rate.NewLimiter(rate.Limit(k.RequestsPerSecond), burst)
			c.quota = fmt.Sprintf("%g requests per second, burst %d", k.RequestsPerSecond, burst)
		}
		t.byHash[hash] = c
		t.byName[k.Name] = c
	}
	a.keys.Store(t)
	return nil
}

// WatchFile reloads the key file at path whenever its modification time or
// size changes (and at its first check), checking every interval, until ctx
// ends; keys equal to those in use are left as they are. A file that does
// not load is logged and the keys in use stay.
func (a *Authenticator) WatchFile(ctx context.Context, path string, interval time.Duration, log *slog.Logger) {
	stamp := func() (time.Time, int64) {
		st, err := os.Stat(path)
		if err != nil {
			return time.Time{}, -1
		}
		return st.ModTime(), st.Size()
	}
	mtime, size := time.Time{}, int64(-2) // no stamp: the first check loads
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		m, s := stamp()
		if m.Equal(mtime) && s == size {
			continue
		}
		mtime, size = m, s
		keys, err := LoadFile(path)
		if err == nil && reflect.DeepEqual(keys, a.keys.Load().keys) {
			continue
		}
		if err == nil {
			err = a.Reload(keys)
		}
		if err != nil {
			log.ErrorContext(ctx, "API key file not reloaded; the keys in use stay", "file", path, "error", err)
			continue
		}
		log.InfoContext(ctx, "API keys reloaded", "file", path, "keys", len(keys))
	}
}

// Authenticate identifies the caller of ctx's call without charging its
// quota, and returns ctx carrying it.
func (a *Authenticator) Authenticate(ctx context.Context) (context.Context, error) {
	t := a.keys.Load()
	if a.trust {
		values := metadata.ValueFromIncomingContext(ctx, PrincipalHeader)
		if len(values) == 0 || values[0] == "" {
			return ctx, a.reject(ctx, "", status.New(codes.Unauthenticated,
				"no caller: calls reach the AI API through the gateway, which names the caller"))
		}
		c, ok := t.byName[values[0]]
		if !ok {
			// Admitted by the gateway, with no quota of its own here.
			c = &caller{name: values[0], quota: "unlimited"}
		}
		return context.WithValue(ctx, callerKey{}, c), nil
	}
	values := metadata.ValueFromIncomingContext(ctx, Header)
	if len(values) == 0 || values[0] == "" {
		return ctx, a.reject(ctx, "", status.New(codes.Unauthenticated,
			"missing API key: send it in the x-api-key metadata header"))
	}
	c, ok := t.byHash[sha256.Sum256([]byte(values[0]))]
	if !ok {
		return ctx, a.reject(ctx, "", status.New(codes.Unauthenticated, "unknown API key"))
	}
	return context.WithValue(ctx, callerKey{}, c), nil
}

// Charge takes one request from the quota of ctx's caller (see
// Authenticate). Over quota, it answers RESOURCE_EXHAUSTED with RetryInfo.
func (a *Authenticator) Charge(ctx context.Context) error {
	c, ok := ctx.Value(callerKey{}).(*caller)
	if !ok {
		return status.Error(codes.Unauthenticated, "call not authenticated")
	}
	if c.limiter == nil {
		return nil
	}
	now := a.now()
	r := c.limiter.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay == 0 {
		return nil
	}
	r.CancelAt(now) // the call is refused, so it uses no token
	st := status.New(codes.ResourceExhausted, fmt.Sprintf(
		"quota exceeded for API key %q (%s): retry in %s", c.name, c.quota, delay.Round(time.Millisecond)))
	st, err := st.WithDetails(
		&errdetails.RetryInfo{RetryDelay: durationpb.New(delay)},
		&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{
			Subject:     "api_key:" + c.name,
			Description: c.quota,
		}}},
	)
	if err != nil {
		return status.Errorf(codes.Internal, "quota detail: %v", err)
	}
	return a.reject(ctx, c.name, st)
}

func (a *Authenticator) reject(ctx context.Context, name string, st *status.Status) error {
	if a.OnReject != nil {
		a.OnReject(ctx, name, st.Code())
	}
	return st.Err()
}

// Exempt reports whether a method is served without a key: health checks
// and server reflection.
func Exempt(fullMethod string) bool {
	return strings.HasPrefix(fullMethod, "/grpc.health.v1.Health/") ||
		strings.HasPrefix(fullMethod, "/grpc.reflection.")
}

// UnaryInterceptor authenticates every unary call and charges its quota.
func (a *Authenticator) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if Exempt(info.FullMethod) {
			return handler(ctx, req)
		}
		ctx, err := a.Authenticate(ctx)
		if err != nil {
			return nil, err
		}
		if err := a.Charge(ctx); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// StreamInterceptor authenticates every stream. Opening a stream is free:
// the handler charges each request it reads with Charge.
func (a *Authenticator) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if Exempt(info.FullMethod) {
			return handler(srv, ss)
		}
		ctx, err := a.Authenticate(ss.Context())
		if err != nil {
			return err
		}
		return handler(srv, &streamWithContext{ServerStream: ss, ctx: ctx})
	}
}

type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }
