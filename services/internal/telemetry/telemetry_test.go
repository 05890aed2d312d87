package telemetry

import (
	"testing"

	"google.golang.org/grpc/codes"
)

func TestSemconvModeFrom(t *testing.T) {
	tests := []struct {
		value string
		want  SemconvMode
	}{
		{"", SemconvOld},
		{"http", SemconvOld},
		{"rpc", SemconvNew},
		{"http, rpc", SemconvNew},
		{"rpc/dup", SemconvDup},
		{"rpc,rpc/dup", SemconvDup},
	}
	for _, tt := range tests {
		if got := SemconvModeFrom(tt.value); got != tt.want {
			t.Errorf("SemconvModeFrom(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func TestCodeName(t *testing.T) {
	for code, want := range map[codes.Code]string{codes.OK: "OK", codes.NotFound: "NOT_FOUND", codes.Unauthenticated: "UNAUTHENTICATED", codes.Code(99): "UNKNOWN"} {
		if got := CodeName(code); got != want {
			t.Errorf("CodeName(%v) = %q, want %q", code, got, want)
		}
	}
}
