package userapi

import (
	"testing"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/polymesh/polymesh/gen/go/polymesh/users/v1"
)

func BenchmarkValidateCreate(b *testing.B) {
	b.Run("valid", func(b *testing.B) {
		req := &usersv1.CreateUserRequest{Email: "ada.lovelace@example.com", Name: "  Ada Lovelace  "}
		for b.Loop() {
			if _, _, err := ValidateCreate(req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("invalid", func(b *testing.B) {
		req := &usersv1.CreateUserRequest{Email: "Ada <ada@example.com>", Name: "A"}
		for b.Loop() {
			if _, _, err := ValidateCreate(req); err == nil {
				b.Fatal("valid")
			}
		}
	})
}

func BenchmarkValidateUpdate(b *testing.B) {
	req := &usersv1.UpdateUserRequest{
		User:       &usersv1.User{Id: validID, Email: "ada@example.com", Name: "Ada"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"email", "name"}},
	}
	for b.Loop() {
		if _, _, err := ValidateUpdate(req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateList(b *testing.B) {
	req := &usersv1.ListUsersRequest{PageSize: 100, PageToken: EncodePageToken(validID)}
	for b.Loop() {
		if _, _, err := ValidateList(req); err != nil {
			b.Fatal(err)
		}
	}
}
