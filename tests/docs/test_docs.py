"""The docs that describe the mesh, kept true against its description
(deploy/mesh.yaml) and `./dev` itself: README.md's ports and verbs tables,
docs/operations.md's environment tables."""

from __future__ import annotations

import re

import pytest
from polymesh_mesh.model import ROOT, Mesh, load

README = ROOT / "README.md"
OPERATIONS = ROOT / "docs/operations.md"
DEV = ROOT / "dev"


@pytest.fixture(scope="module")
def mesh() -> Mesh:
    return load()


def section(path: str, text: str, heading: str) -> str:
    """The text under a heading, up to the next heading of its level or above."""
    level = heading.split(" ", 1)[0]
    start = text.find(f"\n{heading}\n")
    assert start >= 0, f"{path}: no section {heading!r}"
    rest = text[start + len(heading) + 2 :]
    end = re.search(rf"^#{{1,{len(level)}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """The body rows of every Markdown table in text, as lists of cells."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line):
            continue
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def test_readme_ports_table_lists_every_port_of_the_mesh(mesh: Mesh) -> None:
    text = section("README.md", README.read_text(), "## Ports")
    assert f"`{mesh.host_default}` (`{mesh.host_variable}`)" in text
    documented: dict[str, str] = {}
    for row in table_rows(text)[1:]:
        variables = [v.strip() for v in row[2].split(" / ")]
        defaults = [d.strip() for d in row[1].split(" / ")]
        assert len(variables) == len(defaults), f"README ports row {row}: one default per variable"
        for variable, default in zip(variables, defaults, strict=True):
            (name,) = backticked(variable)
            documented[name] = default
    want = {port.variable: str(port.default) for port in mesh.ports}
    assert documented == want, "README.md's ports table and deploy/mesh.yaml differ"


def dev_verbs() -> set[str]:
    """The verbs of ./dev: the cases of its last `case "${1:-}" in`."""
    text = DEV.read_text()
    dispatch = text[text.rindex('case "${1:-}" in') :]
    return set(re.findall(r"^  ([a-z][a-z-]*)\)", dispatch, re.M))


def test_readme_verbs_table_lists_every_verb_of_dev() -> None:
    verbs = dev_verbs()
    assert {"setup", "build", "test", "up", "down", "status", "demo", "lint"} <= verbs
    text = section("README.md", README.read_text(), "## The `./dev` verbs")
    documented = {item.split()[0] for row in table_rows(text)[1:] for item in backticked(row[0])}
    assert documented == verbs, "README.md's verbs table and ./dev's verbs differ"


def test_dev_usage_lists_every_verb() -> None:
    usage = [line for line in DEV.read_text().splitlines() if line.startswith("#   ./dev ")]
    documented = {line.split()[2] for line in usage}
    assert documented == dev_verbs()


def test_operations_environment_tables_list_what_the_mesh_sets(mesh: Mesh) -> None:
    text = section("docs/operations.md", OPERATIONS.read_text(), "## Environment")
    otel: dict[str, str] = {}
    own: set[tuple[str, str]] = set()
    for row in table_rows(text):
        if len(row) == 3:
            for variable in backticked(row[0]):
                otel[variable] = row[2]
        elif len(row) == 4:
            own.add((row[0], backticked(row[1])[0] if backticked(row[1]) else row[1]))
    missing = []
    for process in mesh.processes:
        for variable, value in process.environment.items():
            if variable.startswith("OTEL_"):
                if variable not in otel:
                    missing.append(f"{variable} (the OpenTelemetry table)")
                elif variable == "OTEL_SERVICE_NAME" and f"`{value}`" not in otel[variable]:
                    missing.append(f"{variable}={value} of {process.name}")
            elif (process.name, variable) not in own:
                missing.append(f"{process.name} {variable}")
    assert not missing, f"docs/operations.md's environment tables lack: {missing}"
    processes = {name for name, _ in own} - {"process"}
    assert processes <= set(mesh.names), f"rows for processes the mesh lacks: {processes}"


def test_operations_who_may_call_what_lists_every_route(mesh: Mesh) -> None:
    """docs/operations.md's "Who may call what" against the mesh file's
    routes: each route, in order, with every group and principal it admits,
    its rate limit, and the credentials that prove them; open routes as open."""
    text = section(
        "docs/operations.md",
        OPERATIONS.read_text(),
        "## Who may call what in the demo meshes",
    )
    rows = [row for row in table_rows(text) if len(row) == 4 and backticked(row[0])]
    documented = [backticked(row[0])[0] for row in rows]
    routes = mesh.gateway["routes"]
    assert documented == [r["name"] for r in routes], "the routes, in the mesh file's order"
    problems = []
    for route, (_, _, who, how) in zip(routes, rows, strict=True):
        name, auth = route["name"], route.get("auth")
        if auth is None:
            if "anyone" not in who or "nothing" not in how:
                problems.append(f"{name}: open to anyone, with nothing to prove")
            continue
        for admitted in [*auth.get("groups", []), *auth.get("principals", [])]:
            if f"`{admitted}`" not in who:
                problems.append(f"{name}: admits `{admitted}`")
        providers = auth.get("providers") or list(mesh.gateway["auth_providers"])
        if "api_keys" in providers and "key" not in how:
            problems.append(f"{name}: takes a key")
        if "mtls" in providers and auth.get("principals") and "certificate" not in how:
            problems.append(f"{name}: takes a client certificate")
        if "mtls" not in providers and "certificate" in how:
            problems.append(f"{name}: takes no client certificate")
        limit = route.get("rate_limit")
        if limit and (
            f"{limit['requests_per_second']:g} requests/s" not in who
            or f"burst of {limit['burst']}" not in who
        ):
            problems.append(f"{name}: its rate limit")
    assert not problems, f"docs/operations.md's who-may-call table is wrong: {problems}"
