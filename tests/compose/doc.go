// Package compose checks the container demo without a container engine.
//
// Its tests load compose.yaml with the Compose Specification's own loader
// (schema validation, interpolation, references), then check that it and
// the Dockerfiles it builds describe the same mesh that `./dev up` starts:
// the same services, commands, ports and environment variable names, and
// the same pinned toolchain as `./dev setup` and `./dev build`.
//
//	go test ./tests/compose/
package compose
