package userapi

import (
	"net/mail"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
)

// checkInvalid fails unless err is INVALID_ARGUMENT with a BadRequest
// detail whose violations all name one of fields, the first one in the
// message.
func checkInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	var br *errdetails.BadRequest
	for _, d := range st.Details() {
		if b, ok := d.(*errdetails.BadRequest); ok {
			br = b
		}
	}
	if br == nil || len(br.GetFieldViolations()) == 0 {
		t.Fatalf("%v: no BadRequest violations", err)
	}
	first := br.GetFieldViolations()[0]
	if st.Message() != first.GetField()+": "+first.GetDescription() {
		t.Errorf("message %q is not the first violation %v", st.Message(), first)
	}
	for _, v := range br.GetFieldViolations() {
		known := false
		for _, f := range fields {
			known = known || v.GetField() == f || strings.HasPrefix(v.GetField(), f+"[")
		}
		if !known || v.GetDescription() == "" {
			t.Errorf("violation %v: want a description of one of %v", v, fields)
		}
	}
}

// FuzzValidateCreate: a request is valid exactly when its email is a plain
// address and its trimmed name is a name; what it returns is what was
// checked.
func FuzzValidateCreate(f *testing.F) {
	for _, seed := range [][2]string{
		{"ada@example.com", "Ada"}, {"", ""}, {"Ada <ada@example.com>", "A"},
		{"a@b", " \u3000Zoë\t"}, {"x@y.z", "ab\x00"}, {"\"q\"@example.com", "Al"},
		{"a@[127.0.0.1]", "Al"}, {"é@example.com", "Al"}, {"a@example.com", "\xff\xfe"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, email, name string) {
		gotEmail, gotName, err := ValidateCreate(&usersv1.CreateUserRequest{Email: email, Name: name})
		if err != nil {
			checkInvalid(t, err, FieldEmail, FieldName)
			return
		}
		if gotEmail != email {
			t.Errorf("email: got %q, want the input %q", gotEmail, email)
		}
		if a, perr := mail.ParseAddress(email); perr != nil || a.Address != email || len(email) > MaxEmailBytes {
			t.Errorf("accepted email %q (%v)", email, perr)
		}
		if gotName != strings.Trim(name, TrimmedSpace) {
			t.Errorf("name: got %q, want %q trimmed", gotName, name)
		}
		if n := utf8.RuneCountInString(gotName); n < MinNameChars || n > MaxNameChars ||
			strings.IndexFunc(gotName, unicode.IsControl) >= 0 {
			t.Errorf("accepted name %q", gotName)
		}
	})
}

// FuzzValidateUpdate: any request either fails with violations of its own
// fields, or yields a change of exactly the masked, valid fields.
func FuzzValidateUpdate(f *testing.F) {
	f.Add(validID, "a@example.com", "Ada", "email,name")
	f.Add("", "", "", "")
	f.Add(validID, "bad", "A", "email,bogus,name")
	f.Add(strings.ToUpper(validID), "a@example.com", "Ada", "name,name")
	f.Fuzz(func(t *testing.T, id, email, name, paths string) {
		var mask *fieldmaskpb.FieldMask
		if paths != "" {
			mask = &fieldmaskpb.FieldMask{Paths: strings.Split(paths, ",")}
		}
		gotID, change, err := ValidateUpdate(&usersv1.UpdateUserRequest{
			User: &usersv1.User{Id: id, Email: email, Name: name}, UpdateMask: mask,
		})
		if err != nil {
			checkInvalid(t, err, FieldUserID, FieldUserEmail, FieldUserName, FieldUpdateMask, FieldUpdateMaskPath)
			return
		}
		if gotID != id || !isID(id) {
			t.Errorf("id: got %q for %q", gotID, id)
		}
		masked := map[string]bool{}
		for _, p := range mask.GetPaths() {
			masked[p] = true
		}
		if (change.Email != nil) != masked["email"] || (change.Name != nil) != masked["name"] {
			t.Errorf("change %+v does not follow the mask %q", change, paths)
		}
		if change.Email == nil && change.Name == nil {
			t.Errorf("a valid update changes nothing (mask %q)", paths)
		}
	})
}

// withoutLineBreaks removes CR and LF, which base64 decoding skips.
var withoutLineBreaks = strings.NewReplacer("\r", "", "\n", "")

// FuzzValidateList: a page token is accepted only if it is the encoding of
// an id (line breaks aside), and page sizes are clamped.
func FuzzValidateList(f *testing.F) {
	f.Add(int32(0), "")
	f.Add(int32(-1), "x")
	f.Add(int32(2000), EncodePageToken(validID))
	f.Add(int32(7), EncodePageToken(validID)+"=")
	f.Fuzz(func(t *testing.T, size int32, token string) {
		gotSize, after, err := ValidateList(&usersv1.ListUsersRequest{PageSize: size, PageToken: token})
		if err != nil {
			checkInvalid(t, err, FieldPageSize, FieldPageToken)
			return
		}
		if gotSize < 1 || gotSize > MaxPageSize || (size > 0 && gotSize != min(int(size), MaxPageSize)) {
			t.Errorf("page size %d -> %d", size, gotSize)
		}
		// Base64 decoding skips CR and LF (Go's strict decoder as well, and the
		// Python implementation to match, tests/conformance): an accepted
		// token is the canonical one, give or take line breaks.
		if token != "" && (!isID(after) || EncodePageToken(after) != withoutLineBreaks.Replace(token)) {
			t.Errorf("token %q accepted as %q", token, after)
		}
	})
}
