"""The files the mesh's processes read, generated from the mesh file: the
gateway's configuration (from its `gateway` section) and templates with
@NAMES@ (Jaeger's, deploy/jaeger/jaeger.yaml.in).

    text = gateway_yaml(resolved.gateway)      # what the gateway accepts
    write_files(resolved)                      # every process's files, and
                                               # the certificates (pki)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .model import MeshError, ResolvedFile, ResolvedMesh, ResolvedProcess
from .pki import PkiError, ensure

HEADER = (
    "# The gateway configuration of the local mesh, generated from deploy/mesh.yaml\n"
    "# by polymesh_mesh: edit that file, not this one.\n"
)


def gateway_yaml(config: dict[str, Any], header: str = HEADER) -> str:
    """The gateway's configuration as YAML (proto/polymesh/gateway/v1/config.proto)."""
    import yaml

    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=100)


def render_template(file: ResolvedFile) -> str:
    """A template with every @NAME@ of `file.values` filled in; any @NAME@
    left outside a comment is an error."""
    if file.template is None:
        raise MeshError(f"{file.path}: no template")
    text = file.template.read_text()
    for name, value in file.values.items():
        text = text.replace(f"@{name}@", value)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    left = sorted(set(re.findall(r"@([A-Z][A-Z0-9_]*)@", code)))
    if left:
        raise MeshError(f"{file.template}: no value for {', '.join(left)}")
    return text


def write_files(
    mesh: ResolvedMesh,
    processes: list[ResolvedProcess] | None = None,
    gateway: dict[str, Any] | None = None,
) -> list[Path]:
    """Writes the files of `processes` (default: all): templates filled in,
    the gateway's configuration from `gateway` (default: the mesh's); and
    makes the mesh's certificates (`pki.ensure`: only what is missing or
    due). Returns the configuration files written."""
    written = []
    if mesh.pki is not None:
        try:
            ensure(mesh.pki)
        except PkiError as e:
            raise MeshError(str(e)) from e
    # Logs too: the gateway's access log is opened there.
    (mesh.folders.run / "logs").mkdir(parents=True, exist_ok=True)
    for process in mesh.processes if processes is None else processes:
        for file in process.files:
            file.path.parent.mkdir(parents=True, exist_ok=True)
            if file.gateway:
                file.path.write_text(gateway_yaml(mesh.gateway if gateway is None else gateway))
            else:
                file.path.write_text(render_template(file))
            written.append(file.path)
    return written
