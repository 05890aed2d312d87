"""docs/architecture.md against the tree: every gateway folder and every RPC.

The architecture page says what each folder of gateway/src owns and lists the
contracts with their methods; these tests fail when a folder or an RPC is
added without the page saying so, or when the page names one that is gone.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs/architecture.md").read_text()


def section(title: str) -> str:
    """The text of one `## title` section of the page."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", PAGE, re.M | re.S)
    assert match, f"docs/architecture.md has no section '## {title}'"
    return match.group(1)


def test_every_gateway_folder_is_described() -> None:
    layers = section("The gateway, in layers")
    folders = sorted(p.name for p in (ROOT / "gateway/src").iterdir() if p.is_dir())
    missing = [f for f in folders if f"`{f}/`" not in layers]
    assert not missing, f"docs/architecture.md does not describe gateway/src/{missing}"
    named = set(re.findall(r"\*\*`([a-z_]+)/`\*\*", layers))
    gone = sorted(named - set(folders))
    assert not gone, f"docs/architecture.md describes folders gateway/src lacks: {gone}"


def declared_layers() -> list[tuple[str, ...]]:
    """The layer order that ctest enforces (gateway/tests/layers/check_layers.py)."""
    path = ROOT / "gateway/tests/layers/check_layers.py"
    spec = importlib.util.spec_from_file_location("check_layers", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [layer for layer in module.LAYERS if layer != ("main",)]


def test_the_layers_are_described_in_their_order() -> None:
    layers = section("The gateway, in layers")
    rank = {folder: i for i, layer in enumerate(declared_layers()) for folder in layer}
    described = [m.group(1) for m in re.finditer(r"\*\*`([a-z_]+)/`\*\*", layers)]
    assert sorted(described) == sorted(rank), (
        f"the page describes {sorted(described)}, the layer check declares {sorted(rank)}"
    )
    ranks = [rank[folder] for folder in described]
    assert ranks == sorted(ranks), (
        f"the page describes the folders in the order {described}, not bottom first as "
        "gateway/tests/layers/check_layers.py declares them"
    )


def services() -> dict[str, list[str]]:
    """Every service of proto/ (but grpc's own) by full name, with its RPCs."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "proto").rglob("*.proto")):
        if path.relative_to(ROOT / "proto").parts[0] == "grpc":
            continue
        text = path.read_text()
        package = re.search(r"^package ([\w.]+);", text, re.M)
        assert package, f"{path} has no package"
        for service, body in re.findall(r"^service (\w+) \{(.*?)^\}", text, re.M | re.S):
            found[f"{package.group(1)}.{service}"] = re.findall(r"^\s*rpc (\w+)\(", body, re.M)
    return found


def test_every_contract_and_method_is_listed() -> None:
    table = section("Contracts (`proto/`)")
    assert services(), "found no services in proto/"
    for service, rpcs in services().items():
        package, _, name = service.rpartition(".")
        rows = [line for line in table.splitlines() if line.startswith(f"| `{package}` |")]
        assert len(rows) == 1, f"the contracts table has no one row for `{package}`"
        missing = [r for r in [name, *rpcs] if f"`{r}`" not in rows[0]]
        assert not missing, f"the `{package}` row does not name {missing}"
