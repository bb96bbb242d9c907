"""Manifests: reading JSONL/CSV, column mapping, bad rows in both modes, atomic writing."""
import json
from pathlib import Path

import pytest

from polymodal.core.errors import InputError
from polymodal.data.manifest import (
    Manifest,
    parse_column_map,
    read_manifest,
    write_bad_rows,
    write_manifest,
)


@pytest.fixture
def data(tmp_path):
    """tmp/data/ with images/a.png and images/b.png; the manifest goes in tmp/data/."""
    (tmp_path / "data" / "images").mkdir(parents=True)
    for name in ("a.png", "b.png"):
        (tmp_path / "data" / "images" / name).write_bytes(b"png")
    return tmp_path / "data"


def write(path: Path, lines) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def jl(**row) -> str:
    return json.dumps(row)


def test_jsonl_resolves_paths_relative_to_the_manifest_not_the_cwd(data, tmp_path, monkeypatch):
    absolute = str(data / "images" / "b.png")
    write(data / "train.jsonl", [jl(image="images/a.png", label="cat", family="count"), "",
                                  jl(image=absolute, label=0)])
    monkeypatch.chdir(tmp_path)
    m = read_manifest("data/train.jsonl", required=["image", "label"])
    assert isinstance(m, Manifest) and len(m) == 2 and m.bad_rows == []
    rows = list(m)
    assert rows[0] == {"image": str(data / "images" / "a.png"), "label": "cat", "family": "count", "_row": 1}
    assert Path(rows[0]["image"]).is_absolute()
    assert rows[1]["image"] == absolute and rows[1]["label"] == "0"   # text columns are text
    assert rows[1]["_row"] == 3, "_row is the file line (blank lines count), for error messages"


def test_csv_with_quotes_spaces_and_box(data):
    write(data / "ground.CSV", ["image, phrase, box",
                                'images/a.png, "the red, round one", "[1, 2, 30.5, 40]"',
                                "images/b.png, a square, 0 0 5 5"])
    m = read_manifest(data / "ground.CSV", required=["image", "phrase", "box"])
    assert [r["phrase"] for r in m] == ["the red, round one", "a square"]
    assert [r["box"] for r in m] == [[1.0, 2.0, 30.5, 40.0], [0.0, 0.0, 5.0, 5.0]]
    assert m.rows[1]["image"] == str(data / "images" / "b.png")


def test_column_mapping(data):
    assert parse_column_map(["image=img_path", " answer = ans "]) == {"image": "img_path", "answer": "ans"}
    write(data / "vqa.jsonl", [jl(img_path="images/a.png", question="how many?", ans="2")])
    cols = parse_column_map(["image=img_path", "answer=ans"])
    row = read_manifest(data / "vqa.jsonl", ["image", "question", "answer"], columns=cols).rows[0]
    assert row == {"image": str(data / "images" / "a.png"), "question": "how many?", "answer": "2", "_row": 1}
    with pytest.raises(InputError, match=r"row 1: missing column 'question_text' \(for 'question'\)"):
        read_manifest(data / "vqa.jsonl", ["question"], columns={"question": "question_text"})


@pytest.mark.parametrize("specs", [["image"], ["=img"], ["image="], ["image=a", "image=b"]])
def test_malformed_column_map(specs):
    with pytest.raises(InputError):
        parse_column_map(specs)


GOOD = jl(image="images/a.png", answer="yes", box=[0, 0, 4, 4])
BAD_ROWS = [  # (file name, lines, bad row number, reason fragment); row 2 is blank in JSONL
    ("t.jsonl", [GOOD, "", '{"image": "images/a.png",'], 3, "invalid JSON"),
    ("t.jsonl", [GOOD, "", '["images/a.png", "yes"]'], 3, "expected a JSON object, got array"),
    ("t.jsonl", [GOOD, "", jl(image="images/a.png")], 3, "missing column 'answer'"),
    ("t.jsonl", [GOOD, "", jl(image="images/a.png", answer=" ")], 3, "empty value in column 'answer'"),
    ("t.jsonl", [GOOD, "", jl(image="images/zz.png", answer="no")], 3, "image file not found"),
    ("t.jsonl", [GOOD, "", jl(image="images/a.png", answer="no", box=[5, 0, 4, 4])], 3, "x1 > x0"),
    ("t.jsonl", [GOOD, "", jl(image="images/a.png", answer="no", box=[0, 0, 4])], 3, "4 numbers"),
    ("t.jsonl", [GOOD, "", jl(image="images/a.png", answer="no", box="[0, 0, a, 4]")], 3, "4 numbers"),
    ("t.csv", ["image,answer", "images/a.png,yes", "images/a.png,yes,extra"], 3, "expected 2 fields, got 3"),
]


