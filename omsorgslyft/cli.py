"""The ``omsorgslyft`` command line (messages in Swedish: trainers and HR use it)."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from omsorgslyft.authoring.diagnostics import ModuleError


def _project_root(arg: str | None) -> Path:
    return Path(arg).resolve() if arg else Path.cwd().resolve()


def cmd_check(args: argparse.Namespace) -> int:
    from omsorgslyft.authoring.discover import load_modules
    from omsorgslyft.authoring.readability import module_readability

    root = _project_root(args.root)
    paths = [Path(p).resolve() for p in args.paths] or [root / "modules"]
    modules, diagnostics = load_modules(paths, root)
    courses_dir = root / "courses"
    if not args.paths and courses_dir.is_dir():
        from omsorgslyft.authoring.courses import load_courses

        courses, course_problems = load_courses(courses_dir, root, {m.id for m in modules})
        diagnostics = sorted([*diagnostics, *course_problems])
        for c in courses:
            print(f"{c.path}: ok · {len(c.modules)} moduler · giltig {c.validity_months} månader")
    for d in diagnostics:
        print(d)
    for m in modules:
        r = module_readability(m)
        print(
            f"{m.path}: ok · {m.minutes} min · {len(m.exercises)} övningar · "
            f"{len(m.graded_questions)} frågor i kunskapskontrollen"
            + (f", {m.check.asked} per försök" if m.check.asked else "")
            + " · "
            f"LIX {r.lix:.0f}"
        )
    bad = len({d.path for d in diagnostics})
    print(f"{len(modules) + bad} moduler kontrollerade, {len(diagnostics)} fel.")
    return 1 if diagnostics else 0


def cmd_build(args: argparse.Namespace) -> int:
    from omsorgslyft.grading.build import build_modules

    root = _project_root(args.root)
    paths = [Path(p).resolve() for p in args.paths] or [root / "modules"]
    grading = Path(args.grading).resolve() if args.grading else root / "grading"
    try:
        built = build_modules(
            paths,
            root,
            grading,
            progress=lambda msg: print(msg, flush=True),
            gradebook_url=args.gradebook_url or "",
        )
    except ModuleError as exc:
        for d in exc.diagnostics:
            print(d)
        print(f"Inget byggdes: {len(exc.diagnostics)} fel.", file=sys.stderr)
        return 1
    for b in built:
        names = ", ".join(a.name for a in b.assignments.values())
        print(f"{b.module.id}: {b.page} (rättas som {names})")
    print(f"{len(built)} moduler byggda.")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    from omsorgslyft.grading.build import build_modules

    root = _project_root(args.root)
    target = Path(args.module)
    if not target.exists():
        target = root / "modules" / args.module
    with tempfile.TemporaryDirectory(prefix="omsorgslyft-preview-") as tmp:
        try:
            (built,) = build_modules([target.resolve()], root, Path(tmp) / "grading")
        except ModuleError as exc:
            for d in exc.diagnostics:
                print(d)
            return 1
        print(
            f"Förhandsgranskning av {built.module.title}: http://127.0.0.1:{args.port}/", flush=True
        )
        env = dict(os.environ)
        env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
        command = [
            sys.executable,
            "-m",
            "voila",
            str(built.page),
            "--no-browser",
            f"--port={args.port}",
            "--Voila.ip=127.0.0.1",
            "--show_tracebacks=False",
            f"--Voila.tornado_settings={{'allow_origin': 'http://127.0.0.1:{args.port}'}}",
        ]
        child = subprocess.Popen(command, env=env)

        def stop(signum: int, _frame: object) -> None:
            child.terminate()

        signal.signal(signal.SIGTERM, stop)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.terminate()
            child.wait()
            return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="omsorgslyft", description="Omsorgslyft: utbildning för vård och omsorg."
    )
    parser.add_argument("--root", help="projektets mapp (standard: nuvarande mapp)")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="kontrollera moduler utan att bygga")
    check.add_argument("paths", nargs="*", help="moduler eller mappar (standard: modules/)")
    check.set_defaults(func=cmd_check)

    build = sub.add_parser("build", help="bygg moduler till nbgrader-uppgifter i grading/")
    build.add_argument("paths", nargs="*", help="moduler eller mappar (standard: modules/)")
    build.add_argument("--grading", help="nbgrader-kursens mapp (standard: grading/)")
    build.add_argument(
        "--gradebook-url",
        help="nbgraders betygsbok, om den inte är grading/gradebook.db (till exempel "
        "PostgreSQL: samma som HubSettings.gradebook_url)",
    )
    build.set_defaults(func=cmd_build)

    preview = sub.add_parser("preview", help="förhandsgranska en modul i Voilà")
    preview.add_argument("module", help="modulens id eller mapp")
    preview.add_argument("--port", type=int, default=8866)
    preview.set_defaults(func=cmd_preview)

    from omsorgslyft.records.commands import add_parsers

    add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
