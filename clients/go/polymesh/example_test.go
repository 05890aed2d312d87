package polymesh_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/polymesh/polymesh/clients/go/polymesh"
)

// The examples call a mesh started with `./dev up`: the gateway on
// 127.0.0.1:8080 (plaintext) and 127.0.0.1:8443 (TLS), and the demo API key.

func ExampleDial() {
	conn, err := polymesh.Dial("127.0.0.1:8080",
		polymesh.WithAPIKey("polymesh-demo-key"),
		polymesh.WithDefaultTimeout(2*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	models, err := conn.AI().ListModels(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range models {
		fmt.Println(m.GetName(), m.GetVersions())
	}
}

func ExampleTLSCredentials() {
	// The TLS port, the server's certificate verified against the mesh's CA.
	creds, err := polymesh.TLSCredentials(".run/tls/ca.crt", "", "")
	if err != nil {
		log.Fatal(err)
	}
	conn, err := polymesh.Dial("127.0.0.1:8443",
		polymesh.WithTransportCredentials(creds),
		polymesh.WithAPIKey("polymesh-demo-key"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	models, err := conn.AI().ListModels(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(models), "models")
}

func ExampleAIClient_PredictRows() {
	conn, err := polymesh.Dial("127.0.0.1:8080", polymesh.WithAPIKey("polymesh-demo-key"))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	answer, err := conn.AI().PredictRows(context.Background(), "iris", [][]float32{{5.1, 3.5, 1.4, 0.2}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(polymesh.Output(answer, "label").GetIntValues())
}

func ExampleUsersClient_List() {
	conn, err := polymesh.Dial("127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	for user, err := range conn.Users().List(context.Background(), 100) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(user.GetId(), user.GetEmail())
	}
}

func ExampleUsersClient_Get() {
	conn, err := polymesh.Dial("127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	_, err = conn.Users().Get(context.Background(), "0f8fad5b-d9cb-469f-a165-70867728950e")
	if status.Code(err) == codes.NotFound {
		fmt.Println("no such user")
	}
}

func ExampleInferenceClient_InferRows() {
	conn, err := polymesh.Dial("127.0.0.1:8080")
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	resp, err := conn.Inference().InferRows(context.Background(), "iris", "input", [][]float32{{5.1, 3.5, 1.4, 0.2}})
	if err != nil {
		log.Fatal(err)
	}
	labels, err := polymesh.OutputInt64(resp, "label")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(labels)
}
