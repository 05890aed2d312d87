"""`./dev bench first-run`: how long a new user waits for the demo.

Clones the committed tree (HEAD) into a temporary folder and runs `./dev demo`
there twice: the first run is what a new clone costs, the second what a
warm checkout costs. Each run ends with the demo's own table of phases
(packages, Go tools, Python environment, C++ build, Go build, start, calls),
which this reads back. Both meshes are started on free loopback ports and
stopped with `./dev down` in the clone.

What "fresh" means is chosen by flags, because a real new machine cannot be
made from a used one without removing things:

  (none)           a new clone on this machine: the Go, pip and polymesh
                   caches and the Debian packages it already has are reused.
  --fresh-caches   also empty Go module and build caches, pip's cache and the
                   polymesh tool cache (temporary folders, removed after),
                   so every download and compilation happens again.
  --purge-debian   also purge the Debian packages that `./dev demo`
                   installs, their automatically installed dependencies and
                   apt's downloaded archives first (root only; they come back
                   in the run). With --fresh-caches this is a new machine of
                   this kind, but for what its image ships.

With --test, `./dev test` runs in the clone after the two demos, timed as a
whole and suite by suite (its closing lines).

Results: build/bench/first-run.json and a bar chart of the phases,
docs/images/first-run.png (with --docs). Prints the phases of both runs.

Usage: python3 bench/first_run.py [--fresh-caches] [--purge-debian] [--test]
                                  [--docs] [--commit REV]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# polymesh_mesh from the checkout: this may run on the system Python, before
# any .venv exists.
sys.path.insert(0, str(ROOT / "deploy/mesh/src"))
from polymesh_mesh.model import load  # noqa: E402
from polymesh_mesh.testing import free_ports  # noqa: E402

OUT = ROOT / "build" / "bench" / "first-run.json"
PICTURE = ROOT / "docs" / "images" / "first-run.png"

# The demo's port variables (deploy/mesh.yaml): each gets a free port so that
# the measured mesh never meets one already running on the defaults.
PORT_VARIABLES = tuple(load().port_variables)

# One line of the demo's phase table: "  C++ build   123.4 s".
PHASE_LINE = re.compile(r"^\s{2}(\S.*?)\s+(\d+\.\d) s$")
# One line of ./dev test's report: "  ctest        ok".
SUITE_LINE = re.compile(r"^  (\S+)\s+(ok|FAILED)$")


def demo_packages() -> list[str]:
    """The Debian packages `./dev demo` installs, as deploy/dev/versions.sh lists them."""
    out = subprocess.run(
        [
            "bash",
            "-c",
            "source deploy/dev/versions.sh; "
            'for s in "${APT_PACKAGES[@]}"; do n="${s%%=*}"; '
            '[[ " ${APT_TEST_ONLY[*]} " == *" $n "* ]] || echo "$n"; done',
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def purge_debian() -> None:
    if os.geteuid() != 0:
        sys.exit("--purge-debian needs root")
    packages = demo_packages()
    print(f"purging {len(packages)} Debian packages and their dependencies", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["apt-get", "purge", "-y", "-q", *packages], check=True, env=env, stdout=subprocess.DEVNULL
    )
    subprocess.run(
        ["apt-get", "autoremove", "--purge", "-y", "-q"],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run(["apt-get", "clean"], check=True)


def run_dev(clone: Path, env: dict[str, str], verb: str) -> tuple[int, float, list[str]]:
    """Runs ./dev VERB in the clone, echoing its output as it comes: its exit
    code, wall time in seconds, and output lines."""
    print(f"\n=== ./dev {verb} in {clone}", flush=True)
    start = time.monotonic()
    proc = subprocess.Popen(
        ["./dev", verb],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        lines.append(line.rstrip("\n"))
    return proc.wait(), time.monotonic() - start, lines


def run_demo(clone: Path, env: dict[str, str], label: str) -> dict:
    """./dev demo in the clone: its wall time and its table of phases."""
    code, wall, lines = run_dev(clone, env, "demo")
    if code != 0:
        raise SystemExit(f"{label}: ./dev demo exited with {code} after {wall:.0f} s")
    phases: dict[str, float] = {}
    table = next(i for i, line in enumerate(lines) if "time per phase" in line)
    for line in lines[table + 1 :]:
        m = PHASE_LINE.match(line)
        if not m:
            break
        phases[m.group(1)] = float(m.group(2))
    return {"wall_s": round(wall, 1), "phases_s": phases}


def run_test(clone: Path, env: dict[str, str]) -> dict:
    """./dev test in the clone: its wall time, exit code and the report of
    its suites ("  name  ok")."""
    code, wall, lines = run_dev(clone, env, "test")
    suites = {m.group(1): m.group(2) for m in map(SUITE_LINE.match, lines) if m}
    return {"wall_s": round(wall, 1), "exit_code": code, "suites": suites}


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [(k, v) for k, v in results["runs"].items()]
    # The phases that ran one after the other make the bar; those that ran
    # beside them are named at its end.
    names = [n for n in runs[0][1]["phases_s"] if n != "wall clock" and "parallel" not in n]
    fig, ax = plt.subplots(figsize=(9, 2.2 + 0.5 * len(runs)))
    for row, (_, run) in enumerate(runs):
        left = 0.0
        for i, name in enumerate(names):
            width = run["phases_s"].get(name, 0.0)
            ax.barh(
                row, width, left=left, color=plt.cm.tab10(i % 10), label=name if row == 0 else None
            )
            left += width
        beside = ", ".join(
            f"{n.replace(' (in parallel)', '')} {v:.0f} s"
            for n, v in run["phases_s"].items()
            if "parallel" in n and v >= 1
        )
        ax.text(
            left,
            row,
            f"  {run['wall_s']:.0f} s" + (f"  (beside: {beside})" if beside else ""),
            va="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(runs)), [label for label, _ in runs])
    ax.invert_yaxis()
    ax.set_xlabel("seconds until the demo has printed its trace")
    fresh = (
        "a new machine's: caches empty, Debian packages purged"
        if results["fresh_caches"] and results["purged_debian"]
        else "caches empty"
        if results["fresh_caches"]
        else "a new clone, caches kept"
    )
    ax.set_title(
        f"./dev demo, first run ({fresh}) and second run, {results['machine']}", fontsize=10
    )
    ax.set_xlim(0, 1.75 * max(run["wall_s"] for _, run in runs))
    ax.legend(ncols=4, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.35))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    p = argparse.ArgumentParser(prog="./dev bench first-run", description=__doc__.splitlines()[0])
    p.add_argument(
        "--fresh-caches", action="store_true", help="empty Go, pip and polymesh caches for the run"
    )
    p.add_argument(
        "--purge-debian", action="store_true", help="purge the demo's Debian packages first (root)"
    )
    p.add_argument("--docs", action="store_true", help=f"also draw {PICTURE.relative_to(ROOT)}")
    p.add_argument("--commit", default="HEAD", help="the commit to measure (default HEAD)")
    p.add_argument("--test", action="store_true", help="then run ./dev test in the clone, timed")
    p.add_argument(
        "--replot",
        action="store_true",
        help=f"only draw {PICTURE.relative_to(ROOT)} from {OUT.relative_to(ROOT)}",
    )
    args = p.parse_args()
    if args.replot:
        plot(json.loads(OUT.read_text()), PICTURE)
        print(f"plot: {PICTURE.relative_to(ROOT)}")
        return

    if (
        args.commit == "HEAD"
        and subprocess.run(["git", "diff", "--quiet", "HEAD"], cwd=ROOT).returncode != 0
    ):
        print("note: uncommitted changes are not measured; the clone is of HEAD", flush=True)
    if args.purge_debian:
        purge_debian()

    work = Path(tempfile.mkdtemp(prefix="polymesh-first-run-"))
    clone = work / "polymesh"
    env = dict(os.environ)
    env.pop("CI", None)
    for var, port in zip(PORT_VARIABLES, free_ports(len(PORT_VARIABLES)), strict=True):
        env[var] = str(port)
    if args.fresh_caches:
        caches = work / "caches"
        env.update(
            {
                "GOMODCACHE": str(caches / "gomod"),
                "GOCACHE": str(caches / "gobuild"),
                "PIP_CACHE_DIR": str(caches / "pip"),
                "POLYMESH_CACHE": str(caches / "polymesh"),
                "GOFLAGS": "-buildvcs=false -modcacherw",
            }
        )
    results: dict = {
        "commit": subprocess.run(
            ["git", "rev-parse", args.commit], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout.strip(),
        "machine": f"{os.cpu_count()} cores",
        "fresh_caches": args.fresh_caches,
        "purged_debian": args.purge_debian,
        "runs": {},
    }
    try:
        subprocess.run(
            ["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], check=True
        )
        subprocess.run(["git", "checkout", "--quiet", results["commit"]], cwd=clone, check=True)
        try:
            results["runs"]["first run"] = run_demo(clone, env, "first run")
            subprocess.run(["./dev", "down"], cwd=clone, env=env, check=True)
            results["runs"]["second run"] = run_demo(clone, env, "second run")
        finally:
            subprocess.run(["./dev", "down"], cwd=clone, env=env)
        if args.test:
            results["test"] = run_test(clone, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\n{'phase':<28}" + "".join(f"{k:>14}" for k in results["runs"]))
    names = [n for n in next(iter(results["runs"].values()))["phases_s"] if n != "wall clock"]
    for name in names:
        print(
            f"{name:<28}"
            + "".join(f"{r['phases_s'].get(name, 0):>12.1f} s" for r in results["runs"].values())
        )
    print(
        f"{'wall clock':<28}" + "".join(f"{r['wall_s']:>12.1f} s" for r in results["runs"].values())
    )
    if "test" in results:
        t = results["test"]
        print(
            f"{'./dev test':<28}{t['wall_s']:>12.1f} s  exit {t['exit_code']}: "
            + ", ".join(f"{k} {v}" for k, v in t["suites"].items())
        )
    print(f"results: {OUT.relative_to(ROOT)}")
    if args.docs:
        plot(results, PICTURE)
        print(f"plot: {PICTURE.relative_to(ROOT)}")
    if results.get("test", {}).get("exit_code"):
        sys.exit(f"./dev test failed in the clone (exit {results['test']['exit_code']})")


if __name__ == "__main__":
    main()
