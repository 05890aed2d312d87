package userapi

import (
	"encoding/base64"
	"net/mail"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
	"github.com/polymesh/polymesh/services/users/internal/store"
)

// violations collects the field violations of one request.
type violations []*errdetails.BadRequest_FieldViolation

func (v *violations) add(field, description string) {
	*v = append(*v, &errdetails.BadRequest_FieldViolation{Field: field, Description: description})
}

// check adds a violation of field if description is not "".
func (v *violations) check(field, description string) {
	if description != "" {
		v.add(field, description)
	}
}

// err is nil without violations, else INVALID_ARGUMENT whose message is the
// first violation, with every violation in a google.rpc.BadRequest detail.
func (v violations) err() error {
	if len(v) == 0 {
		return nil
	}
	st := status.New(codes.InvalidArgument, v[0].Field+": "+v[0].Description)
	if withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: v}); err == nil {
		st = withDetails
	}
	return st.Err()
}

// checkEmail returns the violation of an email, or "".
func checkEmail(email string) string {
	switch {
	case email == "":
		return DescRequired
	case len(email) > MaxEmailBytes:
		return DescEmailTooLong
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return DescEmailInvalid
	}
	return ""
}

// normalizeName returns the name to store and its violation, or "".
func normalizeName(name string) (string, string) {
	if name == "" {
		return "", DescRequired
	}
	trimmed := strings.Trim(name, TrimmedSpace)
	if strings.IndexFunc(trimmed, unicode.IsControl) >= 0 {
		return "", DescNameControl
	}
	switch n := utf8.RuneCountInString(trimmed); {
	case n < MinNameChars:
		return "", DescNameTooShort
	case n > MaxNameChars:
		return "", DescNameTooLong
	}
	return trimmed, ""
}

// checkID returns the violation of a user id, or "".
func checkID(id string) string {
	if id == "" {
		return DescRequired
	}
	if !isID(id) {
		return DescIDInvalid
	}
	return ""
}

// isID says whether s is a UUID in canonical lowercase form.
func isID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
				return false
			}
		}
	}
	return true
}

// ValidateCreate checks a CreateUserRequest and returns the email and the
// trimmed name to store.
func ValidateCreate(req *usersv1.CreateUserRequest) (email, name string, err error) {
	var v violations
	v.check(FieldEmail, checkEmail(req.GetEmail()))
	name, desc := normalizeName(req.GetName())
	v.check(FieldName, desc)
	if err := v.err(); err != nil {
		return "", "", err
	}
	return req.GetEmail(), name, nil
}

// ValidateID checks the id of a GetUserRequest or DeleteUserRequest.
func ValidateID(id string) error {
	var v violations
	v.check(FieldID, checkID(id))
	return v.err()
}

// ValidateList checks a ListUsersRequest and returns the page size and the
// cursor ("" for the first page).
func ValidateList(req *usersv1.ListUsersRequest) (pageSize int, after string, err error) {
	var v violations
	switch size := req.GetPageSize(); {
	case size < 0:
		v.add(FieldPageSize, DescPageSizeNegative)
	case size == 0:
		pageSize = DefaultPageSize
	default:
		pageSize = int(min(size, MaxPageSize))
	}
	if token := req.GetPageToken(); token != "" {
		var ok bool
		if after, ok = DecodePageToken(token); !ok {
			v.add(FieldPageToken, DescPageTokenInvalid)
		}
	}
	if err := v.err(); err != nil {
		return 0, "", err
	}
	return pageSize, after, nil
}

// ValidateUpdate checks an UpdateUserRequest and returns the id and the
// change to store.
func ValidateUpdate(req *usersv1.UpdateUserRequest) (string, store.Change, error) {
	var v violations
	var change store.Change
	user := req.GetUser()
	v.check(FieldUserID, checkID(user.GetId()))
	paths := req.GetUpdateMask().GetPaths()
	if len(paths) == 0 {
		v.add(FieldUpdateMask, DescUpdateMaskEmpty)
	}
	seen := map[string]bool{}
	for i, path := range paths {
		if seen[path] {
			continue
		}
		seen[path] = true
		switch path {
		case "email":
			email := user.GetEmail()
			if desc := checkEmail(email); desc != "" {
				v.add(FieldUserEmail, desc)
			} else {
				change.Email = &email
			}
		case "name":
			name, desc := normalizeName(user.GetName())
			if desc != "" {
				v.add(FieldUserName, desc)
			} else {
				change.Name = &name
			}
		default:
			v.add(FieldUpdateMaskPath+"["+strconv.Itoa(i)+"]", DescUpdateMaskPath)
		}
	}
	if err := v.err(); err != nil {
		return "", store.Change{}, err
	}
	return user.GetId(), change, nil
}

// EncodePageToken is the token of the page after the user with this id.
func EncodePageToken(id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(id))
}

// DecodePageToken returns the id a token names, if it is a token that
// EncodePageToken made.
func DecodePageToken(token string) (string, bool) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || !isID(string(raw)) {
		return "", false
	}
	return string(raw), true
}
