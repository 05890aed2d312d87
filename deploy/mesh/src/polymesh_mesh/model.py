"""The mesh file (deploy/mesh.yaml) as Python objects, and its resolution.

    mesh = load()                                   # deploy/mesh.yaml of this checkout
    folders = Folders.of_checkout()                 # build/, .venv/, the tools, .run/
    resolved = mesh.resolve(folders, os.environ)    # ports from the environment
    for p in resolved.processes:
        p.argv, p.env, p.ports, p.health            # concrete: start it

`Mesh` is the file as written (templates); `ResolvedMesh` is one instance of
it: every `${VARIABLE}` replaced by its value (the environment's, an
override's, or the file's default) and every `{folder}` by a path. Its `pki`
is the local certificate authority to make (`polymesh_mesh.pki.ensure`).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import pki as pki_module
from .pki import Pki, PkiError

ROOT = Path(__file__).resolve().parents[4]
"""The checkout this package is installed from (editable, by ./dev setup)."""

MESH_FILE = ROOT / "deploy" / "mesh.yaml"

_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
_FOLDER = re.compile(r"\{([a-z]+)\}")
FOLDERS = ("root", "build", "venv", "tools", "run")


class MeshError(ValueError):
    """The mesh file is malformed, or names something it does not define."""


@dataclass(frozen=True)
class Folders:
    """The folders of a checkout that commands and paths name."""

    root: Path
    build: Path
    venv: Path
    tools: Path
    run: Path

    @classmethod
    def of_checkout(
        cls, root: Path = ROOT, run: Path | None = None, tools: Path | None = None
    ) -> Folders:
        """The folders of `./dev` in `root`: run from POLYMESH_RUN_DIR or .run/,
        tools where a `jaeger` binary is found (PATH, then the polymesh cache)."""
        if run is None:
            run = Path(os.environ.get("POLYMESH_RUN_DIR", root / ".run"))
        if tools is None:
            tools = find_tools()
        return cls(root=root, build=root / "build", venv=root / ".venv", tools=tools, run=run)

    def as_dict(self) -> dict[str, str]:
        return {name: str(getattr(self, name)) for name in FOLDERS}


def find_tools() -> Path:
    """The Go tools folder of ./dev setup: the one holding bin/jaeger."""
    found = shutil.which("jaeger")
    if found:
        return Path(found).resolve().parent.parent
    cache = Path(
        os.environ.get("POLYMESH_CACHE")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "polymesh"
    )
    for candidate in sorted(glob.glob(str(cache / "tools-*" / "bin" / "jaeger"))):
        return Path(candidate).parent.parent
    return cache / "tools"


@dataclass(frozen=True)
class Port:
    """A port a process listens on, moved by its variable."""

    variable: str
    default: int
    about: str
    url: str | None = None
    """For HTTP ports: the path `./dev status` shows (the address is then a URL)."""
    note: str | None = None


@dataclass(frozen=True)
class Health:
    """How to know a process is ready: grpc.health.v1 SERVING on a port, or
    an HTTP GET answering 200."""

    kind: str  # "grpc" or "http"
    variable: str
    path: str = ""


@dataclass(frozen=True)
class FileSpec:
    """A file written before the process starts: a template with @NAMES@,
    or the gateway's configuration."""

    path: str
    template: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    gateway: bool = False


@dataclass(frozen=True)
class ProcessSpec:
    """One process as the mesh file writes it (with placeholders)."""

    name: str
    about: str
    command: list[str]
    environment: dict[str, str]
    ports: list[Port]
    health: Health
    files: list[FileSpec] = field(default_factory=list)
    source: str | None = None


