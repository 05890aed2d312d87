"""Shared pieces of polymesh's Python services: tracing, logging, gRPC bootstrap."""
