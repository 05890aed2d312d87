package userapi

// The exact texts of the users API's errors: every implementation of
// polymesh.users.v1.UserService answers with these bytes, so that clients
// see one API whatever language serves it.
//
// INVALID_ARGUMENT: the status message is "<field>: <description>" of the
// first violation; the google.rpc.BadRequest detail lists every violation
// as {field, description}, in this order of checks:
//
//	CreateUser:  email, name
//	GetUser:     id
//	DeleteUser:  id
//	ListUsers:   page_size, page_token
//	UpdateUser:  user.id, then update_mask (missing or no paths: one
//	             violation, and no path is checked), then each path in
//	             order: "email" checks user.email, "name" checks user.name,
//	             anything else is update_mask.paths[<index>] (0-based,
//	             decimal). A path named twice is checked once.
//
// Checks of one field, in order; the first that fails is the field's only
// violation:
//
//	email:  "" -> DescRequired; more than MaxEmailBytes bytes (UTF-8) ->
//	        DescEmailTooLong; not a plain address -> DescEmailInvalid. A
//	        plain address is one that Go's net/mail.ParseAddress accepts
//	        and whose parsed Address is the input, byte for byte.
//	name:   "" -> DescRequired; then the name is trimmed of the code points
//	        in TrimmedSpace at both ends; a control character (Unicode
//	        category Cc) left in it -> DescNameControl; fewer than
//	        MinNameChars code points -> DescNameTooShort; more than
//	        MaxNameChars -> DescNameTooLong. The trimmed name is stored.
//	id:     "" -> DescRequired; not 36 bytes of lowercase hex digits in the
//	        8-4-4-4-12 groups of a UUID -> DescIDInvalid.
//	page_size:  negative -> DescPageSizeNegative (0 is DefaultPageSize,
//	        more than MaxPageSize is MaxPageSize).
//	page_token: not "" and not base64url without padding (RFC 4648 §5,
//	        the canonical encoding) of a valid id -> DescPageTokenInvalid.
//
// A page token is the id of the last user of a page, so encoded; Python:
// base64.urlsafe_b64encode(id.encode()).rstrip(b"=").decode().
const (
	FieldEmail      = "email"
	FieldName       = "name"
	FieldID         = "id"
	FieldUserID     = "user.id"
	FieldUserEmail  = "user.email"
	FieldUserName   = "user.name"
	FieldUpdateMask = "update_mask"
	// FieldUpdateMaskPath is followed by "[<index>]".
	FieldUpdateMaskPath = "update_mask.paths"
	FieldPageSize       = "page_size"
	FieldPageToken      = "page_token"
)

// Field violation descriptions.
const (
	DescRequired         = "required"
	DescEmailTooLong     = "must be at most 254 bytes"
	DescEmailInvalid     = "must be a plain email address such as ada@example.com, without a display name, angle brackets or surrounding spaces"
	DescNameControl      = "must not contain control characters"
	DescNameTooShort     = "must have at least 2 characters once leading and trailing white space is trimmed"
	DescNameTooLong      = "must have at most 200 characters once leading and trailing white space is trimmed"
	DescIDInvalid        = "must be a user id: a lowercase UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e"
	DescPageSizeNegative = "must not be negative"
	DescPageTokenInvalid = "is not a page token returned by ListUsers"
	DescUpdateMaskEmpty  = "must name at least one field to update: email, name"
	DescUpdateMaskPath   = "unknown field: the fields that can be updated are email and name"
)

// Status messages of the other errors.
const (
	// MsgUserNotFound is NOT_FOUND's message; a google.rpc.ResourceInfo
	// detail {resource_type: ResourceTypeUser, resource_name: <id>,
	// description: MsgUserNotFound} names the user.
	MsgUserNotFound = "user not found"
	// MsgEmailTaken is ALREADY_EXISTS's message (the email is not echoed).
	MsgEmailTaken = "a user with this email already exists"
	// MsgUnavailable is UNAVAILABLE's message: the database cannot be
	// reached or is busy; retry with backoff.
	MsgUnavailable = "the users database is unavailable; try again later"
	// MsgInternal is INTERNAL's message; the cause is only logged.
	MsgInternal = "internal error"
	// MsgDeadlineExceeded and MsgCancelled end calls whose context ended.
	MsgDeadlineExceeded = "deadline exceeded"
	MsgCancelled        = "cancelled"
)

// ResourceTypeUser is the resource type of ResourceInfo details.
const ResourceTypeUser = "polymesh.users.v1.User"

// Limits.
const (
	MaxEmailBytes   = 254
	MinNameChars    = 2
	MaxNameChars    = 200
	DefaultPageSize = 50
	MaxPageSize     = 1000
)

// TrimmedSpace is every code point trimmed from both ends of a name: the
// white space of Go's unicode.IsSpace (tab, line feed, vertical tab, form
// feed, carriage return, space, U+0085, U+00A0, U+1680, U+2000..U+200A,
// U+2028, U+2029, U+202F, U+205F, U+3000). Python: name.strip(TRIMMED_SPACE).
const TrimmedSpace = "\t\n\v\f\r \u0085\u00a0\u1680" +
	"\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a" +
	"\u2028\u2029\u202f\u205f\u3000"
