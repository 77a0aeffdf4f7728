"""``python -m polyfuse``: the command line.

    python -m polyfuse report usage.db -o report.html [--model M] [--route R] [--tag KEY=VALUE]
                                                    [--since-ms T] [--until-ms T]

``report`` writes the HTML usage report of a ledger (see ``polyfuse.ledger``) and prints where.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Sequence

from . import ledger
from .exceptions import PolyfuseError


def _tags(pairs: Sequence[str]) -> Dict[str, str]:
    tags: Dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"polyfuse report: --tag expects KEY=VALUE, got {pair!r}")
        tags[key] = value
    return tags


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polyfuse", description="polyfuse command line")
    commands = parser.add_subparsers(dest="command", required=True)
    rep = commands.add_parser("report", help="write the HTML usage report of a ledger")
    rep.add_argument("ledger", help="the ledger file (usage.ledger in the config)")
    rep.add_argument("-o", "--output", default="usage-report.html", help="the HTML file to write (default: %(default)s)")
    rep.add_argument("--model", help="only calls of this model (exactly, as requested)")
    rep.add_argument("--route", help="only calls of this route")
    rep.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="only calls with this tag (repeatable)")
    rep.add_argument("--since-ms", type=int, help="only calls that started at or after this time (ms since the epoch)")
    rep.add_argument("--until-ms", type=int, help="only calls that started before this time (ms since the epoch)")
    args = parser.parse_args(argv)

    try:
        summary = ledger.report(
            args.ledger,
            args.output,
            model=args.model,
            route=args.route,
            tags=_tags(args.tag) or None,
            since_ms=args.since_ms,
            until_ms=args.until_ms,
        )
    except PolyfuseError as e:
        print(f"polyfuse report: {e}", file=sys.stderr)
        return 2
    print(f"polyfuse: wrote {summary.path} ({summary.calls} calls, {summary.attempts} attempts, {summary.charts} charts)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
