package userapi

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
)

// violation is a BadRequest field violation, for comparisons.
type violation struct{ field, desc string }

// wantInvalid checks that err is INVALID_ARGUMENT whose message is the first
// violation and whose BadRequest detail lists exactly want.
func wantInvalid(t *testing.T, err error, want ...violation) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want INVALID_ARGUMENT", err)
	}
	if msg := want[0].field + ": " + want[0].desc; st.Message() != msg {
		t.Errorf("message: got %q, want %q", st.Message(), msg)
	}
	var got []violation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				got = append(got, violation{v.GetField(), v.GetDescription()})
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("BadRequest violations:\n got %v\nwant %v", got, want)
	}
}

const validID = "0f8fad5b-d9cb-469f-a165-70867728950e"

func TestValidateCreate(t *testing.T) {
	valid := []struct {
		name, email, inName, wantName string
	}{
		{"plain", "ada@example.com", "Ada", "Ada"},
		{"trimmed", "ada@example.com", " \t Ada Lovelace\u3000\n", "Ada Lovelace"},
		{"two characters", "a@b", "Al", "Al"},
		{"two runes, four bytes", "a@example.com", "éé", "éé"},
		{"200 characters", "a@example.com", strings.Repeat("é", 200), strings.Repeat("é", 200)},
		{"plus and dots", "ada.lovelace+mesh@sub.example.co.uk", "Ada", "Ada"},
		{"254 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 189), "Ada", "Ada"},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			email, name, err := ValidateCreate(&usersv1.CreateUserRequest{Email: tt.email, Name: tt.inName})
			if err != nil {
				t.Fatalf("got %v, want valid", err)
			}
			if email != tt.email || name != tt.wantName {
				t.Errorf("got (%q, %q), want (%q, %q)", email, name, tt.email, tt.wantName)
			}
		})
	}

	invalid := []struct {
		name, email, inName string
		want                []violation
	}{
		{"empty request", "", "", []violation{{FieldEmail, DescRequired}, {FieldName, DescRequired}}},
		{"no email", "", "Ada", []violation{{FieldEmail, DescRequired}}},
		{"display name", "Ada <ada@example.com>", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"angle brackets", "<ada@example.com>", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"surrounding space", " ada@example.com", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"no at", "ada.example.com", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"no domain", "ada@", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"two addresses", "a@example.com, b@example.com", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"comment", "ada@example.com (Ada)", "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		// net/mail gives the address unquoted, so it is not the input.
		{"quoted local part", `"ada lovelace"@example.com`, "Ada", []violation{{FieldEmail, DescEmailInvalid}}},
		{"255 bytes", strings.Repeat("a", 64) + "@" + strings.Repeat("b", 190), "Ada", []violation{{FieldEmail, DescEmailTooLong}}},
		{"no name", "ada@example.com", "", []violation{{FieldName, DescRequired}}},
		{"blank name", "ada@example.com", " \t\n", []violation{{FieldName, DescNameTooShort}}},
		{"one character", "ada@example.com", "  A ", []violation{{FieldName, DescNameTooShort}}},
		{"201 characters", "ada@example.com", strings.Repeat("x", 201), []violation{{FieldName, DescNameTooLong}}},
		{"control inside", "ada@example.com", "Ada\x00Lovelace", []violation{{FieldName, DescNameControl}}},
		{"tab inside", "ada@example.com", "Ada\tLovelace", []violation{{FieldName, DescNameControl}}},
		{"control at the end", "ada@example.com", "Ada\x1f", []violation{{FieldName, DescNameControl}}},
		{"both bad", "nope", "A", []violation{{FieldEmail, DescEmailInvalid}, {FieldName, DescNameTooShort}}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ValidateCreate(&usersv1.CreateUserRequest{Email: tt.email, Name: tt.inName})
			wantInvalid(t, err, tt.want...)
		})
	}
}

func TestValidateID(t *testing.T) {
	if err := ValidateID(validID); err != nil {
		t.Errorf("ValidateID(%q): %v", validID, err)
	}
	tests := []struct{ name, id, desc string }{
		{"empty", "", DescRequired},
		{"upper case", strings.ToUpper(validID), DescIDInvalid},
		{"braces", "{" + validID + "}", DescIDInvalid},
		{"no hyphens", strings.ReplaceAll(validID, "-", ""), DescIDInvalid},
		{"urn", "urn:uuid:" + validID, DescIDInvalid},
		{"hyphen moved", "0f8fad5bd-9cb-469f-a165-70867728950e", DescIDInvalid},
		{"not hex", "0f8fad5b-d9cb-469f-a165-70867728950g", DescIDInvalid},
		{"short", validID[:35], DescIDInvalid},
		{"sql", "' OR 1=1 --", DescIDInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantInvalid(t, ValidateID(tt.id), violation{FieldID, tt.desc})
		})
	}
}

