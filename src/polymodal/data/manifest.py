"""Users' data manifests: JSONL (one object per line) or CSV with a header.

File columns name files relative to the manifest's folder and come back as absolute paths.
Row numbers are 1-based file lines (for CSV the header is line 1, as in a spreadsheet).
"""
from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import reprlib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

from ..core import values
from ..core.errors import InputError
from ..modalities import Audio, Image, Video

FILE_COLUMNS = ("image", "audio", "video")
TEXT_COLUMNS = ("text", "label", "question", "answer", "caption", "phrase", "prompt", "transcript")
_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv"}
_ON_BAD_ROWS = ("fail", "skip")
_JSON_TYPES = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}


@dataclass
class BadRow:
    row: int
    reason: str


@dataclass
class Manifest:
    path: Path
    rows: list[dict]
    bad_rows: list[BadRow] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.rows)


class _RowError(ValueError):
    """A problem with one row; read_manifest adds the file and row number."""


def parse_column_map(specs: Sequence[str] | None) -> dict[str, str]:
    """`["image=img_path"]` -> `{"image": "img_path"}` (canonical name -> user's column)."""
    mapping: dict[str, str] = {}
    for spec in specs or ():
        canonical, sep, user = (part.strip() for part in str(spec).partition("="))
        if not (sep and canonical and user):
            raise InputError(f"bad column mapping {spec!r}: expected NAME=COLUMN, e.g. image=img_path")
        if canonical in mapping:
            raise InputError(f"column {canonical!r} mapped twice")
        mapping[canonical] = user
    return mapping


def read_manifest(path, required: Sequence[str], columns: dict[str, str] | None = None,
                  on_bad_rows: str = "fail", check_files: bool = True, decode_files: bool = False) -> Manifest:
    """Read and validate a manifest; bad rows fail at the first one or are collected ("skip")."""
    path = Path(path)
    if on_bad_rows not in _ON_BAD_ROWS:
        raise InputError(f"on_bad_rows must be one of {', '.join(_ON_BAD_ROWS)}, got {on_bad_rows!r}")
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unsupported manifest format {path.suffix!r} (use .jsonl or .csv)")
    text = _read_text(path)
    records = _jsonl_records(text) if fmt == "jsonl" else _csv_records(text, path)
    mapping, base = dict(columns or {}), path.absolute().parent
    rows, bad = [], []
    for rowno, record, problem in records:
        try:
            if problem:
                raise _RowError(problem)
            # _row: the line number, so later stages (answers, images) can name the row too
            rows.append({**_check_row(record, required, mapping, base, check_files, decode_files), "_row": rowno})
        except _RowError as e:
            if on_bad_rows == "fail":
                raise InputError(f"{path} row {rowno}: {e}") from None
            bad.append(BadRow(rowno, str(e)))
    if not rows:
        skipped = f" ({len(bad)} bad rows skipped)" if bad else ""
        raise InputError(f"{path}: manifest has no usable rows{skipped}")
    return Manifest(path, rows, bad)


def read_records(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """A JSONL or CSV file's records as they are: (row number, object or None, problem or None)."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unsupported table format {path.suffix!r} (use .csv, .jsonl or .parquet)")
    text = _read_text(path)
    return _jsonl_records(text) if fmt == "jsonl" else _csv_records(text, path)


def write_bad_rows(manifest: Manifest, out_dir, name: str = "skipped_rows.jsonl") -> Path | None:
    """Write `name` (row, reason) into out_dir if any rows were skipped."""
    if not manifest.bad_rows:
        return None
    lines = ({"row": b.row, "reason": b.reason} for b in manifest.bad_rows)
    return write_manifest(lines, Path(out_dir) / name)


def report_bad_rows(manifest: Manifest | None, out_dir=None, name: str = "skipped_rows.jsonl") -> None:
    """Skipped rows are never silent: one line each on stderr, and a file beside the outputs."""
    if manifest is None:
        return
    for bad in manifest.bad_rows:
        print(f"polymodal: skipped {manifest.path} row {bad.row}: {bad.reason}", file=sys.stderr)
    if out_dir is not None:
        write_bad_rows(manifest, out_dir, name)


def write_manifest(rows: Iterable[dict], path) -> Path:
    """Write rows as JSONL atomically: a temp file in the same folder, then os.replace."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False, default=_jsonable) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise InputError(f"{path}: cannot write ({e.strerror or e})") from None
        raise
    return path


def _jsonable(value):
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "item"):  # numpy / torch scalars
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: manifest not found")
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: tolerate a spreadsheet's BOM
    except UnicodeDecodeError:
        raise InputError(f"{path}: manifest is not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read manifest ({e.strerror or e})") from None


