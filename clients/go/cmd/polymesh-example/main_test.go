package main

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/polymesh/polymesh/clients/go/internal/testmesh"
)

// TestExampleThroughTheGateway runs the command against a real gateway in
// front of aiapi, users and inference, and finds its calls' server spans
// in the trace it prints.
func TestExampleThroughTheGateway(t *testing.T) {
	mesh, err := testmesh.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := mesh.Close(); err != nil {
			t.Error(err)
		}
	})
	gateway, err := mesh.Start("gateway")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := mesh.Binary("./clients/go/cmd/polymesh-example")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-target", gateway, "-api-key", testmesh.APIKey,
		"-timeout", "20s", "-email", "example.test@example.com")
	cmd.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+mesh.Collector.Addr)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("polymesh-example: %v\n%s", err, out)
	}
	text := string(out)
	for _, want := range []string{"model iris", "-> labels [0 2]", "created user", "read user", "deleted user"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	m := regexp.MustCompile(`trace ([0-9a-f]{32})`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("output names no trace:\n%s", text)
	}
	// The users service's span of GetUser is in the example's trace.
	_, err = mesh.Collector.WaitSpan(ctx, func(s *tracepb.Span) bool {
		return hex.EncodeToString(s.GetTraceId()) == m[1] && s.GetKind() == tracepb.Span_SPAN_KIND_SERVER &&
			strings.HasSuffix(s.GetName(), "UserService/GetUser")
	})
	if err != nil {
		t.Error(err)
	}

	// A call the AI API refuses fails the command with the status.
	cmd = exec.CommandContext(ctx, bin, "-target", gateway, "-api-key", "wrong-key")
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Unauthenticated") {
		t.Errorf("with a wrong key: %v\n%s", err, out)
	}
}

func TestFlagsHelp(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-h")
	cmd.Env = append(os.Environ(), "POLYMESH_EXAMPLE_RUN_MAIN=1")
	out, _ := cmd.CombinedOutput()
	for _, flag := range []string{"-target", "-api-key", "-timeout"} {
		if !strings.Contains(string(out), flag) {
			t.Errorf("-h output lacks %s:\n%s", flag, out)
		}
	}
}

func TestMain(m *testing.M) {
	if os.Getenv("POLYMESH_EXAMPLE_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}
