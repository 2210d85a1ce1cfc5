"""The ``biomech`` command line.

    biomech demo [--out DIR] [--voxel-size MM]        the built-in VP vs KP study
    biomech run STUDY.toml --out DIR [--executor auto|inprocess|processes|dask]
                [--workers N] [--scheduler ADDRESS] [--voxel-size MM] [--dry-run]
    biomech warmup                                    compile every kernel into the cache
    biomech info [--json]                             versions, threads, cache location
    biomech view RESULT [--field NAME] [--screenshot PNG]
    biomech --version

-v/--verbose (repeatable), -q/--quiet (no progress bar, errors only) and --log-level LEVEL
go before or after the command (``biomech demo -v``); after ``view`` every argument is
the viewer's.  Messages of the library (warnings such as "more than 3 levels treated")
reach the user through logging, once, on stderr.  Only the subcommand functions import
the heavy modules (Numba, SciPy, PyVista), so ``biomech --help`` starts fast.

Exit status: 0 done, 1 some case failed, 2 bad input (the message names the file, the
key and the reason).  Progress goes to stderr, tables to stdout.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

from .errors import BiomechError, InputError

log = logging.getLogger(__name__)


# Copies of biomech.runner.executors.EXECUTORS / DEFAULT_EXECUTOR: importing the runner
# loads NumPy and the model code, which `biomech --help` must not wait for
# (tests/test_cli.py checks that the copies match).
EXECUTORS = ("auto", "inprocess", "processes", "dask")
DEFAULT_EXECUTOR = "auto"


def _add_executor_options(p):
    p.add_argument("--executor", choices=EXECUTORS, default=DEFAULT_EXECUTOR,
                   help="where the cases run (default auto: one local process per core when "
                        "several cases are to run and memory allows, else in this process)")
    p.add_argument("--workers", type=int, default=None,
                   help="local worker processes (processes, or a local Dask cluster)")
    p.add_argument("--scheduler", default=None,
                   help="address of a running Dask scheduler (tcp://host:8786 or a scheduler "
                        "file path); with --executor dask")
    p.add_argument("--batch-size", type=int, default=1,
                   help="cases per task (group many small cases; default 1)")
    p.add_argument("--voxel-size", type=float, default=None, metavar="MM",
                   help="voxel size of every case [mm] (overrides the study file)")
    p.add_argument("--no-pictures", action="store_true", help="skip pictures and plots")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _add_output_options(p, *, top: bool):
    """-v/-q/--log-level, accepted before the command (``top``) and after it.  After the
    command their defaults are SUPPRESS, so an option given only before the command is
    not reset by the subcommand's parser; given in both places, the later one counts."""
    default = (lambda v: v) if top else (lambda v: argparse.SUPPRESS)
    g = p.add_argument_group("output options")
    g.add_argument("-v", "--verbose", action="count", default=default(0),
                   help="more log messages (-v INFO, -vv DEBUG)")
    g.add_argument("-q", "--quiet", action="store_true", default=default(False),
                   help="no progress bar; log errors only")
    g.add_argument("--log-level", choices=LOG_LEVELS, default=default(None), type=str.upper,
                   help="logging detail (overrides -v/-q; default WARNING)")


