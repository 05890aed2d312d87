// Package userapi implements polymesh.users.v1.UserService over a
// store.Store: it validates requests (the exact messages are in
// messages.go), calls the store, and maps its errors to gRPC status codes.
package userapi

import (
	"context"
	"errors"
	"log/slog"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
	"github.com/polymesh/polymesh/services/users/internal/store"
)

// Server is the UserService.
type Server struct {
	usersv1.UnimplementedUserServiceServer
	store store.Store
	log   *slog.Logger
}

var _ usersv1.UserServiceServer = (*Server)(nil)

// NewServer serves the users of s, logging unexpected errors to log.
func NewServer(s store.Store, log *slog.Logger) *Server {
	return &Server{store: s, log: log}
}

// CreateUser implements usersv1.UserServiceServer.
func (s *Server) CreateUser(ctx context.Context, req *usersv1.CreateUserRequest) (*usersv1.CreateUserResponse, error) {
	email, name, err := ValidateCreate(req)
	if err != nil {
		return nil, err
	}
	u, err := s.store.Create(ctx, email, name)
	if err != nil {
		return nil, s.storeError(ctx, "CreateUser", "", err)
	}
	return &usersv1.CreateUserResponse{User: toProto(u)}, nil
}

// GetUser implements usersv1.UserServiceServer.
func (s *Server) GetUser(ctx context.Context, req *usersv1.GetUserRequest) (*usersv1.GetUserResponse, error) {
	if err := ValidateID(req.GetId()); err != nil {
		return nil, err
	}
	u, err := s.store.Get(ctx, req.GetId())
	if err != nil {
		return nil, s.storeError(ctx, "GetUser", req.GetId(), err)
	}
	return &usersv1.GetUserResponse{User: toProto(u)}, nil
}

// ListUsers implements usersv1.UserServiceServer: up to page_size users,
// then the end message with the next page's token.
func (s *Server) ListUsers(req *usersv1.ListUsersRequest, stream usersv1.UserService_ListUsersServer) error {
	ctx := stream.Context()
	pageSize, after, err := ValidateList(req)
	if err != nil {
		return err
	}
	// One more than the page tells whether another page follows.
	users, err := s.store.List(ctx, after, pageSize+1)
	if err != nil {
		return s.storeError(ctx, "ListUsers", "", err)
	}
	next := ""
	if len(users) > pageSize {
		users = users[:pageSize]
		next = EncodePageToken(users[len(users)-1].ID)
	}
	for _, u := range users {
		if err := stream.Send(&usersv1.ListUsersResponse{Item: &usersv1.ListUsersResponse_User{User: toProto(u)}}); err != nil {
			return err
		}
	}
	return stream.Send(&usersv1.ListUsersResponse{Item: &usersv1.ListUsersResponse_End{
		End: &usersv1.ListUsersEnd{NextPageToken: next},
	}})
}

// UpdateUser implements usersv1.UserServiceServer.
func (s *Server) UpdateUser(ctx context.Context, req *usersv1.UpdateUserRequest) (*usersv1.UpdateUserResponse, error) {
	id, change, err := ValidateUpdate(req)
	if err != nil {
		return nil, err
	}
	u, err := s.store.Update(ctx, id, change)
	if err != nil {
		return nil, s.storeError(ctx, "UpdateUser", id, err)
	}
	return &usersv1.UpdateUserResponse{User: toProto(u)}, nil
}

// DeleteUser implements usersv1.UserServiceServer.
func (s *Server) DeleteUser(ctx context.Context, req *usersv1.DeleteUserRequest) (*usersv1.DeleteUserResponse, error) {
	if err := ValidateID(req.GetId()); err != nil {
		return nil, err
	}
	if err := s.store.Delete(ctx, req.GetId()); err != nil {
		return nil, s.storeError(ctx, "DeleteUser", req.GetId(), err)
	}
	return &usersv1.DeleteUserResponse{}, nil
}

// storeError maps a store error to the status the API answers: the
// store's sentinels to their codes, context ends to theirs, anything else
// to INTERNAL, logged with the call's trace. id names the user, if any.
func (s *Server) storeError(ctx context.Context, method, id string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		st := status.New(codes.NotFound, MsgUserNotFound)
		if d, derr := st.WithDetails(&errdetails.ResourceInfo{
			ResourceType: ResourceTypeUser, ResourceName: id, Description: MsgUserNotFound,
		}); derr == nil {
			st = d
		}
		return st.Err()
	case errors.Is(err, store.ErrEmailTaken):
		return status.Error(codes.AlreadyExists, MsgEmailTaken)
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, MsgDeadlineExceeded)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, MsgCancelled)
	case errors.Is(err, store.ErrUnavailable):
		s.log.WarnContext(ctx, "database unavailable", "method", method, "error", err)
		return status.Error(codes.Unavailable, MsgUnavailable)
	}
	s.log.ErrorContext(ctx, "database error", "method", method, "error", err)
	return status.Error(codes.Internal, MsgInternal)
}

func toProto(u store.User) *usersv1.User {
	return &usersv1.User{
		Id:         u.ID,
		Email:      u.Email,
		Name:       u.Name,
		CreateTime: timestamppb.New(u.CreateTime),
		UpdateTime: timestamppb.New(u.UpdateTime),
	}
}
