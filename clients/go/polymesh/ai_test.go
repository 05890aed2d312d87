package polymesh_test

import (
	"io"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/clients/go/polymesh"
	aiv1 "github.com/polymesh/polymesh/gen/go/polymesh/ai/v1"
)

var irisRows = [][]float32{{5.1, 3.5, 1.4, 0.2}, {6.7, 3.0, 5.2, 2.3}}

func TestAIModelsAndPredictions(t *testing.T) {
	ai := dial(t, "gateway", polymesh.WithAPIKey(testAPIKey)).AI()
	ctx := testContext(t)

	models, err := ai.ListModels(ctx)
	if err != nil {
		t.Fatalf("ListModels: %v", err)
	}
	var names []string
	for _, m := range models {
		names = append(names, m.GetName())
	}
	if !slices.Contains(names, "iris") {
		t.Fatalf("ListModels: %v, want iris among them", names)
	}
	iris, err := ai.GetModel(ctx, "iris", "")
	if err != nil || iris.GetName() != "iris" || len(iris.GetInputs()) == 0 {
		t.Fatalf("GetModel(iris): %v, %v", iris, err)
	}

	answer, err := ai.PredictRows(ctx, "iris", irisRows)
	if err != nil {
		t.Fatalf("PredictRows: %v", err)
	}
	// The first row is a setosa (0), the second a virginica (2).
	if got := polymesh.Output(answer, "label").GetIntValues(); !slices.Equal(got, []int64{0, 2}) {
		t.Errorf("labels %v, want [0 2]", got)
	}
	if polymesh.Output(answer, "no such output") != nil {
		t.Error("Output of a missing name is not nil")
	}

	if _, err := ai.GetModel(ctx, "no-such-model", ""); status.Code(err) != codes.NotFound {
		t.Errorf("GetModel of an unknown model: got %v, want NOT_FOUND", err)
	}
	if _, err := ai.PredictRows(ctx, "iris", [][]float32{{1, 2}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("PredictRows with 2 features: got %v, want INVALID_ARGUMENT", err)
	}
}

func TestAIPredictStream(t *testing.T) {
	ai := dial(t, "gateway", polymesh.WithAPIKey(testAPIKey)).AI()
	stream, err := ai.PredictStream(testContext(t))
	if err != nil {
		t.Fatalf("PredictStream: %v", err)
	}
	requests := []*aiv1.PredictRequest{
		polymesh.RowsRequest("iris", irisRows[:1]),
		polymesh.RowsRequest("no-such-model", irisRows[:1]),
		polymesh.RowsRequest("iris", irisRows[1:]),
	}
	for _, r := range requests {
		if err := stream.Send(&aiv1.PredictStreamRequest{Request: r}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	var labels []int64
	var codesSeen []codes.Code
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		codesSeen = append(codesSeen, codes.Code(msg.GetErrorCode()))
		labels = append(labels, polymesh.Output(msg.GetResponse(), "label").GetIntValues()...)
	}
	if want := []codes.Code{codes.OK, codes.NotFound, codes.OK}; !slices.Equal(codesSeen, want) {
		t.Errorf("result codes %v, want %v", codesSeen, want)
	}
	if !slices.Equal(labels, []int64{0, 2}) {
		t.Errorf("labels %v, want [0 2]", labels)
	}
}
