package app_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
	"github.com/polymesh/polymesh/services/internal/logging"
	"github.com/polymesh/polymesh/services/users/internal/app"
	"github.com/polymesh/polymesh/services/users/internal/pgtest"
	"github.com/polymesh/polymesh/services/users/internal/userapi"
)

const defaultTestTimeout = 60 * time.Second

var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	pg.Stop()
	os.Exit(code)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), defaultTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// service is the users service running in this process on a real
// loopback listener, and a real client of it.
type service struct {
	users  usersv1.UserServiceClient
	health healthpb.HealthClient
	conn   *grpc.ClientConn
}

// startService runs app.Run on 127.0.0.1:0 until the test ends, then stops
// it and checks that it stopped cleanly.
func startService(t *testing.T, dsn string, checkInterval time.Duration) *service {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, lis, app.Config{
			DB: dsn, Logger: logging.New(t.Output(), "polymesh-users"),
			CheckInterval: checkInterval, Grace: 5 * time.Second,
		})
	}()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("app.Run after the stop: %v", err)
			}
		case <-time.After(defaultTestTimeout):
			t.Error("app.Run did not return after its context ended")
		}
	})
	return &service{users: usersv1.NewUserServiceClient(conn), health: healthpb.NewHealthClient(conn), conn: conn}
}

type backend struct {
	name string
	dsn  func(t *testing.T) string
}

var backends = []backend{
	{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "users.db") }},
	{"postgres", func(t *testing.T) string { return pg.NewDatabase(t) }},
}

// forEachBackend runs test against a new service on each database.
func forEachBackend(t *testing.T, test func(t *testing.T, s *service)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { test(t, startService(t, b.dsn(t), time.Second)) })
	}
}

func create(t *testing.T, s *service, email, name string) *usersv1.User {
	t.Helper()
	resp, err := s.users.CreateUser(testContext(t), &usersv1.CreateUserRequest{Email: email, Name: name})
	if err != nil {
		t.Fatalf("CreateUser(%q, %q): %v", email, name, err)
	}
	return resp.GetUser()
}

// listPage reads one ListUsers stream, checking its shape: users, then
// exactly one end message, then nothing.
func listPage(t *testing.T, s *service, size int32, token string) ([]*usersv1.User, string, error) {
	t.Helper()
	stream, err := s.users.ListUsers(testContext(t), &usersv1.ListUsersRequest{PageSize: size, PageToken: token})
	if err != nil {
		return nil, "", err
	}
	var users []*usersv1.User
	var end *usersv1.ListUsersEnd
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return users, "", err
		}
		if end != nil {
			t.Fatalf("ListUsers: a message after the end message: %v", msg)
		}
		switch item := msg.GetItem().(type) {
		case *usersv1.ListUsersResponse_User:
			users = append(users, item.User)
		case *usersv1.ListUsersResponse_End:
			end = item.End
		default:
			t.Fatalf("ListUsers: a message with neither user nor end: %v", msg)
		}
	}
	if end == nil {
		t.Fatal("ListUsers: the stream ended without an end message")
	}
	return users, end.GetNextPageToken(), nil
}

func ids(users []*usersv1.User) []string {
	var out []string
	for _, u := range users {
		out = append(out, u.GetId())
	}
	return out
}

