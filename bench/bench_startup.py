"""Start-up time of ``termserver serve``: its imports, building the app, and the first answer.

Run: python bench/bench_startup.py [--runs 5] [--base /tmp/startup-base] [--pycache DIR]

Every figure is a fresh interpreter timed from spawn to exit (or, for ``serve``, from spawn to
the first 200 answer to ``$lookup``, polled as bench_http.py does):

- ``python -c pass`` and ``import fastapi``: the floor any FastAPI server pays on this machine;
  the other import figures are also given as a ratio to ``import fastapi`` from the same round,
  which cancels most of the shared machine's drift;
- ``import termserver.cli``: the command itself;
- ``cli + uvicorn + api.app``: everything ``serve`` imports before it reads any content;
- ``import termserver.api.main``: the imports plus the snapshot and the app (what uvicorn loads);
- ``serve`` to the first ``$lookup``: the real command, target < 2 s.

The import figures also give the child's CPU time (user + system): when it tracks the wall clock,
the spread comes from the machine's speed at the time, not from waiting for a core. The modules
``serve`` has loaded before it reads content are counted, and the packages one tree loads and the
other does not are listed (what moved).

With ``--base`` (a checkout of another commit, e.g. ``git worktree add /tmp/startup-base HEAD``)
the same figures are taken from both trees in alternating order (ABBA within each round), so
both see the same machine. The server runs from an empty scratch directory: started inside the
repository it would find ``./termserver-data`` and switch curation on, which a clean checkout
does not. Children inherit this environment, so PYTHONDONTWRITEBYTECODE=1 (every termserver
module compiled at each start) applies to them when set; ``--pycache DIR`` lets them cache
bytecode under DIR instead, as an installed wheel would (one untimed warm-up run first).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_http import ENDPOINTS, ROOT, free_port, start, stop, wait_for

IMPORTS = {
    "python -c pass": "pass",
    "import fastapi": "import fastapi",
    "import termserver.cli": "import termserver.cli",
    "cli + uvicorn + api.app": "import termserver.cli, uvicorn, termserver.api.app",
    "import termserver.api.main": "import termserver.api.main",
}
#: Figures that do not depend on the tree: taken once per round.
FLOOR = ("python -c pass", "import fastapi")
SERVE = "serve to first $lookup"
QUIET = ("--log-level", "warning")


def child_env(tree: Path, pycache: Path | None) -> dict[str, str]:
    """The environment a child runs in: ``tree``'s termserver first on the path."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(tree), env.get("PYTHONPATH"))))
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


