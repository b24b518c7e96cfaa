"""Reading outcome files (CSV and JSON lines) and contaminated-prompt lists."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ragline.errors import InvalidInput
from ragline.routing.outcomes import (
    Outcomes,
    load_contaminated_prompts,
    load_outcomes,
    parse_quality,
)

CSV_TEXT = (
    "prompt,small,large,small_response,large_response\n"
    '"What is 2+2?\nA. 3\nB. 4\nAnswer:",False,True,"A","B"\n'
    "Capital of France?,True,True,Paris,Paris\n"
    'Name a prime,1,0,"7","9, which is\nprime"\n'
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_with_booleans_responses_and_multiline_fields(tmp_path: Path) -> None:
    outcomes = load_outcomes([_write(tmp_path / "mmlu_maths.csv", CSV_TEXT)])
    assert outcomes.prompts == ("What is 2+2?\nA. 3\nB. 4\nAnswer:", "Capital of France?",
                                "Name a prime")
    assert outcomes.models == ("small", "large")
    assert outcomes.quality["small"].tolist() == [0.0, 1.0, 1.0]
    assert outcomes.quality["large"].tolist() == [1.0, 1.0, 0.0]
    assert outcomes.responses["large"] == ("B", "Paris", "9, which is\nprime")
    assert outcomes.groups == ("mmlu_maths",) * 3
    assert len(outcomes) == 3


def test_jsonl_with_scores_and_groups(tmp_path: Path) -> None:
    rows = [{"prompt": "a", "m1": 0.25, "m2": True, "group": "g1"},
            {"prompt": "b", "m1": "0.5", "m2": "false"},
            {"prompt": "c", "m1": 1, "m2": 0}]
    path = _write(tmp_path / "out.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    outcomes = load_outcomes([path])
    assert outcomes.quality["m1"].tolist() == [0.25, 0.5, 1.0]
    assert outcomes.quality["m2"].tolist() == [1.0, 0.0, 0.0]
    assert outcomes.groups == ("g1", "out", "out")
    assert outcomes.responses == {}


def test_several_files_and_excluded_prompts(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.csv", "prompt,x,y\np1,True,False\np2,False,True\n")
    second = _write(tmp_path / "b.csv", "prompt,y,x\np3,True,True\n")
    outcomes = load_outcomes([first, second], exclude_prompts={"p2"})
    assert outcomes.prompts == ("p1", "p3")
    assert outcomes.quality["x"].tolist() == [1.0, 1.0]
    assert outcomes.quality["y"].tolist() == [0.0, 1.0]
    assert outcomes.groups == ("a", "b")


def test_data_hash_is_stable_and_content_sensitive(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.csv", CSV_TEXT)
    first, again = load_outcomes([path]), load_outcomes([path])
    assert first.data_hash() == again.data_hash()
    assert len(first.data_hash()) == 64
    flipped = CSV_TEXT.replace("False,True", "True,True")
    changed = load_outcomes([_write(tmp_path / "b.csv", flipped)])
    assert changed.data_hash() != first.data_hash()
    assert first.subset([0, 1, 2]).data_hash() != first.subset([1, 0, 2]).data_hash()


def test_subset_keeps_every_column_in_order(tmp_path: Path) -> None:
    outcomes = load_outcomes([_write(tmp_path / "a.csv", CSV_TEXT)])
    part = outcomes.subset(np.array([2, 0]))
    assert part.prompts == ("Name a prime", outcomes.prompts[0])
    assert part.quality["small"].tolist() == [1.0, 0.0]
    assert part.responses["small"] == ("7", "A")
    assert part.groups == ("a", "a")
    with pytest.raises(InvalidInput):
        outcomes.subset([5])


def test_parse_quality() -> None:
    assert [parse_quality(v) for v in (True, "TRUE", "false", 1, "0", 0.3, "0.75")] == \
        [1.0, 1.0, 0.0, 1.0, 0.0, 0.3, 0.75]
    for bad in ("maybe", 1.5, -0.1, "nan", None, ""):
        with pytest.raises(ValueError):
            parse_quality(bad)


def test_missing_prompt_column_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "bad.csv", "question,x\nq1,True\n")
    with pytest.raises(InvalidInput, match=r"bad\.csv:2: no 'prompt' column"):
        load_outcomes([path])


def test_bad_value_names_the_line_where_the_record_starts(tmp_path: Path) -> None:
    text = 'prompt,x\n"two\nlines",True\nthird,maybe\n'
    path = _write(tmp_path / "bad.csv", text)
    with pytest.raises(InvalidInput, match=r"bad\.csv:4: column 'x': 'maybe'"):
        load_outcomes([path])
    path = _write(tmp_path / "range.jsonl", '{"prompt": "a", "x": 2}\n')
    with pytest.raises(InvalidInput, match=r"range\.jsonl:1: .*not in \[0, 1\]"):
        load_outcomes([path])


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read outcome file"):
        load_outcomes([tmp_path / "missing.csv"])
    with pytest.raises(InvalidInput, match="cannot read outcome file"):
        load_outcomes([tmp_path])  # a directory
    (tmp_path / "bytes.csv").write_bytes(b"prompt,x\n\xff\xfe,True\n")
    with pytest.raises(InvalidInput, match=r"bytes\.csv: cannot read"):
        load_outcomes([tmp_path / "bytes.csv"])
    with pytest.raises(InvalidInput, match=r"j\.jsonl:2: not JSON"):
        load_outcomes([_write(tmp_path / "j.jsonl", '{"prompt": "a", "x": 1}\n{oops\n')])
    with pytest.raises(InvalidInput, match="no model column"):
        load_outcomes([_write(tmp_path / "only.csv", "prompt\nhello\n")])
    with pytest.raises(InvalidInput, match="no outcome rows"):
        load_outcomes([_write(tmp_path / "empty.csv", "")])
    with pytest.raises(InvalidInput, match="differ from the first"):
        load_outcomes([_write(tmp_path / "m1.csv", "prompt,x\na,1\n"),
                       _write(tmp_path / "m2.csv", "prompt,z\nb,1\n")])


def test_outcomes_validate_their_shape() -> None:
    with pytest.raises(InvalidInput, match="qualities"):
        Outcomes(prompts=("a", "b"), quality={"m": np.array([1.0])})
    with pytest.raises(InvalidInput, match="outside"):
        Outcomes(prompts=("a",), quality={"m": np.array([2.0])})
    outcomes = Outcomes(prompts=("a",), quality={"m": np.array([True])})
    assert outcomes.groups == ("",)
    assert outcomes.quality["m"].dtype == np.float64


def test_contaminated_prompts(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.jsonl",
                  json.dumps({"train_prompt": "t", "eval_prompt": "Janet\u2019s ducks",
                              "eval_idx": 0})
                  + "\n" + json.dumps({"prompt": "other"}) + "\n")
    assert load_contaminated_prompts(path) == frozenset({"Janet\u2019s ducks", "other"})
    with pytest.raises(InvalidInput, match=r"bad\.jsonl:1: no 'eval_prompt'"):
        load_contaminated_prompts(_write(tmp_path / "bad.jsonl", '{"train_prompt": "x"}\n'))
    with pytest.raises(InvalidInput, match="cannot read"):
        load_contaminated_prompts(tmp_path / "nope.jsonl")