func TestEveryRPC(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *service) {
		ctx := testContext(t)
		ada := create(t, s, "ada@example.com", "  Ada Lovelace ")
		if ada.GetName() != "Ada Lovelace" || ada.GetEmail() != "ada@example.com" || ada.GetId() == "" {
			t.Errorf("CreateUser: got %v", ada)
		}
		if !ada.GetCreateTime().AsTime().Equal(ada.GetUpdateTime().AsTime()) || ada.GetCreateTime().AsTime().IsZero() {
			t.Errorf("CreateUser: times %v / %v, want equal and set", ada.GetCreateTime(), ada.GetUpdateTime())
		}

		got, err := s.users.GetUser(ctx, &usersv1.GetUserRequest{Id: ada.GetId()})
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		if !sameUser(got.GetUser(), ada) {
			t.Errorf("GetUser: got %v, want %v", got.GetUser(), ada)
		}

		upd, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{
			User:       &usersv1.User{Id: ada.GetId(), Name: "Augusta Ada King"},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"name"}},
		})
		if err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if u := upd.GetUser(); u.GetName() != "Augusta Ada King" || u.GetEmail() != "ada@example.com" ||
			!u.GetCreateTime().AsTime().Equal(ada.GetCreateTime().AsTime()) ||
			u.GetUpdateTime().AsTime().Before(ada.GetUpdateTime().AsTime()) {
			t.Errorf("UpdateUser: got %v", u)
		}

		users, next, err := listPage(t, s, 0, "")
		if err != nil || next != "" || !slices.Equal(ids(users), []string{ada.GetId()}) || !sameUser(users[0], upd.GetUser()) {
			t.Errorf("ListUsers: got %v, next %q, %v", users, next, err)
		}

		if _, err := s.users.DeleteUser(ctx, &usersv1.DeleteUserRequest{Id: ada.GetId()}); err != nil {
			t.Fatalf("DeleteUser: %v", err)
		}
		if _, err := s.users.GetUser(ctx, &usersv1.GetUserRequest{Id: ada.GetId()}); status.Code(err) != codes.NotFound {
			t.Errorf("GetUser after DeleteUser: got %v, want NOT_FOUND", err)
		}
		if users, next, err := listPage(t, s, 0, ""); err != nil || len(users) != 0 || next != "" {
			t.Errorf("ListUsers of no users: got %v, %q, %v", users, next, err)
		}
	})
}

// wantStatus checks an error's code and message, and for INVALID_ARGUMENT
// the first field of its BadRequest detail, for NOT_FOUND the id of its
// ResourceInfo.
func wantStatus(t *testing.T, err error, code codes.Code, msg, detail string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || st.Message() != msg {
		t.Fatalf("got %v %q, want %v %q", st.Code(), st.Message(), code, msg)
	}
	var got string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			got = d.GetFieldViolations()[0].GetField()
		case *errdetails.ResourceInfo:
			got = d.GetResourceName()
			if d.GetResourceType() != userapi.ResourceTypeUser {
				t.Errorf("ResourceInfo type %q", d.GetResourceType())
			}
		}
	}
	if got != detail {
		t.Errorf("detail: got %q, want %q", got, detail)
	}
}

