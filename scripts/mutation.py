"""Mutation testing of the modules where a silent bug costs users the most: mutmut plants one small
bug at a time (an operator flipped, a constant changed, a call dropped) and runs the tests that cover
that module; a mutant no test notices "survives". Prints one row per module, and with ``--show`` the
diff of every survivor.

    pip install -e '.[mutation]'
    python scripts/mutation.py                       # the default modules (slow: an hour on 2 cores)
    python scripts/mutation.py fomm/io/paths.py --show

Each module runs in its own copy of the repository (``--work``, default a temporary folder), so the
checkout is never touched, with only the test files listed in :data:`TESTS` (mutmut then runs, for
each mutant, only those of them that call the mutated function). Not run by CI: see docs/testing.md
for the last table and the survivors judged equivalent.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# The tests that cover each module (files or folders, relative to the repository).
TESTS = {
    "fomm/io/outputs.py": ["tests/io/test_outputs.py", "tests/io/test_writer.py", "tests/io/test_truth_writes.py",
                           "tests/io/test_truth_outputs.py", "tests/io/test_hostile_paths.py"],
    "fomm/io/paths.py": ["tests/io/test_outputs.py", "tests/io/test_writer.py", "tests/io/test_truth_writes.py"],
    "fomm/io/writer.py": ["tests/io/test_writer.py", "tests/io/test_truth_writes.py", "tests/io/test_truth_writer.py",
                          "tests/io/test_codecs.py"],
    "fomm/training/state.py": ["tests/training/test_resume.py", "tests/training/test_truth_state.py"],
    "fomm/precision.py": ["tests/test_precision.py", "tests/test_truth_precision.py",
                          "tests/test_truth_precision_choice.py"],
    "fomm/checkpoints.py": ["tests/test_checkpoints.py"],
    # The family loaders: a config rebuilt from a bare checkpoint's shapes, against the published presets.
    "fomm/families/__init__.py": ["tests/families/test_registry.py", "tests/families/test_bare_checkpoints.py"],
    "fomm/families/tpsmm/__init__.py": ["tests/families/test_bare_checkpoints.py",
                                        "tests/families/test_tpsmm_checkpoints.py",
                                        "tests/families/test_truth_infer.py"],
    "fomm/families/mraa/infer.py": ["tests/families/test_bare_checkpoints.py", "tests/families/test_truth_infer.py"],
    # One crop file at a time. box, options, clips, smooth and image with their fast unit tests (a lower
    # bound on what the suite kills); the rest with tests/crop (5 s) and the commands' crop tests.
    "fomm/crop/box.py": ["tests/crop/test_truth_box.py"],
    "fomm/crop/options.py": ["tests/crop/test_truth_box.py"],
    "fomm/crop/clips.py": ["tests/crop/test_truth_clips.py"],
    "fomm/crop/smooth.py": ["tests/crop/test_smooth.py", "tests/crop/test_truth_smooth.py"],
    "fomm/crop/image.py": ["tests/crop/test_paste.py", "tests/crop/test_truth_paste.py", "tests/crop/test_seam.py",
                           "tests/crop/test_faces.py", "tests/crop/test_truth_image.py"],
    "fomm/crop/subjects.py": ["tests/crop"],
    "fomm/crop/track.py": ["tests/crop", "tests/cli/test_crop.py", "tests/cli/test_crop_faces.py",
                           "tests/cli/test_truth_footage.py"],
    "fomm/crop/detect.py": ["tests/crop", "tests/cli/test_crop.py", "tests/cli/test_crop_faces.py"],
    "fomm/crop/animate.py": ["tests/crop", "tests/cli/test_animate_crop.py", "tests/cli/test_animate_faces.py",
                             "tests/cli/test_truth_footage.py", "tests/cli/test_source_video.py"],
    "fomm/crop/video_source.py": ["tests/crop", "tests/cli/test_source_video.py", "tests/cli/test_truth_footage.py"],
}
CROP = [module for module in TESTS if module.startswith("fomm/crop/")]
LOADERS = [module for module in TESTS if module.startswith("fomm/families/")]
DEFAULT = ["fomm/io/outputs.py", "fomm/io/paths.py", "fomm/io/writer.py", "fomm/training/state.py",
           "fomm/precision.py", *CROP, "fomm/checkpoints.py", *LOADERS]
KILLED = ("killed", "timeout", "segfault", "caught by type check")
RESULT = re.compile(r"^\s*(\S+__mutmut_\d+): (.+)$")


def tests_for(module: str) -> list[str]:
    if module in TESTS:
        return [t for t in TESTS[module] if (REPO / t).exists()]
    raise SystemExit(f"no tests are listed for {module} in scripts/mutation.py TESTS; add them there "
                     f"(known: {', '.join(TESTS)})")


def copy_repo(target: Path) -> None:
    """The tracked and untracked-but-not-ignored files of the checkout, copied to ``target``."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def configure(folder: Path, module: str, tests: list[str], ignore: list[str], deselect: list[str] = ()) -> None:
    """Append mutmut's settings for one module to the copy's pyproject.toml (``ignore``: test files
    left out, e.g. to measure how the suite did before they were written; ``deselect``: test ids left
    out, e.g. a slow end-to-end test that every mutant of a module would run)."""
    pattern = module + "*" if module.endswith("/") else module
    selection = ", ".join(f'"{t}"' for t in tests)
    ignored = "".join(f', "--ignore={t}"' for t in ignore) + "".join(f', "--deselect={t}"' for t in deselect)
    with open(folder / "pyproject.toml", "a") as config:
        config.write(f'\n[tool.mutmut]\nsource_paths = ["fomm"]\nonly_mutate = ["{pattern}"]\n'
                     f"pytest_add_cli_args_test_selection = [{selection}]\n"
                     f'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"{ignored}]\n'
                     'process_isolation = "forkserver"\n')


