package datatypes

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/polymesh/polymesh/gen/go/inference"
)

func TestLookup(t *testing.T) {
	tests := []struct {
		name      string
		wantOK    bool
		wantKind  Kind
		wantSize  int
		wantField string
		wantVar   bool
	}{
		{"BOOL", true, Bool, 1, "bool_contents", false},
		{"UINT16", true, Uint, 2, "uint_contents", false},
		{"INT64", true, Int, 8, "int64_contents", false},
		{"FP16", true, Float, 2, "", false},
		{"FP32", true, Float, 4, "fp32_contents", false},
		{"BYTES", true, Bytes, 0, "bytes_contents", true},
		{"fp32", false, Bool, 0, "", true},
		{"", false, Bool, 0, "", true},
		{"BF16", false, Bool, 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := Lookup(tt.name)
			if ok != tt.wantOK {
				t.Fatalf("Lookup(%q) ok: got %v, want %v", tt.name, ok, tt.wantOK)
			}
			if d.Kind != tt.wantKind {
				t.Errorf("kind of %q: got %v, want %v", tt.name, d.Kind, tt.wantKind)
			}
			if d.Size != tt.wantSize || Size(tt.name) != tt.wantSize {
				t.Errorf("size of %q: got %d (Size %d), want %d", tt.name, d.Size, Size(tt.name), tt.wantSize)
			}
			if d.ContentsField != tt.wantField {
				t.Errorf("contents field of %q: got %q, want %q", tt.name, d.ContentsField, tt.wantField)
			}
			if d.Variable() != tt.wantVar {
				t.Errorf("Variable() of %q: got %v, want %v", tt.name, d.Variable(), tt.wantVar)
			}
		})
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{Bool: "bool", Uint: "uint", Int: "int", Float: "float", Bytes: "bytes", 9: "Kind(9)"} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String(): got %q, want %q", int(k), got, want)
		}
	}
}

func TestContentsFieldsAreThoseOfTheProtocol(t *testing.T) {
	fields := (&inference.InferTensorContents{}).ProtoReflect().Descriptor().Fields()
	used := map[string]bool{}
	for _, d := range All() {
		if d.ContentsField == "" {
			continue
		}
		used[d.ContentsField] = true
		if fields.ByName(protoreflect.Name(d.ContentsField)) == nil {
			t.Errorf("%s: InferTensorContents has no field %q", d.Name, d.ContentsField)
		}
	}
	for i := range fields.Len() {
		if name := string(fields.Get(i).Name()); !used[name] {
			t.Errorf("InferTensorContents.%s carries no datatype of the table", name)
		}
	}
}

func TestAllIsACopy(t *testing.T) {
	all := All()
	all[0].Size = 99
	if got := Size(all[0].Name); got == 99 {
		t.Errorf("changing All()'s slice changed the table")
	}
}

// TestAgreesWithTheSharedTable compares the table with
// services/testdata/datatypes.json, which the Python table
// (polymesh_common.datatypes) is tested against too.
func TestAgreesWithTheSharedTable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "datatypes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var shared struct {
		Datatypes []struct {
			Name          string  `json:"name"`
			Kind          string  `json:"kind"`
			Size          *int    `json:"size"`
			ContentsField *string `json:"contents_field"`
		} `json:"datatypes"`
	}
	if err := json.Unmarshal(raw, &shared); err != nil {
		t.Fatalf("datatypes.json: %v", err)
	}
	all := All()
	if len(shared.Datatypes) != len(all) {
		t.Fatalf("datatypes.json has %d datatypes, the table %d", len(shared.Datatypes), len(all))
	}
	for i, want := range shared.Datatypes {
		got := all[i]
		wantSize, wantField := 0, ""
		if want.Size != nil {
			wantSize = *want.Size
		}
		if want.ContentsField != nil {
			wantField = *want.ContentsField
		}
		if got.Name != want.Name || got.Kind.String() != want.Kind || got.Size != wantSize || got.ContentsField != wantField {
			t.Errorf("row %d: got %+v, want {Name:%s Kind:%s Size:%d ContentsField:%s}",
				i, got, want.Name, want.Kind, wantSize, wantField)
		}
	}
}
