// Package auth identifies the callers of the AI API by the API key in their
// `x-api-key` metadata and holds each key to its quota.
//
// Keys come from a YAML file:
//
//	keys:
//	  - name: demo                  # who the caller is, in logs and metrics
//	    key: polymesh-demo-key      # the key itself, or
//	    # sha256: 5e884898da...     # its hex SHA-256, to keep it out of the file
//	    requests_per_second: 50     # sustained rate; 0 means unlimited
//	    burst: 100                  # calls allowed at once (default: the rate, at least 1)
//
// A call without a key, or with a key that is not configured, is
// UNAUTHENTICATED. A call over its key's quota is RESOURCE_EXHAUSTED with a
// google.rpc.RetryInfo detail saying when a call would be admitted and a
// google.rpc.QuotaFailure detail naming the quota.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
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

// Key is one configured API key and its quota.
type Key struct {
	Name              string  `yaml:"name"`
	Key               string  `yaml:"key"`
	SHA256            string  `yaml:"sha256"`
	RequestsPerSecond float64 `yaml:"requests_per_second"`
	Burst             int     `yaml:"burst"`
}

type file struct {
	Keys []Key `yaml:"keys"`
}

// LoadFile reads the keys of a YAML key file.
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
	return f.Keys, nil
}

// Caller is the identity a call was admitted with.
type Caller struct {
	// Name is the configured name of the caller's key.
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
}

// Authenticator admits calls by API key and quota. Its methods are safe for
// concurrent use.
type Authenticator struct {
	byHash map[[sha256.Size]byte]*caller
	now    func() time.Time
	// OnReject, if set, is told of every call turned away: the caller's
	// name (empty when unknown) and the status code.
	OnReject func(ctx context.Context, name string, code codes.Code)
}

// New checks the keys and returns their Authenticator.
func New(keys []Key) (*Authenticator, error) {
	if len(keys) == 0 {
		return nil, errors.New("no API keys configured")
	}
	a := &Authenticator{byHash: map[[sha256.Size]byte]*caller{}, now: time.Now}
	names := map[string]bool{}
	for i, k := range keys {
		where := fmt.Sprintf("keys[%d]", i)
		if k.Name == "" {
			return nil, fmt.Errorf("%s: name is required", where)
		}
		where = fmt.Sprintf("%s (%s)", where, k.Name)
		if names[k.Name] {
			return nil, fmt.Errorf("%s: the name is used twice", where)
		}
		names[k.Name] = true
		var hash [sha256.Size]byte
		switch {
		case k.Key != "" && k.SHA256 != "":
			return nil, fmt.Errorf("%s: give key or sha256, not both", where)
		case k.Key != "":
			hash = sha256.Sum256([]byte(k.Key))
		case k.SHA256 != "":
			raw, err := hex.DecodeString(k.SHA256)
			if err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("%s: sha256 must be 64 hexadecimal digits", where)
			}
			copy(hash[:], raw)
		default:
			return nil, fmt.Errorf("%s: key or sha256 is required", where)
		}
		if _, dup := a.byHash[hash]; dup {
			return nil, fmt.Errorf("%s: the same key is configured twice", where)
		}
		if k.RequestsPerSecond < 0 || math.IsNaN(k.RequestsPerSecond) || math.IsInf(k.RequestsPerSecond, 0) {
			return nil, fmt.Errorf("%s: requests_per_second must be a number >= 0", where)
		}
		if k.Burst < 0 {
			return nil, fmt.Errorf("%s: burst must be >= 0", where)
		}
		c := &caller{name: k.Name, quota: "unlimited"}
		if k.RequestsPerSecond > 0 {
			burst := k.Burst
			if burst == 0 {
				burst = max(1, int(math.Ceil(k.RequestsPerSecond)))
			}
			c.limiter = rate.NewLimiter(rate.Limit(k.RequestsPerSecond), burst)
			c.quota = fmt.Sprintf("%g requests per second, burst %d", k.RequestsPerSecond, burst)
		}
		a.byHash[hash] = c
	}
	return a, nil
}

// Authenticate identifies the caller of ctx's call without charging its
// quota, and returns ctx carrying it.
func (a *Authenticator) Authenticate(ctx context.Context) (context.Context, error) {
	values := metadata.ValueFromIncomingContext(ctx, Header)
	if len(values) == 0 || values[0] == "" {
		return ctx, a.reject(ctx, "", status.New(codes.Unauthenticated,
			"missing API key: send it in the x-api-key metadata header"))
	}
	c, ok := a.byHash[sha256.Sum256([]byte(values[0]))]
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
