// Package catalog knows the models of the inference tier: their versions,
// inputs and outputs, read with the Open Inference Protocol (RepositoryIndex
// and ModelMetadata) and cached for a bounded time, so that requests are
// checked against a model without asking the inference tier every time.
package catalog

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/gen/go/inference"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
)

// DefaultTTL is how long an answer of the inference tier is reused.
const DefaultTTL = 30 * time.Second

// Model is one model version's metadata.
type Model struct {
	Name     string
	Version  string // the version the inference tier answered for; may be empty
	Versions []string
	Platform string
	Inputs   []*aiv1.TensorSpec
	Outputs  []*aiv1.TensorSpec
}

// Input returns the model's input of that name.
func (m *Model) Input(name string) (*aiv1.TensorSpec, bool) {
	for _, in := range m.Inputs {
		if in.GetName() == name {
			return in, true
		}
	}
	return nil, false
}

// Batchable reports whether requests for the model can be concatenated
// along their first dimension: every input and output has a variable first
// dimension.
func (m *Model) Batchable() bool {
	for _, t := range append(slices.Clone(m.Inputs), m.Outputs...) {
		if len(t.GetShape()) == 0 || t.GetShape()[0] != -1 {
			return false
		}
	}
	return len(m.Inputs) > 0
}

// Proto is the model as the AI API describes it.
func (m *Model) Proto() *aiv1.Model {
	return &aiv1.Model{
		Name: m.Name, Versions: m.Versions, Platform: m.Platform, Ready: true,
		Inputs: m.Inputs, Outputs: m.Outputs,
	}
}

// Catalog caches model metadata. It is safe for concurrent use.
type Catalog struct {
	client inference.GRPCInferenceServiceClient
	ttl    time.Duration
	now    func() time.Time
	flight singleflight.Group

	mu     sync.Mutex
	models map[string]cached[*Model] // by name and version
	index  cached[[]*aiv1.Model]
}

type cached[T any] struct {
	value   T
	expires time.Time
}

// New returns a catalog over client whose answers live for ttl (DefaultTTL
// when ttl <= 0).
func New(client inference.GRPCInferenceServiceClient, ttl time.Duration) *Catalog {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Catalog{client: client, ttl: ttl, now: time.Now, models: map[string]cached[*Model]{}}
}

// Model returns the metadata of a model version ("" for the inference
// tier's choice). Errors are the inference tier's gRPC statuses.
func (c *Catalog) Model(ctx context.Context, name, version string) (*Model, error) {
	key := name + "\x00" + version
	c.mu.Lock()
	entry, ok := c.models[key]
	c.mu.Unlock()
	if ok && c.now().Before(entry.expires) {
		return entry.value, nil
	}
	v, err := c.once(ctx, "model\x00"+key, func(ctx context.Context) (any, error) {
		md, err := c.client.ModelMetadata(ctx, &inference.ModelMetadataRequest{Name: name, Version: version})
		if err != nil {
			return nil, err
		}
		m := &Model{
			Name: md.GetName(), Version: version, Versions: md.GetVersions(), Platform: md.GetPlatform(),
			Inputs: specs(md.GetInputs()), Outputs: specs(md.GetOutputs()),
		}
		if m.Name == "" {
			m.Name = name
		}
		c.mu.Lock()
		c.models[key] = cached[*Model]{value: m, expires: c.now().Add(c.ttl)}
		c.mu.Unlock()
		return m, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Model), nil
}

// List returns every model of the inference tier's repository, ordered by
// name, with the metadata of each ready one.
func (c *Catalog) List(ctx context.Context) ([]*aiv1.Model, error) {
	c.mu.Lock()
	entry := c.index
	c.mu.Unlock()
	if entry.value != nil && c.now().Before(entry.expires) {
		return entry.value, nil
	}
	v, err := c.once(ctx, "index", func(ctx context.Context) (any, error) {
		index, err := c.client.RepositoryIndex(ctx, &inference.RepositoryIndexRequest{})
		if err != nil {
			if status.Code(err) == codes.Unimplemented {
				return nil, status.Error(codes.FailedPrecondition,
					"the inference tier does not implement the model repository extension (RepositoryIndex)")
			}
			return nil, err
		}
		byName := map[string]*aiv1.Model{}
		for _, e := range index.GetModels() {
			m, ok := byName[e.GetName()]
			if !ok {
				m = &aiv1.Model{Name: e.GetName()}
				byName[e.GetName()] = m
			}
			if e.GetVersion() != "" && !slices.Contains(m.Versions, e.GetVersion()) {
				m.Versions = append(m.Versions, e.GetVersion())
			}
			if e.GetState() == "READY" {
				m.Ready, m.Reason = true, ""
			} else if !m.Ready {
				m.Reason = e.GetReason()
				if m.Reason == "" {
					m.Reason = e.GetState()
				}
			}
		}
		models := make([]*aiv1.Model, 0, len(byName))
		for _, m := range byName {
			if m.Ready {
				md, err := c.Model(ctx, m.Name, "")
				switch {
				case err == nil:
					m.Platform, m.Inputs, m.Outputs = md.Platform, md.Inputs, md.Outputs
				case status.Code(err) == codes.NotFound: // unloaded since the index was read
					m.Ready, m.Reason = false, status.Convert(err).Message()
				default:
					return nil, err
				}
			}
			models = append(models, m)
		}
		slices.SortFunc(models, func(a, b *aiv1.Model) int {
			if a.Name < b.Name {
				return -1
			}
			if a.Name > b.Name {
				return 1
			}
			return 0
		})
		c.mu.Lock()
		c.index = cached[[]*aiv1.Model]{value: models, expires: c.now().Add(c.ttl)}
		c.mu.Unlock()
		return models, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]*aiv1.Model), nil
}

// Forget drops what the catalog knows of a model, so that the next request
// asks the inference tier again (after it answered NOT_FOUND for a model
// the catalog still had, say).
func (c *Catalog) Forget(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key := range c.models {
		if n, _, _ := strings.Cut(key, "\x00"); n == name {
			delete(c.models, key)
		}
	}
	c.index = cached[[]*aiv1.Model]{}
}

// once runs fn for the first of concurrent callers with the same key and
// shares its answer; a caller whose ctx ends stops waiting. fn runs with
// the first caller's values but is not cancelled with it.
func (c *Catalog) once(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	ch := c.flight.DoChan(key, func() (any, error) {
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if deadline, ok := ctx.Deadline(); ok {
			callCtx, cancel = context.WithDeadline(callCtx, deadline)
			defer cancel()
		}
		return fn(callCtx)
	})
	select {
	case r := <-ch:
		return r.Val, r.Err
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func specs(in []*inference.ModelMetadataResponse_TensorMetadata) []*aiv1.TensorSpec {
	out := make([]*aiv1.TensorSpec, len(in))
	for i, t := range in {
		out[i] = &aiv1.TensorSpec{Name: t.GetName(), Datatype: t.GetDatatype(), Shape: t.GetShape()}
	}
	return out
}

// String names a model version for messages.
func (m *Model) String() string {
	if m.Version == "" {
		return fmt.Sprintf("%q", m.Name)
	}
	return fmt.Sprintf("%q version %s", m.Name, m.Version)
}