def check_tree(tree: Path, env: dict[str, str], scratch: Path) -> None:
    """Refuse to measure if the child would import termserver from anywhere but ``tree``."""
    out = subprocess.run(
        [sys.executable, "-c", "import termserver; print(termserver.__file__)"],
        cwd=scratch, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(out).resolve().is_relative_to(tree.resolve()):
        sys.exit(f"{tree}: the child imports termserver from {out}")


def time_import(code: str, env: dict[str, str], scratch: Path) -> tuple[float, float]:
    """Wall and CPU seconds of a fresh interpreter running ``code``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=scratch, env=env, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def modules_loaded(env: dict[str, str], scratch: Path) -> set[str]:
    """The modules loaded by ``serve``'s imports (before any content is read)."""
    code = f"import sys; {IMPORTS['cli + uvicorn + api.app']}; print(*sorted(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=scratch, env=env, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return set(out.split())


def packages(modules: set[str], other: set[str]) -> list[str]:
    """``modules`` (loaded by one tree, not by the ``other``) shortened for reading: a
    third-party package the other tree does not load at all by its name, else by module."""
    tops = {m.split(".")[0] for m in other}
    names: set[str] = set()
    for m in modules:
        top = m.split(".")[0]
        if m.startswith("termserver.") or top in tops:
            names.add(".".join(m.split(".")[:3]))
        else:
            names.add(top)
    # A package stands for its submodules: termserver.diff, not also termserver.diff.records.
    return sorted(n for n in names if not any(n.startswith(p + ".") for p in names))


def time_serve(env: dict[str, str], scratch: Path) -> float:
    port = free_port()
    t0 = time.perf_counter()
    proc = start(
        [sys.executable, "-m", "termserver", "serve", "--port", str(port), *QUIET],
        port,
        env,
        cwd=scratch,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}{ENDPOINTS['$lookup']}", proc)
        return time.perf_counter() - t0
    finally:
        stop(proc)


def one_tree(env: dict[str, str], scratch: Path, floor: dict[str, float]) -> dict[str, float]:
    """One run of every tree-dependent figure."""
    got: dict[str, float] = {}
    for name, code in IMPORTS.items():
        if name not in FLOOR:
            got[name], got[name + " cpu"] = time_import(code, env, scratch)
            got[name + " / fastapi"] = got[name] / floor["import fastapi"]
    got[SERVE] = time_serve(env, scratch)
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--base", type=Path, help="another checkout to compare with (same runs)")
    ap.add_argument("--pycache", type=Path, help="let the children cache bytecode here")
    args = ap.parse_args()
    trees = {"this tree": ROOT}
    if args.base:
        trees = {"base": args.base.resolve(), "this tree": ROOT}
    load = os.getloadavg()
    print(f"# bench_startup  {time.strftime('%Y-%m-%d %H:%M')}  {platform.node()}  "
          f"{platform.machine()}  {os.cpu_count()} cpus  load {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}  python {platform.python_version()}  runs {args.runs}")  # fmt: skip
    bytecode = f"cached in {args.pycache}" if args.pycache else (
        "not written (PYTHONDONTWRITEBYTECODE)" if os.environ.get("PYTHONDONTWRITEBYTECODE")
        else "as usual")  # fmt: skip
    print(f"# children's bytecode: {bytecode}; trees: "
          + ", ".join(f"{k} = {v}" for k, v in trees.items()))  # fmt: skip

    runs: dict[str, dict[str, list[float]]] = {t: {} for t in trees}
    floors: dict[str, list[float]] = {name: [] for name in FLOOR}
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        scratch = Path(tmp)
        envs = {t: child_env(path, args.pycache) for t, path in trees.items()}
        loaded: dict[str, set[str]] = {}
        for tree, env in envs.items():
            check_tree(trees[tree], env, scratch)
            if args.pycache:  # fill the bytecode cache, untimed
                time_import("import termserver.api.main", env, scratch)
            loaded[tree] = modules_loaded(env, scratch)
        order = list(trees)
        for i in range(args.runs):
            # The floor needs no tree; the first tree's environment keeps its bytecode setting.
            floor = {name: time_import(IMPORTS[name], envs[order[0]], scratch)[0] for name in FLOOR}
            for name, value in floor.items():
                floors[name].append(value)
            # ABBA: whichever tree goes first in one round goes second in the next.
            for tree in order if i % 2 == 0 else reversed(order):
                for name, value in one_tree(envs[tree], scratch, floor).items():
                    runs[tree].setdefault(name, []).append(value)

    def cell(values: list[float], ratio: bool) -> str:
        if ratio:
            return f"{min(values):7.2f}x {statistics.median(values):7.2f}x"
        return f"{min(values):7.3f} s {statistics.median(values):7.3f} s"

    print(f"\n{'figure':34} " + " ".join(f"{t + ' min / median':>21}" for t in trees))
    for name, values in floors.items():
        print(f"{name:34} {cell(values, False):>21}")
    for name in runs[order[-1]]:
        ratio = name.endswith("/ fastapi")
        print(f"{name:34} " + " ".join(f"{cell(runs[t][name], ratio):>21}" for t in trees))
    if args.base:
        print("\nthis tree / base, median of the per-round ratios (below 1: faster now):")
        for name in runs["this tree"]:
            if name.endswith("/ fastapi"):
                continue
            pairs = [
                a / b for a, b in zip(runs["this tree"][name], runs["base"][name], strict=True)
            ]
            saved = statistics.median(
                b - a for a, b in zip(runs["this tree"][name], runs["base"][name], strict=True)
            )
            print(f"  {name:32} {statistics.median(pairs):.2f}  (median saving {saved:+.3f} s; "
                  f"per round {' '.join(f'{p:.2f}' for p in pairs)})")  # fmt: skip
    print("\nmodules loaded by cli + uvicorn + api.app: "
          + ", ".join(f"{t} {len(mods)}" for t, mods in loaded.items()))  # fmt: skip
    if args.base:
        base, ours = loaded["base"], loaded["this tree"]
        print("  only in base:", " ".join(packages(base - ours, ours)) or "-")
        print("  only in this tree:", " ".join(packages(ours - base, base)) or "-")
    serve = runs["this tree"][SERVE]
    print(f"\n{SERVE}, this tree: min {min(serve):.2f} s, median "
          f"{statistics.median(serve):.2f} s (target < 2 s)")  # fmt: skip


if __name__ == "__main__":
    main()
