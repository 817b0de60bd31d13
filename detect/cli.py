"""The ``posturewatch`` command line.

Each subcommand lives in ``detect/commands/<name>.py`` with two functions: ``add_parser(sub)``
(declares its arguments; must not import torch or other heavy modules) and ``run(args) -> int``.
Errors the user can fix (:class:`~imagery.errors.PostureWatchError`, unreadable files) are
printed as one line, without a traceback, and exit non-zero; warnings are one line each.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import warnings
from collections.abc import Sequence

COMMANDS = ("demo", "run", "series", "batch", "info", "align", "detect", "change", "synth", "train",
            "train-state", "train-state-pair", "train-type", "train-box", "train-heading", "train-ground",
            "eval", "sample")

PROG = "posturewatch"


def _format_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                    line: str | None = None) -> str:
    return f"{PROG}: warning: {message}\n"


def _module_name(command: str) -> str:
    return command.replace("-", "_")


def build_parser() -> argparse.ArgumentParser:
    from detect import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Detect military posture change at airbases in satellite imagery.",
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="no progress bars or warnings, only results and errors")
    parser.add_argument("--debug", action="store_true",
                        help="show full tracebacks (for bug reports)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"detect.commands.{_module_name(name)}")
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.formatwarning = _format_warning  # type: ignore[assignment]
    if args.quiet:
        warnings.simplefilter("ignore")
        os.environ["POSTUREWATCH_QUIET"] = "1"
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s")
    module = importlib.import_module(f"detect.commands.{_module_name(args.command)}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # one clear line for the user; --debug for the traceback
        if args.debug:
            raise
        print(f"{PROG}: error: {describe_error(exc)}", file=sys.stderr)
        return getattr(exc, "exit_code", 1)


def describe_error(exc: BaseException) -> str:
    """One line for any exception: ours carry a message made for users; others get their type."""
    from imagery.errors import PostureWatchError

    text = " ".join(str(exc).split())
    if isinstance(exc, PostureWatchError):
        return text
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or text}: no such file"
    if isinstance(exc, PermissionError):
        return f"{exc.filename or text}: permission denied"
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror}"
    if isinstance(exc, MemoryError):
        return "out of memory (try a smaller --tile-size or --batch-size)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
