package polymesh

import (
	"context"
	"errors"
	"io"
	"iter"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
)

// UsersClient calls the users API, polymesh.users.v1.UserService. Get one
// from Conn.Users; it is safe for concurrent use.
//
//	user, err := conn.Users().Create(ctx, "ada@example.com", "Ada Lovelace")
//	for user, err := range conn.Users().List(ctx, 100) { ... }
type UsersClient struct {
	raw usersv1.UserServiceClient
}

func newUsersClient(cc grpc.ClientConnInterface) *UsersClient {
	return &UsersClient{raw: usersv1.NewUserServiceClient(cc)}
}

// Raw is the generated client, for what the wrappers do not cover.
func (c *UsersClient) Raw() usersv1.UserServiceClient { return c.raw }

// Create creates a user and returns it as stored, with its id and times.
func (c *UsersClient) Create(ctx context.Context, email, name string, opts ...grpc.CallOption) (*usersv1.User, error) {
	resp, err := c.raw.CreateUser(ctx, &usersv1.CreateUserRequest{Email: email, Name: name}, opts...)
	if err != nil {
		return nil, err
	}
	return resp.GetUser(), nil
}

// Get returns the user with id.
func (c *UsersClient) Get(ctx context.Context, id string, opts ...grpc.CallOption) (*usersv1.User, error) {
	resp, err := c.raw.GetUser(ctx, &usersv1.GetUserRequest{Id: id}, opts...)
	if err != nil {
		return nil, err
	}
	return resp.GetUser(), nil
}

// Update changes the fields of user.Id named by paths ("email", "name")
// to their values in user, and returns the user as stored now.
func (c *UsersClient) Update(ctx context.Context, user *usersv1.User, paths []string, opts ...grpc.CallOption) (*usersv1.User, error) {
	resp, err := c.raw.UpdateUser(ctx, &usersv1.UpdateUserRequest{
		User:       user,
		UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
	}, opts...)
	if err != nil {
		return nil, err
	}
	return resp.GetUser(), nil
}

// Delete deletes the user with id.
func (c *UsersClient) Delete(ctx context.Context, id string, opts ...grpc.CallOption) error {
	_, err := c.raw.DeleteUser(ctx, &usersv1.DeleteUserRequest{Id: id}, opts...)
	return err
}

// ListPage returns one page of users, at most pageSize (0: the server's
// default), starting after pageToken ("" for the first page), and the
// token of the next page ("" after the last page). A stream that ends
// without the page's end message is an UNAVAILABLE error: ask for the same
// page again.
func (c *UsersClient) ListPage(ctx context.Context, pageSize int32, pageToken string, opts ...grpc.CallOption) (users []*usersv1.User, next string, err error) {
	next, _, err = c.page(ctx, pageSize, pageToken, func(u *usersv1.User) bool {
		users = append(users, u)
		return true
	}, opts)
	if err != nil {
		return nil, "", err
	}
	return users, next, nil
}

// List iterates over every user, in id order, as the ListUsers streams
// deliver them, following the pages (pageSize users per call; 0: the
// server's default). Each page is one call with its own deadline. An error
// is yielded once, with a nil user, and ends the iteration (users of a page
// cut short may have been yielded already); breaking out of the loop ends
// the call in flight.
//
//	for user, err := range users.List(ctx, 100) {
//		if err != nil { return err }
//		fmt.Println(user.GetEmail())
//	}
func (c *UsersClient) List(ctx context.Context, pageSize int32, opts ...grpc.CallOption) iter.Seq2[*usersv1.User, error] {
	return func(yield func(*usersv1.User, error) bool) {
		token := ""
		for {
			next, stopped, err := c.page(ctx, pageSize, token, func(u *usersv1.User) bool { return yield(u, nil) }, opts)
			if stopped {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if next == "" {
				return
			}
			token = next
		}
	}
}

// page streams one page into each (until it returns false: stopped) and
// returns the next page's token.
func (c *UsersClient) page(ctx context.Context, pageSize int32, pageToken string, each func(*usersv1.User) bool, opts []grpc.CallOption) (next string, stopped bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.raw.ListUsers(ctx, &usersv1.ListUsersRequest{PageSize: pageSize, PageToken: pageToken}, opts...)
	if err != nil {
		return "", false, err
	}
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return "", false, status.Error(codes.Unavailable, "polymesh: the ListUsers stream ended before the end of its page")
		}
		if err != nil {
			return "", false, err
		}
		switch item := msg.GetItem().(type) {
		case *usersv1.ListUsersResponse_User:
			if !each(item.User) {
				return "", true, nil
			}
		case *usersv1.ListUsersResponse_End:
			// The end is the last message: read on to the stream's status.
			if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
				if err == nil {
					err = status.Error(codes.Internal, "polymesh: a ListUsers message after the end of its page")
				}
				return "", false, err
			}
			return item.End.GetNextPageToken(), false, nil
		}
	}
}
