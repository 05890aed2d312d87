package predict

import (
	"testing"

	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
	"github.com/polymesh/polymesh/services/internal/datatypes"
)

// TestFromRawSizes decodes three elements of every fixed-size datatype and
// rejects a byte count that is not a whole number of elements.
func TestFromRawSizes(t *testing.T) {
	for _, d := range datatypes.All() {
		if d.Variable() {
			continue
		}
		t.Run(d.Name, func(t *testing.T) {
			tensor := &aiv1.Tensor{Datatype: d.Name}
			if err := fromRaw(tensor, make([]byte, 3*d.Size)); err != nil {
				t.Fatalf("fromRaw(%d bytes): %v", 3*d.Size, err)
			}
			got := len(tensor.GetFpValues()) + len(tensor.GetIntValues()) + len(tensor.GetBoolValues())
			if got != 3 {
				t.Errorf("fromRaw(%d bytes) gave %d values, want 3", 3*d.Size, got)
			}
			if d.Size > 1 {
				if err := fromRaw(&aiv1.Tensor{Datatype: d.Name}, make([]byte, 3*d.Size+1)); err == nil {
					t.Errorf("fromRaw(%d bytes) = nil, want an error", 3*d.Size+1)
				}
			}
		})
	}
	t.Run("unknown", func(t *testing.T) {
		if err := fromRaw(&aiv1.Tensor{Datatype: "BF16"}, make([]byte, 4)); err == nil {
			t.Error("fromRaw(BF16) = nil, want an error")
		}
	})
}
