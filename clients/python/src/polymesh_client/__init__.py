"""Python clients of the polymesh mesh.

- `polymesh_client.ai`: a typed client of `polymesh.ai.v1.AIService`.
- `polymesh_client.traces`: one trace from Jaeger's query API, as a tree.
- `python -m polymesh_client.probe NAME`: is a process of `./dev up` ready?
- `python -m polymesh_client.demo`: real calls through the gateway and their trace.
"""
