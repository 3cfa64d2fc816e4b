"""Mutation testing of the rules that decide grades, verdicts and refusals (cosmic-ray).

Each target below is one rule module (or the rule functions of a larger module) and the few
test files that guard it. For each, cosmic-ray makes small changes (``<`` for ``<=``, ``and``
for ``or``, a number plus one, a loop that never runs, ...) one at a time and runs those tests;
a change no test notices is a *survivor*: a rule nothing checks.

It works on a copy of the repository's tracked files (and the uncommitted changes to them),
so the checkout stays untouched and usable while it runs; the copy's ``grader`` is the one
every test and every ``grader`` subprocess imports (``PYTHONPATH``).

Not part of ``./dev test``. Run it with the ``mutation`` extra installed, nicely:

    .venv/bin/pip install -e '.[mutation]'
    nice .venv/bin/python scripts/mutation.py              # every target, most grade-critical first
    nice .venv/bin/python scripts/mutation.py finals store # some targets
    .venv/bin/python scripts/mutation.py --list            # the targets and their tests
    nice .venv/bin/python scripts/mutation.py --again rules # the last run's survivors, with today's tests

Results (one cosmic-ray session per target, and a survivors report) go to ``.mutation/``;
``docs/reliability.md`` records the last run and argues the survivors left.
"""

from __future__ import annotations

import argparse
import ast
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".mutation"


@dataclass(frozen=True)
class Target:
    name: str
    module: str  # path of the module to mutate, relative to the repository
    tests: tuple[str, ...]  # pytest arguments: the tests that guard it
    functions: tuple[str, ...] = ()  # only these functions/methods (all of the module when empty)
    timeout: float = 120.0  # seconds for one run of the tests (a mutant that hangs is killed: caught)


# The mutated modules and their tests, in ONE place: most grade-critical first. When a rule
# moves to another module, change its line here.
AUDIT = "tests/test_rules_audit.py"
# Left out: concurrency, file-system and CSV tests, and the 15 s property test of incremental ranks
# (ranking's target runs it): they check no rule of these modules and would slow every survivor.
STORE_RULES = (
    "not twenty_processes and not fifty_threads and not locked and not read_only and not csv and not incremental"
    " and not real_kernel and not the_site"
)
LATE = "tests/test_late.py"  # late submissions: never ranked, never chosen, never on the private board
TARGETS = (
    Target(
        "ranking",
        "grader/ranking.py",
        ("tests/test_ranking.py", "tests/test_baselines.py", AUDIT, "tests/test_store.py", "-k", "not store or rank"),
    ),
    Target("finals", "grader/finals.py", (AUDIT, "tests/test_finals.py")),
    Target("sealing", "grader/sealing.py", (AUDIT, "tests/test_reveal.py")),
    Target("verify", "grader/verify.py", (AUDIT, "tests/test_verify.py")),
    Target(
        "rules",
        "grader/rules.py",
        ("tests/test_rules.py", AUDIT, LATE, "tests/test_store.py", "tests/test_finals.py", "-k", STORE_RULES),
    ),
    Target(
        "store",
        "grader/store/db.py",
        (AUDIT, LATE, "tests/test_store.py", "tests/test_finals.py", "tests/test_reveal.py", "-k", STORE_RULES),
        functions=("precheck", "select", "_private_standings", "_chosen"),
    ),
    Target(
        "predictions",
        "grader/predictions.py",
        # the several-column contract (probabilities, their range and sum) too; not its end-to-end run nor the site
        (AUDIT, "tests/test_score.py", "tests/test_multicolumn.py", "-m", "not slow", "-k", "not the_site"),
        functions=("expected_ids", "check_predictions", "_header_problem", "_convert_one", "_integral_spelling"),
    ),
    Target(
        "execute.judge",
        "grader/execute.py",
        ("tests/test_verdicts.py", "tests/test_execute.py", "-m", "not slow"),
        functions=("judge", "_problem", "_reply_problem", "_limit_problem", "_death_problem"),
    ),
    Target("admin", "grader/admin.py", (AUDIT, "tests/test_admin.py", "tests/test_finals.py", "tests/test_reveal.py")),
    Target(
        "datasets",
        "grader/datasets.py",
        ("tests/test_datasets.py", "-m", "not slow"),
        # which data file is trusted: checked, cached, placed; an LFS pointer found (not the Hub's error wording)
        functions=(
            "ensure",
            "status",
            "lfs_pointers",
            "pointer_problem",
            "check_checked_out",
            "_holds",
            "_place",
            "_download",
        ),
    ),
    Target(
        "validate",
        "grader/validate.py",
        ("tests/test_validate.py",),
        # what is refused; left out: the wording of a refusal (_explain, _where, _article, _show, ...)
        functions=(
            "validate",
            "_read_bounded",
            "_parse_json",
            "_depth_exceeds",
            "_to_v4",
            "_read_v4",
            "_upgrade_v3",
            "_repair_cell_ids",
            "_schema_problems",
            "_is_python",
            "_check_language",
        ),
    ),
)