@pytest.mark.parametrize("name,lines,rowno,reason", BAD_ROWS)
def test_bad_row_fails_naming_file_and_row(data, name, lines, rowno, reason):
    path = write(data / name, lines)
    with pytest.raises(InputError) as e:
        read_manifest(path, required=["image", "answer"])
    msg = str(e.value)
    assert msg.startswith(f"{path} row {rowno}: ") and reason in msg and "\n" not in msg


@pytest.mark.parametrize("name,lines,rowno,reason", BAD_ROWS)
def test_bad_row_skipped_and_reported(data, tmp_path, name, lines, rowno, reason):
    path = write(data / name, lines + lines[-1:])  # the bad row twice: rows 3 and 4
    m = read_manifest(path, required=["image", "answer"], on_bad_rows="skip")
    assert len(m) == 1 and m.rows[0]["image"] == str(data / "images" / "a.png")
    assert [b.row for b in m.bad_rows] == [rowno, rowno + 1]
    assert all(reason in b.reason for b in m.bad_rows)
    out = write_bad_rows(m, tmp_path / "run")
    assert out == tmp_path / "run" / "skipped_rows.jsonl"
    assert [json.loads(line) for line in out.read_text().splitlines()] == [
        {"row": b.row, "reason": b.reason} for b in m.bad_rows]


def test_check_files_off_and_no_bad_rows_file(data, tmp_path):
    write(data / "t.jsonl", [jl(image="images/missing.png", text="hi")])
    m = read_manifest(data / "t.jsonl", ["image", "text"], check_files=False)
    assert m.rows[0]["image"] == str(data / "images" / "missing.png")
    assert write_bad_rows(m, tmp_path / "run") is None and not (tmp_path / "run").exists()


def test_file_level_errors(data):
    write(data / "t.txt", [GOOD])
    with pytest.raises(InputError, match="unsupported manifest format"):
        read_manifest(data / "t.txt", ["image"])
    with pytest.raises(InputError, match="nope.jsonl: manifest not found"):
        read_manifest(data / "nope.jsonl", ["image"])
    write(data / "t.jsonl", [GOOD])
    with pytest.raises(InputError, match="on_bad_rows"):
        read_manifest(data / "t.jsonl", ["image"], on_bad_rows="ignore")
    (data / "latin.jsonl").write_bytes(b'{"text": "caf\xe9"}\n')
    with pytest.raises(InputError, match="not UTF-8"):
        read_manifest(data / "latin.jsonl", ["text"])


@pytest.mark.parametrize("name,lines,mode", [
    ("e.jsonl", ["", "  "], "fail"),
    ("e.csv", ["image,label"], "fail"),
    ("e.jsonl", ["[1]", "2"], "skip"),
])
def test_empty_manifest(data, name, lines, mode):
    with pytest.raises(InputError, match="no usable rows"):
        read_manifest(write(data / name, lines), ["image"], on_bad_rows=mode)


def test_write_manifest_round_trip(data):
    rows = [{"image": "images/a.png", "caption": "a red circle, ünïcode", "family": None},
            {"image": data / "images" / "b.png", "caption": "a square"}]
    path = write_manifest(rows, data / "export.jsonl")
    assert path == data / "export.jsonl"
    m = read_manifest(path, ["image", "caption"])
    assert m.rows == [{"image": str(data / "images" / "a.png"), "caption": "a red circle, ünïcode", "family": None,
                       "_row": 1},
                      {"image": str(data / "images" / "b.png"), "caption": "a square", "_row": 2}]


def test_write_manifest_is_atomic(tmp_path):
    path = write_manifest([{"text": "old"}], tmp_path / "sub" / "m.jsonl")

    def rows():
        yield {"text": "new"}
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError):
        write_manifest(rows(), path)
    assert path.read_text() == '{"text": "old"}\n'
    assert sorted(p.name for p in path.parent.iterdir()) == ["m.jsonl"]  # no temp file left