def _jsonl_records(text: str) -> Iterator[tuple[int, dict | None, str | None]]:
    """(row number, object or None, problem or None); blank lines skipped."""
    for rowno, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            yield rowno, None, f"invalid JSON ({e.msg} at column {e.colno})"
            continue
        except RecursionError:
            yield rowno, None, "JSON nested too deeply"
            continue
        if isinstance(obj, dict):
            yield rowno, obj, None
        else:
            yield rowno, None, f"expected a JSON object, got {_JSON_TYPES.get(type(obj), 'null')}"


def _csv_records(text: str, path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Like _jsonl_records; the first non-blank record is the header."""
    reader = csv.reader(io.StringIO(text, newline=""), skipinitialspace=True)
    header = None
    while True:
        rowno = reader.line_num + 1  # a quoted field may span lines: report where the row starts
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield rowno, None, f"malformed CSV ({e})"
            continue
        if not any(f.strip() for f in fields):
            continue
        if header is None:
            header = [name.strip() for name in fields]
            dupes = sorted({n for n in header if header.count(n) > 1})
            if dupes:
                raise InputError(f"{path}: duplicate CSV column {dupes[0]!r}")
        elif len(fields) != len(header):
            yield rowno, None, f"expected {len(header)} fields, got {len(fields)}"
        else:
            yield rowno, dict(zip(header, fields)), None


def _decode(path: str, col: str) -> None:
    """Open the file as its modality would, so a corrupt file is a bad row here rather than
    a failure in the middle of a run. Many rows often share one file: decode it once."""
    problem = _decode_problem(path, col, os.stat(path).st_mtime_ns)
    if problem:
        raise _RowError(problem)


@functools.lru_cache(maxsize=65536)
def _decode_problem(path: str, col: str, mtime_ns: int) -> str | None:
    try:
        if col == "video":
            Video.open(path, frames=1)       # decodes every frame (a cut file shows), keeps one
        else:
            (Image if col == "image" else Audio).open(path)
    except InputError as e:
        return str(e)
    return None


def _check_row(row: dict, required, mapping, base: Path, check_files: bool, decode_files: bool = False) -> dict:
    """Rename to canonical columns, check required values, resolve files, parse the box."""
    # A mapped name reads only the user's column, never a same-named column of the file.
    users = set(mapping.values())
    out = {k: v for k, v in row.items() if k not in users and k not in mapping}
    out.update({canon: row[user] for canon, user in mapping.items() if user in row})
    for col in required:
        name = f"{mapping[col]!r} (for {col!r})" if mapping.get(col, col) != col else repr(col)
        if col not in out:
            raise _RowError(f"missing column {name}")
        if _empty(out[col]):
            raise _RowError(f"empty value in column {name}")
    for col in TEXT_COLUMNS:      # JSON may give 3 or true where the data means "3"
        if col in out and not _empty(out[col]) and not isinstance(out[col], str):
            if isinstance(out[col], (dict, list)):
                raise _RowError(f"column {col!r} must be text, got {type(out[col]).__name__}")
            if isinstance(out[col], float) and not math.isfinite(out[col]):
                raise _RowError(f"column {col!r}: {out[col]} is not a finite number")
            out[col] = str(out[col]).lower() if isinstance(out[col], bool) else str(out[col])
        if col in out and not _empty(out[col]):
            try:
                values.text(out[col], f"column {col!r}")
            except InputError as e:
                raise _RowError(str(e)) from None
    for col in FILE_COLUMNS:
        if not _empty(out.get(col)):
            out[col] = _resolve(out[col], col, base, check_files)
            if decode_files:
                _decode(out[col], col)
    if not _empty(out.get("box")):
        out["box"] = _parse_box(out["box"])
    return out


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _resolve(value, col: str, base: Path, check_files: bool) -> str:
    # Not .resolve(): following symlinks could change the file name (and its suffix).
    if not isinstance(value, str):
        raise _RowError(f"column {col!r} must be a file path, got {reprlib.repr(value)}")
    p = Path(value).expanduser()
    p = p if p.is_absolute() else base / p
    if check_files and not p.is_file():
        raise _RowError(f"{col} file not found: {p}")
    return str(p)


def _parse_box(value) -> list[float]:
    """[x0, y0, x1, y1] in pixels, from a list or a string like "[10, 20, 30, 40]"."""
    parts = value.strip().strip("[]()").replace(",", " ").split() if isinstance(value, str) else value
    box = None
    if isinstance(parts, (list, tuple)) and len(parts) == 4 and not any(isinstance(v, bool) for v in parts):
        try:
            box = [float(v) for v in parts]
        except (TypeError, ValueError):
            pass
    if box is None or not all(math.isfinite(v) for v in box):
        raise _RowError(f"box must be 4 numbers [x0, y0, x1, y1], got {reprlib.repr(value)}")
    if not (box[2] > box[0] and box[3] > box[1]):
        raise _RowError(f"box needs x1 > x0 and y1 > y0, got {reprlib.repr(value)}")
    return box
