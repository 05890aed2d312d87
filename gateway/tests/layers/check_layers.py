#!/usr/bin/env python3
"""Checks that the gateway's folders depend on each other in layer order.

Reads the `#include "folder/..."` lines of every .h and .cc file under a
source tree (gateway/src by default) and fails when a folder includes one of
a later layer (a dependency that runs back up), when folders of one layer
include each other in a circle, or when a folder is in no layer.

The layer order is declared here, and only here (gateway/CMakeLists.txt
repeats it in its opening comment): bottom first, one tuple per layer; the
folders of one tuple sit beside each other. "main" stands for the files at
the top of the tree (main.cc).

The C++ command-line client (clients/cpp/src) may include only the
gateway folders it links: CLIENT_FOLDERS.

Usage:

    check_layers.py [SRC_DIR]                  # the gateway's layers
    check_layers.py --client CLIENT_DIR SRC_DIR  # what the client includes

Exit status 0 when the tree keeps the order, 1 with one line per problem.
"""

import pathlib
import re
import sys

LAYERS = (
    ("common",),
    ("contracts", "observability", "stats", "accesslog", "admin", "transport", "auth"),
    ("config",),
    ("routing", "local"),
    ("upstream",),
    ("proxy",),
    ("worker",),
    ("server",),
    ("main",),
)

# The gateway folders the command-line client links (clients/cpp/CMakeLists.txt).
CLIENT_FOLDERS = ("common", "transport", "contracts")

TOP = "main"
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.MULTILINE)


def rank_of(layers=LAYERS):
    """Each folder's layer, counted from the bottom."""
    return {folder: rank for rank, layer in enumerate(layers) for folder in layer}


def folder_edges(src):
    """{(from_folder, to_folder): first file that includes across}."""
    src = pathlib.Path(src)
    folders = {p.name for p in src.iterdir() if p.is_dir()}
    edges = {}
    for path in sorted(src.rglob("*")):
        if path.suffix not in (".h", ".cc") or not path.is_file():
            continue
        rel = path.relative_to(src)
        source = rel.parts[0] if len(rel.parts) > 1 else TOP
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            first = target.split("/", 1)[0]
            if "/" not in target or first not in folders or first == source:
                continue  # a third-party, generated or same-folder header
            edges.setdefault((source, first), f"{rel}: {target}")
    return folders, edges


def find_circle(edges):
    """A list of folders that include each other in a circle, or None."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, []).append(b)
    state = {}
    stack = []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def check(src, layers=LAYERS):
    """The problems of the tree at `src`, one line each (none: it is in order)."""
    rank = rank_of(layers)
    folders, edges = folder_edges(src)
    problems = []
    for folder in sorted(folders - set(rank)):
        problems.append(f"{folder}/: in no layer (declare it in LAYERS)")
    for (a, b), where in sorted(edges.items()):
        if a in rank and b in rank and rank[b] > rank[a]:
            problems.append(f"{a} -> {b} runs back up the layers ({where})")
    circle = find_circle(edges)
    if circle:
        problems.append("folders in a circle: " + " -> ".join(circle))
    return problems


def check_client(client, src, allowed=CLIENT_FOLDERS):
    """The includes of the tree at `client` of gateway folders (those of `src`)
    outside `allowed`, one line each."""
    client = pathlib.Path(client)
    folders = {p.name for p in pathlib.Path(src).iterdir() if p.is_dir()}
    problems = []
    for path in sorted(client.rglob("*")):
        if path.suffix not in (".h", ".cc") or not path.is_file():
            continue
        for target in INCLUDE.findall(path.read_text(encoding="utf-8")):
            first = target.split("/", 1)[0]
            if "/" in target and first in folders and first not in allowed:
                rel = path.relative_to(client)
                problems.append(f"{rel}: {target}: the client links only {', '.join(allowed)}")
    return problems


def main(argv):
    default_src = pathlib.Path(__file__).resolve().parents[2] / "src"
    if len(argv) > 1 and argv[1] == "--client":
        problems = check_client(argv[2], argv[3] if len(argv) > 3 else default_src)
    else:
        problems = check(argv[1] if len(argv) > 1 else default_src)
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
