"""Python clients of the polymesh mesh.

- `polymesh_client.ai`: a typed client of `polymesh.ai.v1.AIService`.
- `polymesh_client.users`: a typed client of `polymesh.users.v1.UserService`.
- `polymesh_client.inference`: a client of the Open Inference Protocol
  (`inference.GRPCInferenceService`) that speaks numpy.
- `polymesh_client.calls`: the deadline, metadata and trace context of their calls.
- `polymesh_client.auth`: credentials for the gateway: an API key on every call of a
  channel, TLS with the mesh's CA, a client certificate (mTLS).
- `polymesh_client.traces`: one trace from Jaeger's query API, as a tree.
- `python -m polymesh_client.demo`: real calls through the gateway and their trace.
"""
