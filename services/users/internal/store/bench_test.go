package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/polymesh/polymesh/services/users/internal/store"
)

func openSQLiteForBench(b *testing.B) *store.SQL {
	b.Helper()
	s, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "users.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

func BenchmarkCreateSQLite(b *testing.B) {
	s := openSQLiteForBench(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		i++
		if _, err := s.Create(ctx, fmt.Sprintf("user%d@example.com", i), "Bench User"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetSQLite(b *testing.B) {
	s := openSQLiteForBench(b)
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		u, err := s.Create(ctx, fmt.Sprintf("user%d@example.com", i), "Bench User")
		if err != nil {
			b.Fatal(err)
		}
		ids[i] = u.ID
	}
	i := 0
	for b.Loop() {
		if _, err := s.Get(ctx, ids[i%len(ids)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGetSQLiteParallel(b *testing.B) {
	s := openSQLiteForBench(b)
	ctx := context.Background()
	u, err := s.Create(ctx, "parallel@example.com", "Bench User")
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Get(ctx, u.ID); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