def build_parser() -> argparse.ArgumentParser:
    from . import __version__
    ap = argparse.ArgumentParser(prog="biomech", description=(
        "Finite-element studies of osteoporotic and metastatic vertebrae before and after "
        "vertebroplasty and kyphoplasty."))
    ap.add_argument("--version", action="version", version=f"biomech {__version__}")
    _add_output_options(ap, top=True)
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("demo", help="run the built-in demo study (no input needed)")
    p.add_argument("--out", default="biomech_demo", help="output folder (default biomech_demo)")
    _add_executor_options(p)
    _add_output_options(p, top=False)

    p = sub.add_parser("run", help="run a TOML study file")
    p.add_argument("study", help="the study file (TOML)")
    p.add_argument("--out", required=True, help="output folder (a rerun resumes it)")
    _add_executor_options(p)
    p.add_argument("--force", action="store_true", help="rerun finished cases too")
    p.add_argument("--keep-failed", action="store_true",
                   help="do not rerun cases that failed before")
    p.add_argument("--dry-run", action="store_true",
                   help="validate the study and list its cases, hashes and status; run nothing")
    _add_output_options(p, top=False)

    p = sub.add_parser("warmup", help="compile every kernel into the Numba cache")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--workers", type=int, default=None,
                   help="processes compiling side by side on an empty cache (default: "
                        "the available cores)")
    _add_output_options(p, top=False)

    p = sub.add_parser("info", help="versions, threads and cache location (for bug reports)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_output_options(p, top=False)

    sub.add_parser("view", help="show a result file (VTU/VTI) or a case folder "
                                "(biomech view --help: its options)", add_help=False)
    return ap


def _view_index(argv) -> int | None:
    """Index of the 'view' command in argv (after any options), else None: everything
    after 'view' belongs to the viewer's own parser."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--log-level":
            i += 2
        elif a.startswith("-"):
            i += 1
        else:
            return i if a == "view" else None
    return None


def log_level(args) -> int:
    """The logging level chosen by --log-level, else by -v/-q (WARNING by default)."""
    if args.log_level:
        return getattr(logging, args.log_level)
    if args.quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)


def main(argv=None) -> int:
    """Entry point of the ``biomech`` console script; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = build_parser()
    iv = _view_index(argv)
    args = ap.parse_args(argv if iv is None else argv[:iv])
    if iv is not None:
        args.command = "view"
    args.argv = argv
    logging.basicConfig(level=log_level(args), format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        ap.print_help()
        return 2
    if args.command == "view":                  # the viewer parses its own options
        from .viz.view import main as view_main
        return view_main(argv[iv + 1:])
    try:
        return {"demo": _demo, "run": _run, "warmup": _warmup, "info": _info}[args.command](args)
    except BiomechError as exc:
        sys.stderr.write(f"biomech {args.command}: {exc}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"\nbiomech {args.command}: interrupted; no new case was started, "
                         "finished cases are kept, run the same command again to complete "
                         "the rest\n")
        return 130
    except OSError as exc:                   # a file system refusal biomech did not foresee
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        sys.stderr.write(f"biomech {args.command}: {exc.strerror or exc}{where}\n")
        return 2
    except MemoryError:
        sys.stderr.write(f"biomech {args.command}: out of memory; use a larger voxel size "
                         "(--voxel-size) or fewer workers (--workers)\n")
        return 2


def _command_line(args) -> str:
    import shlex
    return "biomech " + " ".join(shlex.quote(a) for a in args.argv)


def _check_executor(args):
    if args.scheduler and args.executor == "auto":
        args.executor = "dask"
    if args.scheduler and args.executor != "dask":
        raise InputError("--scheduler needs --executor dask")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be >= 1, got {args.workers}")


def _demo(args) -> int:
    from .demo import DEMO_VOXEL_SIZE_MM, demo_study, summary_table
    from .runner import run_study
    _check_executor(args)
    h = DEMO_VOXEL_SIZE_MM if args.voxel_size is None else args.voxel_size
    study = demo_study(h)
    if args.no_pictures:
        study = study.with_outputs(pictures=False, report=True)
    t0 = time.perf_counter()
    result = run_study(study, args.out, executor=args.executor, workers=args.workers,
                       scheduler=args.scheduler, batch_size=args.batch_size,
                       progress=not args.quiet,
                       command=f"biomech demo --out {args.out} --voxel-size {h:g}")
    print(summary_table(result))
    print(f"\n{len(result.outcomes)} cases at {h:g} mm voxels in {time.perf_counter() - t0:.0f} s; "
          f"wrote {os.path.join(args.out, 'results.csv')}, summary.json, report.html")
    return 1 if result.failed else 0


def _run(args) -> int:
    from .runner import case_status, run_study
    from .study import load_study
    _check_executor(args)
    study = load_study(args.study, voxel_size_mm=args.voxel_size)
    if args.no_pictures:
        study = study.with_outputs(pictures=False)
    if args.dry_run:
        from .runner.executors import check_memory
        check_memory(study.cases)
        status = case_status(study, args.out)
        print(f"study {study.name!r}: {len(study.cases)} cases, baseline {study.baseline!r}, "
              f"load cases {[lc['name'] for lc in study.cases[0].load_cases]}")
        for c in study.cases:
            print(f"  {c.name:40s} {c.hash}  {status[c.name]}")
        return 0
    t0 = time.perf_counter()
    result = run_study(study, args.out, executor=args.executor, workers=args.workers,
                       scheduler=args.scheduler, batch_size=args.batch_size,
                       progress=not args.quiet, force=args.force,
                       rerun_failed=not args.keep_failed, command=_command_line(args))
    n = len(result.outcomes)
    print(f"{n - len(result.failed)} of {n} cases ok ({len(result.skipped)} from an earlier "
          f"run) in {time.perf_counter() - t0:.0f} s; results in "
          f"{os.path.join(args.out, 'results.csv')}")
    for name in result.failed:
        print(f"  failed: {name}: {result.outcomes[name].error}")
    return 1 if result.failed else 0


def _warmup(args) -> int:
    from .kernels import cache_dir
    from .runner import warmup_kernels
    from .runner.executors import warm_cache
    from .runner.kernel_compile import check_signature_list
    t0 = time.perf_counter()
    counts = warm_cache(workers=args.workers) or warmup_kernels()
    dt = time.perf_counter() - t0
    missing = [k for k, v in counts.items() if v == 0 and not k.split(".")[-1].startswith("_")]
    if args.json:
        print(json.dumps({"cache_dir": cache_dir(), "seconds": dt, "kernels": counts,
                          "not_compiled": missing, "signature_list": check_signature_list()},
                         indent=1))
    else:
        n = sum(1 for v in counts.values() if v)
        print(f"{n} kernels compiled or loaded in {dt:.1f} s into the Numba cache {cache_dir()}")
        print("(private helpers such as _heap_push are compiled inside the kernels that call "
              "them)")
        if missing:
            print(f"not reached: {missing}")
    return 1 if missing else 0


def collect_info() -> dict:
    """Versions, threads and cache location (what a bug report needs)."""
    import platform

    import numba

    from . import __version__
    from .environment import INFO_PACKAGES, installed_versions
    from .kernels import cache_dir
    versions = installed_versions(INFO_PACKAGES)
    cdir = cache_dir()
    n_cached = 0
    if os.path.isdir(cdir):
        for _, _, files in os.walk(cdir):
            n_cached += sum(f.endswith(".nbi") for f in files)
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not chosen yet (no parallel kernel has run)"
    return {
        "biomech": __version__, "python": platform.python_version(),
        "platform": platform.platform(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "affinity_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "numba_threads": numba.get_num_threads(), "NUMBA_NUM_THREADS": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": layer,
        "numba_cache_dir": cdir, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR"),
        "numba_cached_kernels": n_cached,
        "env": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                "MKL_NUM_THREADS", "VTK_DEFAULT_OPENGL_WINDOW")},
        "versions": versions,
    }


def _info(args) -> int:
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    print(f"biomech {info['biomech']} on Python {info['python']} ({info['platform']})")
    print(f"CPUs: {info['cpu_count']} (usable {info['affinity_cpus']}); Numba threads "
          f"{info['numba_threads']} (NUMBA_NUM_THREADS {info['NUMBA_NUM_THREADS']}), "
          f"threading layer: {info['numba_threading_layer']}")
    print(f"Numba cache: {info['numba_cache_dir']} ({info['numba_cached_kernels']} cached "
          f"kernels; NUMBA_CACHE_DIR={info['NUMBA_CACHE_DIR'] or 'not set'})")
    print("environment: " + ", ".join(f"{k}={v}" for k, v in info["env"].items()))
    print("packages: " + ", ".join(f"{k} {v or '-'}" for k, v in info["versions"].items()))
    return 0


if __name__ == "__main__":          # python -m biomech.cli
    sys.exit(main())
