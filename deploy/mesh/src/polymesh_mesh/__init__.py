"""polymesh_mesh: the one description of the mesh, deploy/mesh.yaml, read.

- `model`: `load()` the file; `Mesh.resolve(folders, environ, overrides)`
  gives each process's argv, environment, ports and health check.
- `config`: the gateway's configuration generated from the file, and the
  templates it names (Jaeger's) filled in.
- `supervisor`: `./dev up / down / status` (`python -m polymesh_mesh`):
  ordered start with readiness from grpc.health.v1, stop in reverse order,
  pid files and logs in the run folder.
- `testing`: free ports, a child process with its log file, waiting; for
  tests and benchmarks.
- `probe`: `grpc_serving(target)`, `http_ok(url)`.
"""