@dataclass(frozen=True)
class Mesh:
    """deploy/mesh.yaml: the processes in start order, the host and the gateway."""

    host_variable: str
    host_default: str
    processes: list[ProcessSpec]
    gateway: dict[str, Any]
    path: Path = MESH_FILE
    pki: dict[str, Any] | None = None
    """The `pki` section as written (placeholders in it), if any."""

    def process(self, name: str) -> ProcessSpec:
        for p in self.processes:
            if p.name == name:
                return p
        raise MeshError(f"{self.path}: no process {name!r}")

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.processes]

    @property
    def ports(self) -> list[Port]:
        """Every port of every process, in order."""
        return [port for p in self.processes for port in p.ports]

    @property
    def port_variables(self) -> list[str]:
        return [port.variable for port in self.ports]

    def defaults(self) -> dict[str, str]:
        """Every variable with its default."""
        values = {self.host_variable: self.host_default}
        values.update({port.variable: str(port.default) for port in self.ports})
        return values

    def resolve(
        self,
        folders: Folders,
        environ: Mapping[str, str] | None = None,
        overrides: Mapping[str, str | int] | None = None,
    ) -> ResolvedMesh:
        """The mesh with every placeholder filled in: each variable from
        `overrides`, else `environ`, else its default."""
        environ = {} if environ is None else environ
        values = self.defaults()
        for name in values:
            if environ.get(name):
                values[name] = environ[name]
        for name, value in (overrides or {}).items():
            if name not in values:
                raise MeshError(f"{self.path}: no variable {name}")
            values[name] = str(value)
        for variable in self.port_variables:
            if not values[variable].isdigit():
                raise MeshError(f"{variable}={values[variable]!r} is not a port number")
        sub = _Substitution(values, folders.as_dict(), self.path)
        processes = [
            ResolvedProcess(
                name=p.name,
                about=p.about,
                argv=[sub(a) for a in p.command],
                env={k: sub(v) for k, v in p.environment.items()},
                ports=[
                    ResolvedPort(
                        variable=port.variable,
                        port=int(values[port.variable]),
                        host=values[self.host_variable],
                        about=port.about,
                        url=port.url,
                        note=sub(port.note) if port.note else None,
                    )
                    for port in p.ports
                ],
                health=p.health,
                health_target=_health_target(p.health, values, self.host_variable),
                files=[
                    ResolvedFile(
                        path=Path(sub(f.path)),
                        template=Path(folders.root, f.template) if f.template else None,
                        values={k: sub(v) for k, v in f.values.items()},
                        gateway=f.gateway,
                    )
                    for f in p.files
                ],
            )
            for p in self.processes
        ]
        return ResolvedMesh(
            host=values[self.host_variable],
            values=values,
            folders=folders,
            processes=processes,
            gateway=sub.tree(self.gateway, ports=set(self.port_variables)),
            pki=None if self.pki is None else _pki(self.pki, sub, self.path),
        )


def _pki(node: dict[str, Any], sub: Callable[[str], str], path: Path) -> Pki:
    try:
        return pki_module.section(node, sub, f"{path}: pki")
    except PkiError as e:
        raise MeshError(str(e)) from e


def _health_target(health: Health, values: Mapping[str, str], host_variable: str) -> str:
    host = values[host_variable]
    port = values[health.variable]
    if health.kind == "http":
        return f"http://{host}:{port}{health.path}"
    return f"{host}:{port}"


class _Substitution:
    """Fills `${VARIABLE}` and `{folder}` placeholders; unknown ones are errors."""

    def __init__(self, values: Mapping[str, str], folders: Mapping[str, str], path: Path) -> None:
        self.values, self.folders, self.path = values, folders, path

    def __call__(self, text: str) -> str:
        def variable(m: re.Match[str]) -> str:
            if m.group(1) not in self.values:
                raise MeshError(f"{self.path}: {text!r}: no variable {m.group(1)}")
            return self.values[m.group(1)]

        def folder(m: re.Match[str]) -> str:
            if m.group(1) not in self.folders:
                raise MeshError(f"{self.path}: {text!r}: no folder {{{m.group(1)}}}")
            return self.folders[m.group(1)]

        return _FOLDER.sub(folder, _VARIABLE.sub(variable, text))

    def tree(self, node: Any, ports: set[str]) -> Any:
        """A YAML tree with every string filled in; a string that is one port
        variable becomes its number."""
        if isinstance(node, dict):
            return {k: self.tree(v, ports) for k, v in node.items()}
        if isinstance(node, list):
            return [self.tree(v, ports) for v in node]
        if isinstance(node, str):
            m = _VARIABLE.fullmatch(node)
            if m and m.group(1) in ports:
                return int(self(node))
            return self(node)
        return node


@dataclass(frozen=True)
class ResolvedPort:
    variable: str
    port: int
    host: str
    about: str
    url: str | None = None
    note: str | None = None

    @property
    def address(self) -> str:
        """host:port, or the URL for HTTP ports."""
        if self.url is not None:
            return f"http://{self.host}:{self.port}{self.url}"
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ResolvedFile:
    path: Path
    template: Path | None
    values: dict[str, str]
    gateway: bool


@dataclass(frozen=True)
class ResolvedProcess:
    """One process, ready to start: argv, its own environment (added to the
    caller's), where it listens and how to know it is ready."""

    name: str
    about: str
    argv: list[str]
    env: dict[str, str]
    ports: list[ResolvedPort]
    health: Health
    health_target: str
    """host:port for grpc.health.v1, or the URL for HTTP."""
    files: list[ResolvedFile] = field(default_factory=list)

    def port(self, variable: str) -> int:
        for p in self.ports:
            if p.variable == variable:
                return p.port
        raise MeshError(f"{self.name} has no port {variable}")

    def with_env(self, overrides: Mapping[str, str], *, only_known: bool = True) -> ResolvedProcess:
        """The same process with some variables set otherwise. With
        only_known, every overridden variable must be one the mesh file
        already gives it (so a test override cannot outlive a rename)."""
        if only_known:
            unknown = set(overrides) - set(self.env)
            if unknown:
                raise MeshError(
                    f"{self.name}: the mesh file sets no {', '.join(sorted(unknown))}; "
                    "override only what it sets"
                )
        return replace(self, env={**self.env, **overrides})

    def with_argv(self, argv: list[str]) -> ResolvedProcess:
        return replace(self, argv=argv)

    def ready(self, timeout: float = 1.0) -> bool:
        """Whether the process answers its health check now."""
        from .probe import grpc_serving, http_ok

        if self.health.kind == "http":
            return http_ok(self.health_target, timeout)
        return grpc_serving(self.health_target, timeout)


