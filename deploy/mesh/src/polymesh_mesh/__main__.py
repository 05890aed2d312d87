"""python -m polymesh_mesh up | down | status | gateway-config | show | values | pki

    up [NAME...]      start the mesh (or the processes named, in start order)
                      in the background and wait for each; then as status
    down              stop what up started, last first
    status            what runs and where it listens
    gateway-config    print the gateway configuration generated from the file
    show              every process: its command and environment
    values            every variable (host, ports) as NAME=value
    pki               make the local CA and the certificates of the file's pki
                      section (what is missing or due) in its folder, or in
                      --folder; with --admin-token FILE, a bearer token too

Ports and the host come from the environment (POLYMESH_HOST,
POLYMESH_GATEWAY_PORT, ...; deploy/mesh.yaml lists them with their defaults).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from .config import gateway_yaml
from .model import MESH_FILE, ROOT, Folders, MeshError, load
from .pki import PkiError, ensure, ensure_token
from .supervisor import SupervisorError, down, print_status, up


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m polymesh_mesh",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join((__doc__ or "").splitlines()[2:]),
    )
    parser.add_argument(
        "verb", choices=("up", "down", "status", "gateway-config", "show", "values", "pki")
    )
    parser.add_argument("names", nargs="*", help="up: only these processes")
    parser.add_argument("--file", type=Path, default=MESH_FILE, help="the mesh file")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout")
    parser.add_argument("--run", type=Path, help="the run folder (default .run/)")
    parser.add_argument("--tools", type=Path, help="the Go tools folder (holding bin/jaeger)")
    parser.add_argument("--timeout", type=float, default=60.0, help="up: seconds per process")
    parser.add_argument("--folder", type=Path, help="pki: where the certificates go")
    parser.add_argument("--admin-token", type=Path, help="pki: also a bearer token in this file")
    args = parser.parse_args(argv)
    if args.names and args.verb != "up":
        parser.error(f"{args.verb} takes no process names")

    try:
        mesh = load(args.file)
        folders = Folders.of_checkout(args.root, run=args.run, tools=args.tools)
        resolved = mesh.resolve(folders, os.environ)
        if args.verb == "up":
            up(resolved, args.names or None, args.timeout, say)
            print_status(resolved)
        elif args.verb == "down":
            down(resolved, say=say)
        elif args.verb == "status":
            print_status(resolved)
        elif args.verb == "gateway-config":
            sys.stdout.write(gateway_yaml(resolved.gateway))
        elif args.verb == "pki":
            if resolved.pki is None:
                raise MeshError(f"{args.file}: no pki section")
            made = ensure(resolved.pki, args.folder)
            for name, files in made.files.items():
                state = "made" if name in made.made else "kept"
                print(f"{name:<12} {state}  {files.certificate}  {files.key}")
            if args.admin_token:
                state = "made" if ensure_token(args.admin_token) else "kept"
                print(f"{'admin token':<12} {state}  {args.admin_token}")
        elif args.verb == "values":
            for name, value in resolved.values.items():
                print(f"{name}={value}")
        else:
            for p in resolved.processes:
                print(f"{p.name}: {shlex.join(p.argv)}")
                for k, v in p.env.items():
                    print(f"  {k}={v}")
    except (MeshError, PkiError, SupervisorError) as e:
        print(f"polymesh_mesh: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # The reader went away (`./dev status | head`): not an error of ours.
        # Python's own flush at exit would fail again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
