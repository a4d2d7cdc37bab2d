"""Regenerate rewriter/rational/table.json bit for bit (deterministic fits, sorted keys).

python tools/fit_table.py            # all entries, writes the packaged table
python tools/fit_table.py --check    # regenerate and compare, exit 1 on a difference
python tools/fit_table.py --only gelu/5_4 --check
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rewriter.rational.table import (
    TABLE_DEGREES,
    TABLE_NAMES,
    build_entry,
    build_table,
    dumps_table,
    entry_key,
    load_table,
)

TABLE = Path(__file__).resolve().parents[1] / "rewriter" / "rational" / "table.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the stored table")
    ap.add_argument("--only", nargs="*", default=None, help="entries like gelu/5_4 (with --check)")
    ap.add_argument("-o", "--output", type=Path, default=TABLE)
    args = ap.parse_args(argv)
    t0 = time.perf_counter()

    def progress(name: str, deg: tuple[int, int], d: dict) -> None:
        print(
            f"{time.perf_counter() - t0:6.1f}s {entry_key(name, deg):16s} {d['form']:9s} "
            f"global {float.fromhex(d['global_error']):.2e}",
            flush=True,
        )

    if args.only:
        stored = load_table()["entries"]
        bad = 0
        for key in args.only:
            name, deg = key.split("/")
            m, n = (int(v) for v in deg.split("_"))
            same = build_entry(name, (m, n)) == stored.get(key)
            bad += not same
            print(f"{key}: {'identical' if same else 'DIFFERENT'}")
        return 1 if bad else 0
    table = build_table(TABLE_NAMES, TABLE_DEGREES, progress)
    text = dumps_table(table)
    if args.check:
        same = args.output.read_text(encoding="utf-8") == text
        print("identical" if same else "DIFFERENT")
        return 0 if same else 1
    tmp = args.output.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(args.output)
    print(f"wrote {args.output} ({len(table['entries'])} entries, {time.perf_counter() - t0:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
