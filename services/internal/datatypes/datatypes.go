// Package datatypes is the one Go table of the Open Inference Protocol's
// (KServe v2) tensor datatypes: for each, its name, the kind of its values,
// the size in bytes of one element in raw (little-endian) contents, and the
// InferTensorContents field that holds it in typed contents. It mirrors the Python table,
// polymesh_common.datatypes; services/testdata/datatypes.json is the fact
// both are tested against.
//
//	dt, ok := datatypes.Lookup("FP32") // dt.Size == 4, dt.ContentsField == "fp32_contents"
//	if !ok || dt.Variable() { ... }
package datatypes

import "strconv"

// Kind is the kind of a datatype's values.
type Kind int

// The kinds of values, as numpy's dtype kinds: b, u, i, f and O.
const (
	Bool Kind = iota
	Uint
	Int
	Float
	Bytes
)

var kindNames = [...]string{Bool: "bool", Uint: "uint", Int: "int", Float: "float", Bytes: "bytes"}

// String is the kind's name: bool, uint, int, float or bytes.
func (k Kind) String() string {
	if k >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Datatype is one Open Inference Protocol tensor datatype.
type Datatype struct {
	// Name is the protocol's name, such as "FP32".
	Name string
	// Kind is the kind of its values.
	Kind Kind
	// Size is the size in bytes of one element in raw contents; 0 for
	// BYTES, whose elements are each a 4-byte little-endian length and
	// then that many bytes.
	Size int
	// ContentsField is the InferTensorContents field (its proto name) that
	// holds the datatype's elements; "" when only raw contents can (FP16).
	ContentsField string
}

// Variable reports whether the datatype's elements have no fixed size (BYTES).
func (d Datatype) Variable() bool { return d.Size == 0 }

// table is in the protocol's order, as in the Python table.
var table = []Datatype{
	{"BOOL", Bool, 1, "bool_contents"},
	{"UINT8", Uint, 1, "uint_contents"},
	{"UINT16", Uint, 2, "uint_contents"},
	{"UINT32", Uint, 4, "uint_contents"},
	{"UINT64", Uint, 8, "uint64_contents"},
	{"INT8", Int, 1, "int_contents"},
	{"INT16", Int, 2, "int_contents"},
	{"INT32", Int, 4, "int_contents"},
	{"INT64", Int, 8, "int64_contents"},
	{"FP16", Float, 2, ""},
	{"FP32", Float, 4, "fp32_contents"},
	{"FP64", Float, 8, "fp64_contents"},
	{"BYTES", Bytes, 0, "bytes_contents"},
}

var byName = func() map[string]Datatype {
	m := make(map[string]Datatype, len(table))
	for _, d := range table {
		m[d.Name] = d
	}
	return m
}()

// Lookup is the datatype named name; ok is false for a name the protocol
// does not define (names are case-sensitive, as in the protocol).
func Lookup(name string) (d Datatype, ok bool) {
	d, ok = byName[name]
	return d, ok
}

// Size is the raw size of one element of the datatype named name: 0 for
// BYTES (variable) and for an unknown name.
func Size(name string) int { return byName[name].Size }

// All is every datatype, in the protocol's order; the caller may modify
// the returned slice.
func All() []Datatype { return append([]Datatype(nil), table...) }