func TestValidateList(t *testing.T) {
	valid := []struct {
		name      string
		req       *usersv1.ListUsersRequest
		wantSize  int
		wantAfter string
	}{
		{"defaults", &usersv1.ListUsersRequest{}, DefaultPageSize, ""},
		{"one", &usersv1.ListUsersRequest{PageSize: 1}, 1, ""},
		{"max", &usersv1.ListUsersRequest{PageSize: MaxPageSize}, MaxPageSize, ""},
		{"above max", &usersv1.ListUsersRequest{PageSize: MaxPageSize + 1}, MaxPageSize, ""},
		{"huge", &usersv1.ListUsersRequest{PageSize: 1 << 30}, MaxPageSize, ""},
		{"token", &usersv1.ListUsersRequest{PageSize: 7, PageToken: EncodePageToken(validID)}, 7, validID},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			size, after, err := ValidateList(tt.req)
			if err != nil || size != tt.wantSize || after != tt.wantAfter {
				t.Errorf("got (%d, %q, %v), want (%d, %q, nil)", size, after, err, tt.wantSize, tt.wantAfter)
			}
		})
	}
	token := EncodePageToken(validID)
	invalid := []struct {
		name string
		req  *usersv1.ListUsersRequest
		want []violation
	}{
		{"negative", &usersv1.ListUsersRequest{PageSize: -1}, []violation{{FieldPageSize, DescPageSizeNegative}}},
		{"garbage token", &usersv1.ListUsersRequest{PageToken: "!!"}, []violation{{FieldPageToken, DescPageTokenInvalid}}},
		{"padded token", &usersv1.ListUsersRequest{PageToken: token + "="}, []violation{{FieldPageToken, DescPageTokenInvalid}}},
		{"standard alphabet", &usersv1.ListUsersRequest{PageToken: strings.NewReplacer("-", "+", "_", "/").Replace(token) + "+"}, []violation{{FieldPageToken, DescPageTokenInvalid}}},
		{"token of a non-id", &usersv1.ListUsersRequest{PageToken: EncodePageToken("hello")}, []violation{{FieldPageToken, DescPageTokenInvalid}}},
		{"raw id as token", &usersv1.ListUsersRequest{PageToken: validID}, []violation{{FieldPageToken, DescPageTokenInvalid}}},
		{"both", &usersv1.ListUsersRequest{PageSize: -5, PageToken: "x"}, []violation{{FieldPageSize, DescPageSizeNegative}, {FieldPageToken, DescPageTokenInvalid}}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ValidateList(tt.req)
			wantInvalid(t, err, tt.want...)
		})
	}
}

func TestPageTokenIsCanonical(t *testing.T) {
	token := EncodePageToken(validID)
	if got, ok := DecodePageToken(token); !ok || got != validID {
		t.Fatalf("DecodePageToken(EncodePageToken(id)): got %q, %v", got, ok)
	}
	if token != "MGY4ZmFkNWItZDljYi00NjlmLWExNjUtNzA4Njc3Mjg5NTBl" {
		t.Errorf("token %q: not the documented base64url of the id", token)
	}
	// 36 bytes are 48 base64 characters with no spare bits: a token has
	// one encoding, and the decoder refuses padding (TestValidateList).
	if len(token) != 48 {
		t.Errorf("token length: got %d, want 48", len(token))
	}
}