def run_module(module: str, work: Path, children: int, show: bool, ignore: list[str],
               deselect: list[str] = (), mutants: list[str] = ()) -> Counter:
    folder = work / module.strip("/").replace("/", "_")
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    copy_repo(folder)
    configure(folder, module, [t for t in tests_for(module) if t not in ignore], ignore, deselect)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the mutated copy, not the checkout
    env.setdefault("FOMM_GOLDEN_DIR", str(REPO.parent / "shared" / "golden"))
    mutmut = [sys.executable, "-m", "mutmut"]
    log = folder / "mutmut.log"
    with open(log, "w") as out:
        subprocess.run([*mutmut, "run", "--max-children", str(children), *mutants], cwd=folder, env=env, stdout=out,
                       stderr=subprocess.STDOUT, check=False)
    listed = subprocess.run([*mutmut, "results", "--all", "true"], cwd=folder, env=env, capture_output=True,
                            text=True, check=False).stdout
    statuses = {m.group(1): m.group(2).strip() for m in map(RESULT.match, listed.splitlines()) if m}
    if not statuses or set(statuses.values()) == {"not checked"}:
        tail = log.read_text(errors="replace").replace("\r", "\n").strip().splitlines()[-1:]
        print(f"{module}: no mutant was tested ({' '.join(tail)}); see {log} (does every listed test pass?)",
              file=sys.stderr)
    survivors = sorted(name for name, status in statuses.items() if status in ("survived", "no tests"))
    for name in survivors:
        print(f"{statuses[name]}: {name}" if not show else subprocess.run(
            [*mutmut, "show", name], cwd=folder, env=env, capture_output=True, text=True, check=False).stdout)
    return Counter("killed" if s in KILLED else s for s in statuses.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", default=DEFAULT, help=f"default: {' '.join(DEFAULT)}")
    parser.add_argument("--work", type=Path, help="where the copies go (default: a temporary folder, removed)")
    parser.add_argument("--max-children", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--show", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--ignore", action="append", default=[], metavar="TEST_FILE",
                        help="leave this test file out (repeatable): the table without it")
    parser.add_argument("--deselect", action="append", default=[], metavar="TEST_ID",
                        help="leave this test out (repeatable; pytest's node id, e.g. a slow end-to-end test)")
    parser.add_argument("--mutants", action="append", default=[], metavar="NAME",
                        help="test only these mutants (repeatable; mutmut's names, * wildcards, e.g. "
                             "'fomm.io.writer.x__gif_frame*'): the others are counted as 'other' (not checked)")
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="fomm-mutation-"))
    rows = []
    try:
        for module in args.modules:
            start = time.time()
            counts = run_module(module, work, args.max_children, args.show, args.ignore, args.deselect, args.mutants)
            rows.append((module, counts, time.time() - start))
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n| module | mutants | killed | survived | no tests | other | unkilled % | minutes |\n|{'---|' * 8}")
    for module, counts, seconds in rows:
        total = sum(counts.values())
        other = total - counts["killed"] - counts["survived"] - counts["no tests"]
        share = 100 * (counts["survived"] + counts["no tests"]) / total if total else 0.0
        print(f"| {module} | {total} | {counts['killed']} | {counts['survived']} | {counts['no tests']} | {other} "
              f"| {share:.1f} | {seconds / 60:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