# Changes that say nothing about a rule here: swapping arithmetic for bit operators, ``==`` for
# ``is``, and inserting or renaming variables (cosmic-ray's noisiest operators). What is kept:
# comparisons, ``and``/``or``, ``not``, True/False, numbers, + - * /, loops that never run,
# break/continue, exception types.
EXCLUDED_OPERATORS = (
    r"core/ReplaceBinaryOperator_.*_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|Mod|FloorDiv)",
    r"core/ReplaceBinaryOperator_(Pow|RShift|LShift|BitOr|BitAnd|BitXor|Mod|FloorDiv)_.*",
    r"core/ReplaceComparisonOperator_(Eq|NotEq|Lt|LtE|Gt|GtE|In|NotIn)_(Is|IsNot)",
    r"core/ReplaceComparisonOperator_(Is|IsNot)_(Eq|NotEq|Lt|LtE|Gt|GtE|In|NotIn)",
    r"core/ReplaceComparisonOperator_(Lt|LtE|Gt|GtE|Eq|NotEq)_(In|NotIn)",
    r"core/ReplaceComparisonOperator_(In|NotIn)_(Lt|LtE|Gt|GtE|Eq|NotEq)",
    r"core/VariableInserter",
    r"core/VariableReplacer",
    r"core/RemoveDecorator",
    r"core/ReplaceUnaryOperator_.*",
)


def function_lines(path: Path, names: tuple[str, ...]) -> list[str]:
    """The line ranges (``"12-40"``) of the functions and methods called ``names`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = {
        node.name: f"{node.lineno}-{node.end_lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
    }
    missing = sorted(set(names) - set(found))
    if missing:
        raise SystemExit(f"{path}: no function {', '.join(missing)}; update TARGETS in {Path(__file__).name}")
    return [found[name] for name in names]


def copy_repository(dest: Path) -> None:
    """The tracked files as they are now (committed or not), without .git, .venv or caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.split(b"\0")  # fmt: skip
    for raw in filter(None, listed):
        rel = raw.decode()
        src = ROOT / rel
        if src.is_file() and not rel.startswith(".mutation/"):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel, follow_symlinks=False)


def config_text(target: Target, work: Path) -> str:
    pytest = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *target.tests]
    command = " ".join(_quote(part) for part in pytest)
    lines = [
        "[cosmic-ray]",
        f'module-path = "{target.module}"',
        f"timeout = {target.timeout}",
        "excluded-modules = []",
        f"test-command = {_toml(command)}",
        "",
        "[cosmic-ray.distributor]",
        'name = "local"',
        "",
        "[cosmic-ray.filters.operators-filter]",
        "exclude-operators = [" + ", ".join(_toml(e) for e in EXCLUDED_OPERATORS) + "]",
    ]
    if target.functions:
        ranges = function_lines(work / target.module, target.functions)
        lines += [
            "",
            "[cosmic-ray.filters.line-filter.lines]",
            f"{_toml(target.module)} = {ranges!r}".replace("'", '"'),
        ]
    return "\n".join(lines) + "\n"


def _quote(part: str) -> str:
    return f"'{part}'" if any(c in part for c in " *") else part


