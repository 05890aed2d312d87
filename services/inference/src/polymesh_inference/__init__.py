"""polymesh's Python model server: the Open Inference Protocol v2 over gRPC."""

__version__ = "0.1.0"