@dataclass(frozen=True)
class ResolvedMesh:
    host: str
    values: dict[str, str]
    folders: Folders
    processes: list[ResolvedProcess]
    gateway: dict[str, Any]
    """The gateway's configuration (config.proto as a YAML tree)."""
    pki: Pki | None = None
    """The local certificate authority and the certificates it signs."""

    def process(self, name: str) -> ResolvedProcess:
        for p in self.processes:
            if p.name == name:
                return p
        raise MeshError(f"no process {name!r}")

    def only(self, names: Iterable[str]) -> list[ResolvedProcess]:
        """The processes named, in the mesh's start order."""
        wanted = set(names)
        missing = wanted - {p.name for p in self.processes}
        if missing:
            raise MeshError(f"no process {', '.join(sorted(missing))}")
        return [p for p in self.processes if p.name in wanted]


def _str_map(node: Any, what: str) -> dict[str, str]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise MeshError(f"{what}: want a mapping")
    return {str(k): str(v) for k, v in node.items()}


def _process(node: dict[str, Any], path: Path) -> ProcessSpec:
    name = node.get("name")
    where = f"{path}: process {name!r}"
    for key in ("name", "command", "health"):
        if key not in node:
            raise MeshError(f"{where}: no {key}")
    known = {"name", "about", "command", "environment", "ports", "health", "files", "source"}
    unknown = set(node) - known
    if unknown:
        raise MeshError(f"{where}: unknown keys {sorted(unknown)}")
    ports = [
        Port(
            variable=str(p["variable"]),
            default=int(p["default"]),
            about=str(p.get("about", "")),
            url=p.get("url"),
            note=p.get("note"),
        )
        for p in node.get("ports") or []
    ]
    health_node = node["health"]
    kinds = [k for k in ("grpc", "http") if k in health_node]
    if len(kinds) != 1:
        raise MeshError(f"{where}: health: want one of grpc or http")
    health = Health(kinds[0], str(health_node[kinds[0]]), str(health_node.get("path", "")))
    if health.variable not in {p.variable for p in ports}:
        raise MeshError(f"{where}: health names {health.variable}, not one of its ports")
    files = [
        FileSpec(
            path=str(f["path"]),
            template=f.get("template"),
            values=_str_map(f.get("values"), f"{where}: files"),
            gateway=bool(f.get("gateway", False)),
        )
        for f in node.get("files") or []
    ]
    return ProcessSpec(
        name=str(name),
        about=str(node.get("about", "")),
        command=[str(a) for a in node["command"]],
        environment=_str_map(node.get("environment"), f"{where}: environment"),
        ports=ports,
        health=health,
        files=files,
        source=node.get("source"),
    )


def parse(text: str, path: Path = MESH_FILE) -> Mesh:
    """A mesh from the text of a mesh file."""
    import yaml

    doc = yaml.safe_load(text)
    if not isinstance(doc, dict):
        raise MeshError(f"{path}: want a mapping at the top")
    doc = {k: v for k, v in doc.items() if not str(k).startswith("x-")}
    unknown = set(doc) - {"host", "processes", "gateway", "pki"}
    if unknown:
        raise MeshError(f"{path}: unknown keys {sorted(unknown)}")
    host = doc.get("host") or {}
    processes = [_process(p, path) for p in doc.get("processes") or []]
    if not processes:
        raise MeshError(f"{path}: no processes")
    names = [p.name for p in processes]
    if len(set(names)) != len(names):
        raise MeshError(f"{path}: a process name appears twice: {names}")
    variables = [port.variable for p in processes for port in p.ports]
    if len(set(variables)) != len(variables):
        raise MeshError(f"{path}: a port variable appears twice: {variables}")
    pki = doc.get("pki")
    if pki is not None:
        # Checked now, placeholders and all; filled in by resolve().
        _pki(pki, str, path)
    return Mesh(
        host_variable=str(host.get("variable", "POLYMESH_HOST")),
        host_default=str(host.get("default", "127.0.0.1")),
        processes=processes,
        gateway=doc.get("gateway") or {},
        path=path,
        pki=pki,
    )


def load(path: Path = MESH_FILE) -> Mesh:
    """The mesh file at `path` (deploy/mesh.yaml of this checkout)."""
    return parse(Path(path).read_text(), Path(path))