func TestErrors(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *service) {
		ada := create(t, s, "ada@example.com", "Ada")
		create(t, s, "bob@example.com", "Bob")
		missing := "00000000-0000-4000-8000-000000000000"
		mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
		tests := []struct {
			name   string
			call   func(ctx context.Context) error
			code   codes.Code
			msg    string
			detail string
		}{
			{"CreateUser bad email", func(ctx context.Context) error {
				_, err := s.users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "Ada <ada@example.com>", Name: "Ada"})
				return err
			}, codes.InvalidArgument, "email: " + userapi.DescEmailInvalid, "email"},
			{"CreateUser short name", func(ctx context.Context) error {
				_, err := s.users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "cy@example.com", Name: " C "})
				return err
			}, codes.InvalidArgument, "name: " + userapi.DescNameTooShort, "name"},
			{"CreateUser duplicate email", func(ctx context.Context) error {
				_, err := s.users.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "ada@example.com", Name: "Ada II"})
				return err
			}, codes.AlreadyExists, userapi.MsgEmailTaken, ""},
			{"GetUser no id", func(ctx context.Context) error {
				_, err := s.users.GetUser(ctx, &usersv1.GetUserRequest{})
				return err
			}, codes.InvalidArgument, "id: " + userapi.DescRequired, "id"},
			{"GetUser bad id", func(ctx context.Context) error {
				_, err := s.users.GetUser(ctx, &usersv1.GetUserRequest{Id: strings.ToUpper(ada.GetId())})
				return err
			}, codes.InvalidArgument, "id: " + userapi.DescIDInvalid, "id"},
			{"GetUser unknown id", func(ctx context.Context) error {
				_, err := s.users.GetUser(ctx, &usersv1.GetUserRequest{Id: missing})
				return err
			}, codes.NotFound, userapi.MsgUserNotFound, missing},
			{"ListUsers negative size", func(ctx context.Context) error {
				_, _, err := listPageErr(ctx, s, -1, "")
				return err
			}, codes.InvalidArgument, "page_size: " + userapi.DescPageSizeNegative, "page_size"},
			{"ListUsers bad token", func(ctx context.Context) error {
				_, _, err := listPageErr(ctx, s, 0, "not-a-token")
				return err
			}, codes.InvalidArgument, "page_token: " + userapi.DescPageTokenInvalid, "page_token"},
			{"UpdateUser no mask", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Id: ada.GetId(), Name: "Ada"}})
				return err
			}, codes.InvalidArgument, "update_mask: " + userapi.DescUpdateMaskEmpty, "update_mask"},
			{"UpdateUser empty mask", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Id: ada.GetId()}, UpdateMask: mask()})
				return err
			}, codes.InvalidArgument, "update_mask: " + userapi.DescUpdateMaskEmpty, "update_mask"},
			{"UpdateUser unknown path", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Id: ada.GetId(), Name: "Ada"}, UpdateMask: mask("name", "create_time")})
				return err
			}, codes.InvalidArgument, "update_mask.paths[1]: " + userapi.DescUpdateMaskPath, "update_mask.paths[1]"},
			{"UpdateUser bad email", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Id: ada.GetId(), Email: "nope"}, UpdateMask: mask("email")})
				return err
			}, codes.InvalidArgument, "user.email: " + userapi.DescEmailInvalid, "user.email"},
			{"UpdateUser no id", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Name: "Ada"}, UpdateMask: mask("name")})
				return err
			}, codes.InvalidArgument, "user.id: " + userapi.DescRequired, "user.id"},
			{"UpdateUser unknown id", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Id: missing, Name: "Ada"}, UpdateMask: mask("name")})
				return err
			}, codes.NotFound, userapi.MsgUserNotFound, missing},
			{"UpdateUser duplicate email", func(ctx context.Context) error {
				_, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: &usersv1.User{Id: ada.GetId(), Email: "bob@example.com"}, UpdateMask: mask("email")})
				return err
			}, codes.AlreadyExists, userapi.MsgEmailTaken, ""},
			{"DeleteUser bad id", func(ctx context.Context) error {
				_, err := s.users.DeleteUser(ctx, &usersv1.DeleteUserRequest{Id: "42"})
				return err
			}, codes.InvalidArgument, "id: " + userapi.DescIDInvalid, "id"},
			{"DeleteUser unknown id", func(ctx context.Context) error {
				_, err := s.users.DeleteUser(ctx, &usersv1.DeleteUserRequest{Id: missing})
				return err
			}, codes.NotFound, userapi.MsgUserNotFound, missing},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				wantStatus(t, tt.call(testContext(t)), tt.code, tt.msg, tt.detail)
			})
		}
		// The failed calls changed nothing.
		got, err := s.users.GetUser(testContext(t), &usersv1.GetUserRequest{Id: ada.GetId()})
		if err != nil || !sameUser(got.GetUser(), ada) {
			t.Errorf("ada after the failed calls: %v, %v; want %v", got.GetUser(), err, ada)
		}
	})
}

// listPageErr reads a ListUsers stream up to its status, without checks.
func listPageErr(ctx context.Context, s *service, size int32, token string) (int, string, error) {
	stream, err := s.users.ListUsers(ctx, &usersv1.ListUsersRequest{PageSize: size, PageToken: token})
	if err != nil {
		return 0, "", err
	}
	n := 0
	for {
		msg, err := stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			return n, "", err
		}
		n++
		_ = msg
	}
}

func TestListUsersPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *service) {
		var want []string
		for i := range 12 {
			want = append(want, create(t, s, fmt.Sprintf("u%02d@example.com", i), fmt.Sprintf("User %d", i)).GetId())
		}
		sort.Strings(want)
		tests := []struct {
			size      int32
			wantPages []int
		}{
			{5, []int{5, 5, 2}},
			{4, []int{4, 4, 4}}, // an exact multiple: the last page says there is no next
			{1, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
			{12, []int{12}},
			{0, []int{12}},    // the default, 50
			{5000, []int{12}}, // clamped to 1000
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("page_size %d", tt.size), func(t *testing.T) {
				var got []string
				var pages []int
				token := ""
				for {
					users, next, err := listPage(t, s, tt.size, token)
					if err != nil {
						t.Fatalf("page %d: %v", len(pages)+1, err)
					}
					got = append(got, ids(users)...)
					pages = append(pages, len(users))
					if next == "" {
						break
					}
					if len(pages) > len(want) {
						t.Fatal("more pages than users")
					}
					token = next
				}
				if !slices.Equal(pages, tt.wantPages) {
					t.Errorf("page sizes: got %v, want %v", pages, tt.wantPages)
				}
				if !slices.Equal(got, want) {
					t.Errorf("ids over the pages:\n got %v\nwant %v (ordered by id)", got, want)
				}
			})
		}
		t.Run("a deleted cursor", func(t *testing.T) {
			first, next, err := listPage(t, s, 3, "")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.users.DeleteUser(testContext(t), &usersv1.DeleteUserRequest{Id: first[2].GetId()}); err != nil {
				t.Fatal(err)
			}
			second, _, err := listPage(t, s, 3, next)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(second), want[3:6]) {
				t.Errorf("the page after a deleted cursor: got %v, want %v", ids(second), want[3:6])
			}
		})
	})
}

func TestUpdateUserFieldMask(t *testing.T) {
	forEachBackend(t, func(t *testing.T, s *service) {
		mask := func(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }
		tests := []struct {
			name      string
			in        *usersv1.User // id filled in
			mask      *fieldmaskpb.FieldMask
			wantEmail string
			wantName  string
		}{
			{"name only", &usersv1.User{Email: "ignored@example.com", Name: "New Name"}, mask("name"), "u@example.com", "New Name"},
			{"email only", &usersv1.User{Email: "new@example.com", Name: "ignored"}, mask("email"), "new@example.com", "Old Name"},
			{"both", &usersv1.User{Email: "both@example.com", Name: " Both "}, mask("email", "name"), "both@example.com", "Both"},
			{"output-only fields ignored", &usersv1.User{Name: "Kept", CreateTime: nil}, mask("name"), "u@example.com", "Kept"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx := testContext(t)
				u := create(t, s, "u@example.com", "Old Name")
				defer s.users.DeleteUser(ctx, &usersv1.DeleteUserRequest{Id: u.GetId()})
				tt.in.Id = u.GetId()
				resp, err := s.users.UpdateUser(ctx, &usersv1.UpdateUserRequest{User: tt.in, UpdateMask: tt.mask})
				if err != nil {
					t.Fatalf("UpdateUser: %v", err)
				}
				got := resp.GetUser()
				if got.GetEmail() != tt.wantEmail || got.GetName() != tt.wantName || got.GetId() != u.GetId() {
					t.Errorf("got %v, want email %q name %q", got, tt.wantEmail, tt.wantName)
				}
				if !got.GetCreateTime().AsTime().Equal(u.GetCreateTime().AsTime()) ||
					got.GetUpdateTime().AsTime().Before(u.GetUpdateTime().AsTime()) {
					t.Errorf("times: created %v updated %v, before: %v %v", got.GetCreateTime(), got.GetUpdateTime(), u.GetCreateTime(), u.GetUpdateTime())
				}
				stored, err := s.users.GetUser(ctx, &usersv1.GetUserRequest{Id: u.GetId()})
				if err != nil || !sameUser(stored.GetUser(), got) {
					t.Errorf("GetUser after UpdateUser: %v, %v; want %v", stored.GetUser(), err, got)
				}
			})
		}
	})
}

func TestHealthAndReflection(t *testing.T) {
	s := startService(t, filepath.Join(t.TempDir(), "users.db"), time.Second)
	ctx := testContext(t)
	for _, name := range []string{"", "polymesh.users.v1.UserService"} {
		resp, err := s.health.Check(ctx, &healthpb.HealthCheckRequest{Service: name})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: got %v, %v; want SERVING", name, resp.GetStatus(), err)
		}
	}
	stream, err := reflectionpb.NewServerReflectionClient(s.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		names = append(names, svc.GetName())
	}
	if !slices.Contains(names, "polymesh.users.v1.UserService") {
		t.Errorf("reflection lists %v, want polymesh.users.v1.UserService among them", names)
	}
}

