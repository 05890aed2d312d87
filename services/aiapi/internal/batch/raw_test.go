package batch

import (
	"testing"

	"github.com/polymesh/polymesh/services/internal/datatypes"
)

// TestCutRawSizes cuts the raw output of a batch of two calls (one row and
// two rows, two elements a row) for every fixed-size datatype, and rejects
// a byte count that does not match the rows.
func TestCutRawSizes(t *testing.T) {
	g := &group{calls: []*call{{rows: 1}, {rows: 2}}, rows: 3}
	for _, d := range datatypes.All() {
		if d.Variable() {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			b := make([]byte, 3*2*d.Size)
			cuts, err := cutRaw(b, d.Name, 2, g)
			if err != nil {
				t.Fatalf("cutRaw(%d bytes): %v", len(b), err)
			}
			if len(cuts) != 2 || len(cuts[0]) != 2*d.Size || len(cuts[1]) != 4*d.Size {
				t.Errorf("cuts of %d bytes: got lengths %d, want [%d %d]", len(b), lengths(cuts), 2*d.Size, 4*d.Size)
			}
			if _, err := cutRaw(b[1:], d.Name, 2, g); err == nil {
				t.Errorf("cutRaw(%d bytes) = nil error, want one", len(b)-1)
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if _, err := cutRaw(make([]byte, 12), "BF16", 2, g); err == nil {
			t.Error("cutRaw(BF16) = nil error, want one")
		}
	})
}

func lengths(cuts [][]byte) []int {
	out := make([]int, len(cuts))
	for i, c := range cuts {
		out[i] = len(c)
	}
	return out
}
