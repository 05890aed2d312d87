// Package compose checks the container demo statically, in seconds, before
// the compose suite of ./dev test runs it for real (tests/stack, in the
// container engine of deploy/docker/engine.sh).
//
// Its tests load compose.yaml with the Compose Specification's own loader
// (schema validation, interpolation, references), then check that it and
// the Dockerfiles it builds describe the same mesh that `./dev up` starts:
// the same services, commands, ports and environment variable names, and
// the same pinned toolchain as `./dev setup` and `./dev build`; and that
// deploy/docker/compose.local.yaml replaces every image a machine without a
// registry cannot pull.
//
//	go test ./tests/compose/
package compose