// TestHealthFollowsTheDatabase stops the PostgreSQL server under a running
// service: health turns NOT_SERVING and calls answer UNAVAILABLE.
func TestHealthFollowsTheDatabase(t *testing.T) {
	srv, err := pgtest.Start(testContext(t))
	if err != nil {
		pgtest.Unavailable(t, err)
	}
	defer srv.Stop()
	dsn, err := srv.CreateDatabase(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	s := startService(t, dsn, 100*time.Millisecond)
	ada := create(t, s, "ada@example.com", "Ada")

	ctx := testContext(t)
	watch, err := s.health.Watch(ctx, &healthpb.HealthCheckRequest{Service: "polymesh.users.v1.UserService"})
	if err != nil {
		t.Fatal(err)
	}
	waitFor := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		for {
			resp, err := watch.Recv()
			if err != nil {
				t.Fatalf("health Watch, waiting for %v: %v", want, err)
			}
			if resp.GetStatus() == want {
				return
			}
		}
	}
	waitFor(healthpb.HealthCheckResponse_SERVING)
	if err := srv.Stop(); err != nil {
		t.Fatalf("stopping postgres: %v", err)
	}
	waitFor(healthpb.HealthCheckResponse_NOT_SERVING)
	_, err = s.users.GetUser(ctx, &usersv1.GetUserRequest{Id: ada.GetId()})
	wantStatus(t, err, codes.Unavailable, userapi.MsgUnavailable, "")
}

// TestInternalErrorsHideTheCause breaks the database under the service: the
// client gets INTERNAL with the fixed message, not the database's text.
func TestInternalErrorsHideTheCause(t *testing.T) {
	path := filepath.Join(t.TempDir(), "users.db")
	s := startService(t, path, time.Second)
	ada := create(t, s, "ada@example.com", "Ada")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(testContext(t), "ALTER TABLE users RENAME TO users_gone"); err != nil {
		t.Fatal(err)
	}
	_, err = s.users.GetUser(testContext(t), &usersv1.GetUserRequest{Id: ada.GetId()})
	wantStatus(t, err, codes.Internal, userapi.MsgInternal, "")
}

func TestRunRejectsABadDatabase(t *testing.T) {
	tests := []struct{ name, dsn, want string }{
		{"uri", "file:users.db", "not a URI"},
		{"missing folder", filepath.Join(t.TempDir(), "no", "users.db"), "unable to open"},
		{"postgres down", "postgres://postgres@127.0.0.1:1/users?sslmode=disable", "still unavailable after 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lis, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			err = app.Run(testContext(t), lis, app.Config{
				DB: tt.dsn, Logger: logging.New(io.Discard, "test"), OpenTimeout: time.Second,
			})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Run: got %v, want an error mentioning %q", err, tt.want)
			}
			if _, err := lis.Accept(); err == nil {
				t.Error("the listener is still open")
			}
		})
	}
}

func TestDescribeHidesPasswords(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"users.db", "users.db"},
		{"postgres://app:s3cret@db:5432/users?sslmode=disable", "postgres://app:xxxxx@db:5432/users?sslmode=disable"},
		{"postgresql://app@db/users", "postgresql://app@db/users"},
	}
	for _, tt := range tests {
		if got := app.Describe(tt.dsn); got != tt.want {
			t.Errorf("Describe(%q): got %q, want %q", tt.dsn, got, tt.want)
		}
	}
}

func sameUser(a, b *usersv1.User) bool {
	return a.GetId() == b.GetId() && a.GetEmail() == b.GetEmail() && a.GetName() == b.GetName() &&
		a.GetCreateTime().AsTime().Equal(b.GetCreateTime().AsTime()) &&
		a.GetUpdateTime().AsTime().Equal(b.GetUpdateTime().AsTime())
}
