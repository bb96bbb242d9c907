"""A user's table (CSV, JSONL or Parquet) whose columns are image paths, audio paths, free
text, numbers and categories, read for `polymodal fit` and `polymodal predict`.

Each column's kind is inferred from its values (and may be given instead, `--column
NAME=KIND`); a column that is none of them (an ID, an empty column) is left out, and the
report says so:

- image / audio: nine in ten of its values name files with an image (audio) suffix;
- number: every value is a number, except an ID-like one (its name is id, *_id, index, key,
  uuid; or its values are 0..n-1 or 1..n once each);
- category: few distinct values (at most max(2, min(50, rows / 5))), a few words each;
- id: strings all distinct with no space in any (codes, file names, hashes), or an ID-like name;
- text: any other strings.

File paths are relative to the table's folder. Every check is made before anything is
trained or written: missing files, an empty label, one class, too few rows.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..core import values as checked
from ..core.errors import InputError
from ..modalities import AUDIO_SUFFIXES, IMAGE_SUFFIXES
from .manifest import read_records

KINDS = ("image", "audio", "text", "number", "category", "id", "ignore")
FEATURE_KINDS = ("image", "audio", "text", "number", "category")
MODALITY_OF = {"image": "image", "audio": "audio", "text": "text", "number": "table", "category": "table"}
PROBLEMS = ("classify", "regress")
MIN_ROWS = 10                 # a training split and a validation split, each of a few rows
ID_NAME = re.compile(r"^(id|idx|index|key|uuid|guid|row|.*[_\- ]id)$", re.IGNORECASE)
MAX_CLASSES_FOR_NUMBERS = 20  # a label of whole numbers with at most this many values is a class


@dataclass
class Table:
    path: Path
    rows: list[dict]                       # column -> value (str, number or None); "_row": the file's row number
    columns: list[str]


@dataclass
class Columns:
    """What each column is, and the label's problem."""

    label: str
    problem: str                                   # classify | regress
    kinds: dict[str, str]                          # column -> kind (the label left out)
    reasons: dict[str, str] = field(default_factory=dict)   # column -> why it was left out

    def of_kind(self, *kinds: str) -> list[str]:
        return [c for c, k in self.kinds.items() if k in kinds]

    def modalities(self) -> list[str]:
        """The modalities the used columns feed (numbers and categories together: table)."""
        found = {MODALITY_OF[k] for k in self.kinds.values() if k in MODALITY_OF}
        return [m for m in ("image", "text", "audio", "table") if m in found]

    def columns_of(self, modality: str) -> list[str]:
        return [c for c, k in self.kinds.items() if MODALITY_OF.get(k) == modality]


def read_table(path) -> Table:
    """Rows of a .csv, .jsonl or .parquet file; a malformed row is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: table not found")
    if path.suffix.lower() == ".parquet":
        rows = parquet_rows(path)
    else:
        rows = []
        for rowno, record, problem in read_records(path):
            if problem:
                raise InputError(f"{path} row {rowno}: {problem}")
            rows.append({**record, "_row": rowno})
    columns = list(dict.fromkeys(c for r in rows for c in r if c != "_row"))
    if not rows:
        raise InputError(f"{path}: the table has no rows")
    return Table(path, rows, columns)


def parquet_rows(path: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    try:
        records = pq.read_table(path).to_pylist()
    except Exception as exc:         # pyarrow raises its own error types for a bad file
        raise InputError(f"{path}: not a readable Parquet file ({str(exc).splitlines()[0][:200]})") from None
    return [{**r, "_row": i + 1} for i, r in enumerate(records)]


def empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, float) and math.isnan(value))


def as_number(value) -> float | None:
    """A finite number from a number or numeric text; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    return None


def is_range(numbers: list[float]) -> bool:
    """0..n-1 or 1..n, each once: a row counter, not a measurement."""
    if not all(n.is_integer() for n in numbers):
        return False
    ordered = sorted(numbers)
    return ordered in ([float(i) for i in range(len(numbers))], [float(i + 1) for i in range(len(numbers))])


