package telemetry

import (
	"context"
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

func TestResourceNamesTheServiceUnlessTheEnvironmentDoes(t *testing.T) {
	for _, tc := range []struct{ env, attrs, want string }{
		{"", "", "polymesh-x"},
		{"from-env", "", "from-env"},
		{"", "service.name=from-attrs,team=ml", "from-attrs"},
	} {
		t.Setenv("OTEL_SERVICE_NAME", tc.env)
		t.Setenv("OTEL_RESOURCE_ATTRIBUTES", tc.attrs)
		res, err := Resource(context.Background(), "polymesh-x")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := res.Set().Value("service.name")
		if got.AsString() != tc.want {
			t.Errorf("env %q attrs %q: service.name = %q, want %q", tc.env, tc.attrs, got.AsString(), tc.want)
		}
	}
}