def _toml(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prepare(target: Target, work: Path, env: dict[str, str]) -> tuple[Path, Path, int]:
    """A fresh session for ``target``: its mutants, minus those the filters skip; returns (config, session, count)."""
    session = OUT / f"{target.name}.sqlite"
    config = OUT / f"{target.name}.toml"
    config.write_text(config_text(target, work))
    session.unlink(missing_ok=True)
    _cr(work, env, "cosmic-ray", "init", str(config), str(session))
    _cr(work, env, "cr-filter-operators", str(session), str(config))
    if target.functions:
        _cr(work, env, "cr-filter-lines", "--config", str(config), str(session))
    return config, session, skip_broken(session, work)


def skip_broken(session: Path, work: Path) -> int:
    """Skip mutants that are not Python (cosmic-ray reads ``*`` in ``def f(a, *, b)`` as a product) or change nothing.

    Such a mutant would "die" at import and inflate the score. Returns how many mutants are left to run.
    """
    from cosmic_ray.mutating import mutate_code
    from cosmic_ray.plugins import get_operator
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        left, skipped = 0, []
        for item in db.pending_work_items:
            [mutation] = item.mutations
            code = (work / mutation.module_path).read_text(encoding="utf-8")
            operator = get_operator(mutation.operator_name)(**mutation.operator_args)
            mutated = mutate_code(code, operator, mutation.occurrence)
            try:
                broken = mutated is None or mutated == code or not compile(mutated, "mutant", "exec")
            except SyntaxError:
                broken = True
            if broken:
                skipped.append(item.job_id)
            else:
                left += 1
        if skipped:
            db.set_multiple_results(skipped, WorkResult(output="not Python", worker_outcome=WorkerOutcome.SKIPPED))
    return left


def survivors(session: Path, work: Path) -> tuple[int, int, list[str]]:
    """(mutants run, mutants killed, one line per survivor: ``module:line function operator | source line``)."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    lines, run, killed = [], 0, 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            run += 1
            if result.test_outcome != TestOutcome.SURVIVED:
                killed += 1
                continue
            [m] = item.mutations
            source = (work / m.module_path).read_text(encoding="utf-8").splitlines()[m.start_pos[0] - 1].strip()
            name = m.operator_name.removeprefix("core/")
            lines.append(f"{m.module_path}:{m.start_pos[0]} {m.definition_name} {name}#{m.occurrence} | {source}")
    return run, killed, sorted(lines, key=lambda line: int(line.split(" ")[0].split(":")[1]))


def run_target(target: Target, work: Path, env: dict[str, str], *, again: bool = False) -> str:
    """Run one target's session in ``work``; write its survivors and return its summary line.

    ``again``: run only the survivors of the target's last session, with the tests as they are
    now (in a copy, ``<target>.again.sqlite``): what the tests written since kill.
    """
    if again:
        config, session = OUT / f"{target.name}.again.toml", OUT / f"{target.name}.again.sqlite"
        config.write_text(config_text(target, work))
        survived = only_survivors(OUT / f"{target.name}.sqlite", session)
    else:
        (config, session, _), survived = prepare(target, work, env), 0
    _cr(work, env, "cosmic-ray", "baseline", str(config))  # the unchanged code must pass, or every mutant "dies"
    started = time.monotonic()
    _cr(work, env, "cosmic-ray", "exec", str(config), str(session))
    minutes = (time.monotonic() - started) / 60
    run, killed, left = survivors(session, work)
    (OUT / f"{session.stem}.survivors.txt").write_text("".join(line + "\n" for line in left))
    score = f"{100 * killed / run:.1f}%" if run else "n/a"
    name = f"{target.name} (its {survived} survivors again)" if again else target.name
    return f"{name}: {run} mutants, {killed} killed, {len(left)} survived ({score}) in {minutes:.1f} min"


def only_survivors(last: Path, session: Path) -> int:
    """Copy the session ``last`` to ``session`` keeping the mutants that ran, and make its survivors pending again.

    Mutants that never ran (a stopped session) are left out. Returns how many survivors will run again.
    """
    import sqlite3

    if not last.exists():
        raise SystemExit(f"{last.name} does not exist: run the target once before running its survivors again")
    shutil.copyfile(last, session)
    with sqlite3.connect(session) as db:
        never_ran = "job_id NOT IN (SELECT job_id FROM work_results)"
        db.execute(f"DELETE FROM mutation_specs WHERE {never_ran}")  # noqa: S608 - constants
        db.execute(f"DELETE FROM work_items WHERE {never_ran}")  # noqa: S608 - constants
        return db.execute("DELETE FROM work_results WHERE test_outcome = 'SURVIVED'").rowcount


def _cr(work: Path, env: dict[str, str], *args: str) -> str:
    """Run a cosmic-ray command from this Python's environment in ``work``; stop on failure with its output."""
    command = [str(Path(sys.executable).parent / args[0]), *args[1:]]
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="target names (default: all, in order)")
    parser.add_argument("--list", action="store_true", help="print the targets and their tests, then stop")
    parser.add_argument("--plan", action="store_true", help="count each target's mutants without running them")
    parser.add_argument(
        "--again", action="store_true", help="run only the survivors of each target's last session, with today's tests"
    )
    args = parser.parse_args()
    by_name = {t.name: t for t in TARGETS}
    unknown = [n for n in args.targets if n not in by_name]
    if unknown:
        parser.error(f"unknown target {', '.join(unknown)}; one of {', '.join(by_name)}")
    chosen = [by_name[n] for n in args.targets] or list(TARGETS)
    if args.list:
        for t in chosen:
            where = f"{t.module} ({', '.join(t.functions)})" if t.functions else t.module
            print(f"{t.name:14} {where}\n{'':14} tests: {' '.join(t.tests)}")
        return 0
    if shutil.which("cosmic-ray", path=str(Path(sys.executable).parent)) is None:
        print("cosmic-ray is not installed: pip install -e '.[mutation]'", file=sys.stderr)
        return 2
    OUT.mkdir(exist_ok=True)
    (OUT / ".gitignore").write_text("*\n")
    work = Path(tempfile.mkdtemp(prefix="grader-mutation-"))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stopped: still remove the copy (finally below)
    try:
        copy_repository(work)
        env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
        for target in chosen:
            if args.plan:
                print(f"{target.name}: {prepare(target, work, env)[2]} mutants to run", flush=True)
                continue
            line = run_target(target, work, env, again=args.again)
            print(line, flush=True)
            with (OUT / "summary.txt").open("a") as log:
                log.write(line + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