func TestValidateUpdate(t *testing.T) {
	user := func(id, email, name string) *usersv1.User {
		return &usersv1.User{Id: id, Email: email, Name: name}
	}
	mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

	valid := []struct {
		name      string
		req       *usersv1.UpdateUserRequest
		wantEmail string // "" when the change leaves it
		wantName  string
	}{
		{"email", &usersv1.UpdateUserRequest{User: user(validID, "new@example.com", "ignored"), UpdateMask: mask("email")}, "new@example.com", ""},
		{"name, trimmed", &usersv1.UpdateUserRequest{User: user(validID, "not an email", " Bo "), UpdateMask: mask("name")}, "", "Bo"},
		{"both", &usersv1.UpdateUserRequest{User: user(validID, "c@example.com", "Cy"), UpdateMask: mask("name", "email")}, "c@example.com", "Cy"},
		{"twice", &usersv1.UpdateUserRequest{User: user(validID, "c@example.com", "Cy"), UpdateMask: mask("email", "email")}, "c@example.com", ""},
	}
	for _, tt := range valid {
		t.Run(tt.name, func(t *testing.T) {
			id, change, err := ValidateUpdate(tt.req)
			if err != nil {
				t.Fatalf("got %v, want valid", err)
			}
			if id != validID {
				t.Errorf("id: got %q", id)
			}
			if got := deref(change.Email); got != tt.wantEmail || (tt.wantEmail == "") != (change.Email == nil) {
				t.Errorf("email: got %v, want %q", change.Email, tt.wantEmail)
			}
			if got := deref(change.Name); got != tt.wantName || (tt.wantName == "") != (change.Name == nil) {
				t.Errorf("name: got %v, want %q", change.Name, tt.wantName)
			}
		})
	}

	invalid := []struct {
		name string
		req  *usersv1.UpdateUserRequest
		want []violation
	}{
		{"empty request", &usersv1.UpdateUserRequest{}, []violation{{FieldUserID, DescRequired}, {FieldUpdateMask, DescUpdateMaskEmpty}}},
		{"no mask", &usersv1.UpdateUserRequest{User: user(validID, "a@example.com", "Ada")}, []violation{{FieldUpdateMask, DescUpdateMaskEmpty}}},
		{"empty mask", &usersv1.UpdateUserRequest{User: user(validID, "a@example.com", "Ada"), UpdateMask: mask()}, []violation{{FieldUpdateMask, DescUpdateMaskEmpty}}},
		{"bad id", &usersv1.UpdateUserRequest{User: user("42", "a@example.com", "Ada"), UpdateMask: mask("name")}, []violation{{FieldUserID, DescIDInvalid}}},
		{"unknown path", &usersv1.UpdateUserRequest{User: user(validID, "a@example.com", "Ada"), UpdateMask: mask("name", "id", "create_time")},
			[]violation{{"update_mask.paths[1]", DescUpdateMaskPath}, {"update_mask.paths[2]", DescUpdateMaskPath}}},
		{"path case", &usersv1.UpdateUserRequest{User: user(validID, "a@example.com", "Ada"), UpdateMask: mask("Email")}, []violation{{"update_mask.paths[0]", DescUpdateMaskPath}}},
		{"wildcard", &usersv1.UpdateUserRequest{User: user(validID, "a@example.com", "Ada"), UpdateMask: mask("*")}, []violation{{"update_mask.paths[0]", DescUpdateMaskPath}}},
		{"bad email", &usersv1.UpdateUserRequest{User: user(validID, "Ada <a@example.com>", "Ada"), UpdateMask: mask("email")}, []violation{{FieldUserEmail, DescEmailInvalid}}},
		{"empty email", &usersv1.UpdateUserRequest{User: user(validID, "", "Ada"), UpdateMask: mask("email")}, []violation{{FieldUserEmail, DescRequired}}},
		{"short name", &usersv1.UpdateUserRequest{User: user(validID, "a@example.com", " x "), UpdateMask: mask("name")}, []violation{{FieldUserName, DescNameTooShort}}},
		{"everything", &usersv1.UpdateUserRequest{User: user("", "x", ""), UpdateMask: mask("email", "bogus", "name")},
			[]violation{{FieldUserID, DescRequired}, {FieldUserEmail, DescEmailInvalid}, {"update_mask.paths[1]", DescUpdateMaskPath}, {FieldUserName, DescRequired}}},
	}
	for _, tt := range invalid {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ValidateUpdate(tt.req)
			wantInvalid(t, err, tt.want...)
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// TestTrimmedSpaceIsUnicodeIsSpace keeps the documented list of trimmed
// code points equal to Go's notion of white space.
func TestTrimmedSpaceIsUnicodeIsSpace(t *testing.T) {
	var want []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.IsSpace(r) {
			want = append(want, r)
		}
	}
	got := []rune(TrimmedSpace)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("TrimmedSpace: got %U, want %U", got, want)
	}
}

// TestMessagesAreConstantASCII: every text an implementation must reproduce
// is plain ASCII, and the limits in the texts are the limits enforced.
func TestMessagesAreConstantASCII(t *testing.T) {
	for _, m := range []string{
		DescRequired, DescEmailTooLong, DescEmailInvalid, DescNameControl, DescNameTooShort,
		DescNameTooLong, DescIDInvalid, DescPageSizeNegative, DescPageTokenInvalid,
		DescUpdateMaskEmpty, DescUpdateMaskPath, MsgUserNotFound, MsgEmailTaken,
		MsgUnavailable, MsgInternal, MsgDeadlineExceeded, MsgCancelled,
	} {
		for _, r := range m {
			if r > unicode.MaxASCII || unicode.IsControl(r) {
				t.Errorf("%q: not printable ASCII", m)
				break
			}
		}
	}
	for text, limit := range map[string]int{
		DescEmailTooLong: MaxEmailBytes, DescNameTooShort: MinNameChars, DescNameTooLong: MaxNameChars,
	} {
		if !strings.Contains(text, " "+strconv.Itoa(limit)+" ") {
			t.Errorf("%q does not state the limit %d", text, limit)
		}
	}
}
