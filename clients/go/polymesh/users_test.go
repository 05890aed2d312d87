package polymesh_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
)

func TestUsersRoundTrip(t *testing.T) {
	users := dial(t, "users").Users()
	ctx := testContext(t)
	created, err := users.Create(ctx, "ada.roundtrip@example.com", "Ada Lovelace")
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if created.GetId() == "" || created.GetCreateTime() == nil {
		t.Fatalf("Create returned %v, want an id and times", created)
	}
	got, err := users.Get(ctx, created.GetId())
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !proto.Equal(got, created) {
		t.Errorf("Get: got %v, want %v", got, created)
	}
	changed := &usersv1.User{Id: created.GetId(), Name: "Augusta Ada King", Email: "ignored@example.com"}
	updated, err := users.Update(ctx, changed, []string{"name"})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if updated.GetName() != "Augusta Ada King" || updated.GetEmail() != created.GetEmail() {
		t.Errorf("Update: got %v, want the new name and the old email", updated)
	}
	if err := users.Delete(ctx, created.GetId()); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := users.Get(ctx, created.GetId()); status.Code(err) != codes.NotFound {
		t.Errorf("Get after Delete: got %v, want NOT_FOUND", err)
	}
}

func TestUsersErrorsAreStatuses(t *testing.T) {
	users := dial(t, "users").Users()
	ctx := testContext(t)
	if _, err := users.Create(ctx, "grace.errors@example.com", "Grace Hopper"); err != nil {
		t.Fatalf("Create: %v", err)
	}

	_, err := users.Create(ctx, "not an address", "Grace Hopper")
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		t.Fatalf("Create with a bad email: got %v, want INVALID_ARGUMENT", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if bad, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range bad.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	if !slices.Equal(fields, []string{"email"}) {
		t.Errorf("BadRequest fields %v, want [email]", fields)
	}

	if _, err := users.Create(ctx, "grace.errors@example.com", "Grace"); status.Code(err) != codes.AlreadyExists {
		t.Errorf("Create with a taken email: got %v, want ALREADY_EXISTS", err)
	}
	if _, err := users.Update(ctx, &usersv1.User{Id: "0f8fad5b-d9cb-469f-a165-70867728950e", Name: "Nobody"}, []string{"name"}); status.Code(err) != codes.NotFound {
		t.Errorf("Update of an unknown user: got %v, want NOT_FOUND", err)
	}
	if _, err := users.Update(ctx, &usersv1.User{Id: "0f8fad5b-d9cb-469f-a165-70867728950e"}, nil); status.Code(err) != codes.InvalidArgument {
		t.Errorf("Update without a mask: got %v, want INVALID_ARGUMENT", err)
	}
	if _, _, err := users.ListPage(ctx, 10, "not a token"); status.Code(err) != codes.InvalidArgument {
		t.Errorf("ListPage with a bad token: got %v, want INVALID_ARGUMENT", err)
	}
}

func TestUsersListFollowsThePages(t *testing.T) {
	users := dial(t, "users").Users()
	ctx := testContext(t)
	want := map[string]bool{}
	for i := range 5 {
		u, err := users.Create(ctx, fmt.Sprintf("list%d@example.com", i), fmt.Sprintf("List User %d", i))
		if err != nil {
			t.Fatalf("Create: %v", err)
		}
		want[u.GetId()] = true
	}
	// Other tests add users to the same database: all of these must come,
	// each once, in id order.
	var ids []string
	for u, err := range users.List(ctx, 2) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		ids = append(ids, u.GetId())
	}
	if !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Errorf("List: ids %v are not unique and in order", ids)
	}
	for _, id := range ids {
		delete(want, id)
	}
	if len(want) != 0 {
		t.Errorf("List: users %v missing", want)
	}

	page, next, err := users.ListPage(ctx, 2, "")
	if err != nil || len(page) != 2 || next == "" {
		t.Fatalf("ListPage: got %d users, next %q, %v; want 2 and a next token", len(page), next, err)
	}

	n := 0
	for _, err := range users.List(ctx, 2) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if n++; n == 3 {
			break // inside the second page
		}
	}
	if n != 3 {
		t.Errorf("List stopped after %d users, want 3", n)
	}
}