def infer_kind(name: str, column_values: list) -> tuple[str, str]:
    """-> (kind, why it was chosen or left out)."""
    filled = [v for v in column_values if not empty(v)]
    if not filled:
        return "ignore", "empty in every row"
    if any(isinstance(v, (dict, list)) for v in filled):
        return "ignore", "holds lists or objects, not values"
    texts = [str(v).strip() for v in filled]
    for kind, suffixes in (("image", IMAGE_SUFFIXES), ("audio", AUDIO_SUFFIXES)):
        if sum(Path(t).suffix.lower() in suffixes for t in texts) >= 0.9 * len(texts):
            return kind, f"{kind} file paths"
    numbers = [as_number(v) for v in filled]
    distinct = len(set(texts))
    if all(n is not None for n in numbers):
        if ID_NAME.match(name) or (len(filled) >= MIN_ROWS and is_range(numbers)):
            return "id", "an ID (a row counter or an id name), not a feature"
        return "number", "numbers"
    if ID_NAME.match(name):
        return "id", "an ID by its name, not a feature"
    if distinct == len(texts) and len(texts) >= MIN_ROWS and not any(" " in t for t in texts):
        return "id", "a different one-word value in every row (an ID), not a feature"
    words = sum(len(t.split()) for t in texts) / len(texts)
    if distinct <= max(2, min(50, len(texts) // 5)) and words <= 4:
        return "category", f"{distinct} categories"
    return "text", "free text"


def infer_problem(label_values: list) -> str:
    numbers = [as_number(v) for v in label_values]
    if all(n is not None for n in numbers):
        whole = all(n.is_integer() for n in numbers)
        if not whole or len(set(numbers)) > MAX_CLASSES_FOR_NUMBERS:
            return "regress"
    return "classify"


def describe_columns(table: Table, label: str, given: dict[str, str] | None = None,
                     problem: str | None = None) -> Columns:
    """Each column's kind (given ones as given), the label's problem; checks the label."""
    given = dict(given or {})
    if label not in table.columns:
        raise InputError(f"{table.path}: no column {label!r} for --label (columns: {', '.join(table.columns)})")
    for name, kind in given.items():
        if name not in table.columns:
            raise InputError(f"--column {name}={kind}: {table.path} has no column {name!r}")
        if kind not in KINDS:
            raise InputError(f"--column {name}={kind}: the kind must be one of {', '.join(KINDS)}")
        if name == label:
            raise InputError(f"--column {name}={kind}: {name!r} is the label")
    if problem is not None and problem not in PROBLEMS:
        raise InputError(f"--problem must be one of {', '.join(PROBLEMS)}, got {problem!r}")
    labels = [r.get(label) for r in table.rows]
    unlabelled = [r["_row"] for r in table.rows if empty(r.get(label))]
    if unlabelled:
        raise InputError(f"{table.path}: the label column {label!r} is empty in {len(unlabelled)} rows "
                         f"(first: row {unlabelled[0]}); fill them or leave those rows out")
    problem = problem or infer_problem(labels)
    if problem == "regress" and any(as_number(v) is None for v in labels):
        bad = next(r for r in table.rows if as_number(r.get(label)) is None)
        raise InputError(f"{table.path} row {bad['_row']}: label {bad[label]!r} is not a number, and --problem "
                         f"regress needs numbers")
    if problem == "classify":
        classes = sorted({str(v) for v in labels})
        if len(classes) < 2:
            raise InputError(f"{table.path}: the label column {label!r} has one class ({classes[0]!r}) in every "
                             f"row: there is nothing to learn")
    kinds, reasons = {}, {}
    for name in table.columns:
        if name == label:
            continue
        if name in given:
            kind, why = given[name], "given"
        else:
            kind, why = infer_kind(name, [r.get(name) for r in table.rows])
        kinds[name] = kind
        reasons[name] = why
    columns = Columns(label, problem, kinds, reasons)
    if not columns.modalities():
        raise InputError(f"{table.path}: no column besides the label holds images, audio, text, numbers or "
                         f"categories ({'; '.join(f'{c}: {r}' for c, r in reasons.items()) or 'no other column'})")
    return columns


def check_rows(table: Table, columns: Columns, min_rows: int = MIN_ROWS) -> None:
    """Enough rows, and every file a used column names exists."""
    if len(table.rows) < min_rows:
        raise InputError(f"{table.path}: {len(table.rows)} rows; fit needs at least {min_rows} (a training and "
                         f"a validation split)")
    base = table.path.absolute().parent
    for name in columns.of_kind("image", "audio"):
        missing = [(r["_row"], r.get(name)) for r in table.rows
                   if not empty(r.get(name)) and not file_path(r[name], base).is_file()]
        if missing:
            row, value = missing[0]
            raise InputError(f"{table.path}: column {name!r}: {len(missing)} of {len(table.rows)} files are missing "
                             f"(first: row {row}, {value})")
        if any(empty(r.get(name)) for r in table.rows):
            row = next(r["_row"] for r in table.rows if empty(r.get(name)))
            raise InputError(f"{table.path} row {row}: column {name!r} names no file")


def file_path(value, base: Path) -> Path:
    p = Path(checked.path(str(value).strip(), "a table's file path")).expanduser()
    return p if p.is_absolute() else base / p
