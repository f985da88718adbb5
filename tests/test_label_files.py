"""Label files written by people: each row is read by a documented rule (with a warning naming
the row when the rule changed or skipped something) or refused naming the row."""

import csv
import json
import warnings

import numpy as np
import pytest

from skmatgp.active import Campaign, FileOracle
from tests.conftest import TINY


def _oracle(tmp_path, content, encoding="utf-8"):
    oracle = FileOracle(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    data = content if isinstance(content, bytes) else content.encode(encoding)
    oracle.labels_path.write_bytes(data)
    return oracle


def _read(oracle):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        labels = oracle.read_labels()
    return labels, [str(w.message) for w in caught]


def test_an_excel_file_with_a_byte_order_mark_and_crlf_is_read_as_it_means(tmp_path):
    oracle = _oracle(tmp_path, "\ufeffid,band_gap\r\nmp-1,1.25\r\nmp-2,-3e-2\r\n\r\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.25, "mp-2": -0.03} and caught == []


def test_requests_csv_with_a_value_column_added_is_a_label_file(tmp_path):
    oracle = _oracle(tmp_path, "id,formula,value\nmp-1,NaCl,1.5\nmp-2,MgO,\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.5}
    assert len(caught) == 1 and "row(s) 3: an id without a value; not labelled yet" in caught[0]


def test_decimal_commas_of_a_semicolon_file_are_read_with_a_warning_naming_the_rows(tmp_path):
    oracle = _oracle(tmp_path, "id;value\nmp-1;1,25\nmp-2;2.5\nmp-3;-0,5\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.25, "mp-2": 2.5, "mp-3": -0.5}
    assert len(caught) == 1 and "labels.csv row(s) 2, 4: a decimal comma" in caught[0]


@pytest.mark.parametrize(
    "content, row, says",
    [
        ("id,value\nmp-1,1.5\nmp-2,1,25\n", 3, "A decimal comma"),  # a cell too many
        ('id,value\nmp-2,"1,25"\n', 2, "decimal point"),  # quoted: 1.25 or 125?
        ("id;value\nmp-2;1.234,5\n", 2, "not a finite number"),  # thousands and decimals
        ("id,value\nmp-1,n/a\n", 2, "not a finite number"),
        ("mp-1,1.0\nmp-2,nan\n", 2, "not a finite number"),
        ("id,value\nmp-1,inf\n", 2, "not a finite number"),
        ("id,value\nmp-1,1e999\n", 2, "not a finite number"),
        ("id,value\nmp-1,1_000\n", 2, "not a finite number"),
        ("id,value\nmp-1 1.5\n", 2, "expected 2 cells"),  # a missing column
        ("id\nmp-1\n", 1, "must name one value column"),
        ("id,value,energy\nmp-1,1,2\n", 1, "must name one value column"),
        ("id,value\n,1.5\n", 2, "has no id"),
    ],
)
def test_rows_no_rule_reads_are_refused_naming_the_file_and_row(tmp_path, content, row, says):
    oracle = _oracle(tmp_path, content)
    with pytest.raises(ValueError, match=rf"labels\.csv row {row}\b.*{says}"):
        oracle.read_labels()
    with pytest.raises(ValueError, match=rf"row {row}\b"):
        oracle(["mp-1"])  # the oracle refuses too: no label is taken from a refused file


@pytest.mark.parametrize(
    "content",
    [
        "material_id,band_gap\nmp-1,1.5\n",
        "material_id;formula;band_gap\nmp-1;NaCl;1,5\n",
        "\ufeffname,value\r\nmp-1,1.5\r\n",
    ],
)
def test_a_header_without_an_id_column_is_named_as_such(tmp_path, content):
    oracle = _oracle(tmp_path, content)
    with pytest.raises(ValueError, match=r"labels\.csv row 1 .*looks like a header without an 'id' column"):
        oracle.read_labels()


def test_excels_separator_line_sets_the_separator_and_is_skipped(tmp_path):
    oracle = _oracle(tmp_path, "\ufeffsep=;\r\nid;band_gap\r\nmp-1;1,25\r\nmp-2;2.5\r\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.25, "mp-2": 2.5}
    assert len(caught) == 1 and "row(s) 3: a decimal comma" in caught[0]  # rows count the sep line
    oracle = _oracle(tmp_path / "commas", "sep=,\nmp-1,1.5\n")  # and without a header
    assert _read(oracle) == ({"mp-1": 1.5}, [])


def test_an_empty_value_after_a_label_keeps_it_and_names_the_row_kept(tmp_path):
    oracle = _oracle(tmp_path, "id,value\nmp-1,1.5\nmp-2,\nmp-3,2.0\nmp-1,\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.5, "mp-3": 2.0}
    assert len(caught) == 2
    assert "row(s) 3: an id without a value; not labelled yet" in caught[0]  # mp-2 only
    assert "row 5 ('mp-1': the value 1.5 of row 2 is kept)" in caught[1]
    assert "not labelled yet" not in caught[1]


def test_a_file_in_another_encoding_is_refused_naming_the_row(tmp_path):
    oracle = _oracle(tmp_path, "id,value\nmp-1,1.5\n# calculé\n", encoding="cp1252")
    with pytest.raises(ValueError, match=r"row 3 is not UTF-8 text.*CSV UTF-8"):
        oracle.read_labels()


def test_two_rows_for_an_id_the_last_one_wins_with_a_warning_naming_both(tmp_path):
    oracle = _oracle(tmp_path, "id,value\nmp-1,1.5\nmp-2,2.0\nmp-1,1.5\nmp-2,2.5\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.5, "mp-2": 2.5}  # identical duplicates are one label
    assert len(caught) == 1
    assert "'mp-2' has 2 rows with different values (row 3: 2.0, row 5: 2.5); the last row, 5" in caught[0]


def test_a_repeated_header_and_a_tab_separated_file_are_read(tmp_path):
    oracle = _oracle(tmp_path, "id,value\nmp-1,1.5\nID,Value\nmp-2,2.5\n")  # two files joined
    assert _read(oracle) == ({"mp-1": 1.5, "mp-2": 2.5}, [])
    oracle = _oracle(tmp_path / "tabs", "id\tvalue\nmp-1\t1,5\n")
    labels, caught = _read(oracle)
    assert labels == {"mp-1": 1.5} and "row(s) 2: a decimal comma" in caught[0]


def test_requests_csv_is_utf8_whatever_the_locale_and_written_whole(tmp_path, monkeypatch):
    """requests.csv is read back as a label file (a value column added), which must be UTF-8:
    written in the locale's encoding (cp1252 on Windows) an accented id could not be."""
    import io

    from pymatgen.core import Lattice, Structure

    monkeypatch.setattr(io, "text_encoding", lambda encoding, stacklevel=2: encoding or "cp1252")
    salt = Structure(Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    oracle = FileOracle(tmp_path)
    assert oracle(["calculé-1", "mp-2"], [salt, salt]) is None
    assert oracle.requests_path.read_bytes().decode("utf-8").splitlines() == [
        "id,formula",
        "calculé-1,NaCl",
        "mp-2,NaCl",
    ]
    before = sorted(tmp_path.iterdir())
    with pytest.raises(AttributeError):  # a structure fails half-way through the list
        oracle(["calculé-1", "mp-3"], [salt, object()])
    assert sorted(tmp_path.iterdir()) == before  # no temporary file left behind
    assert "mp-2,NaCl" in oracle.requests_path.read_text(encoding="utf-8")  # the old list, whole


def _file_campaign(tmp_path, elastic, **settings):
    """A factory of fast campaigns over 40 real structures that ask a FileOracle (a small
    graph model), the oracle, and the true labels a person would type in."""
    X, ids = elastic.structures[:40], list(elastic.ids[:40])
    oracle = FileOracle(tmp_path / "labels")
    settings = {
        "n_initial": 6,
        "budget": 6,
        "batch_size": 3,
        "representation": "graph",
        "estimator_params": TINY,
        "test": (elastic.structures[40:60], elastic.target[40:60]),
        "state_dir": tmp_path / "state",
        **settings,
    }
    truth = {i: float(v) for i, v in zip(ids, elastic.target[:40])}
    return (lambda: Campaign(X, ids, oracle, **settings)), oracle, truth


def _requested(oracle):
    with oracle.requests_path.open() as fh:
        return [row["id"] for row in csv.DictReader(fh)]


def _run(campaign):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = campaign().run()
    return state, [str(w.message) for w in caught if "labels.csv" in str(w.message)]


def _type_in(oracle, rows):
    with oracle.labels_path.open("a") as fh:
        fh.writelines(f"{i},{v!r}\n" for i, v in rows)


def test_a_correction_typed_after_the_label_was_read_is_applied(tmp_path, elastic):
    """Random choices do not depend on the labels, so a campaign whose typo was corrected
    ends with the model of one that had the right value from the start."""
    make_reference, reference_oracle, truth = _file_campaign(tmp_path / "ref", elastic, strategy="random")
    while make_reference().run()["status"] == "waiting":
        _type_in(reference_oracle, [(i, truth[i]) for i in _requested(reference_oracle)])
    reference = make_reference().run()

    make, oracle, _ = _file_campaign(tmp_path / "typo", elastic, strategy="random")
    make().run()
    first, *rest = _requested(oracle)
    _type_in(oracle, [(first, truth[first] * 10), *((i, truth[i]) for i in rest)])  # a slip
    state = make().run()  # reads the slip, fits, asks for the next batch
    assert state["labels"][first] == truth[first] * 10
    _type_in(oracle, [(i, truth[i]) for i in _requested(oracle)])
    _type_in(oracle, [(first, truth[first])])  # the slip is seen: a correction appended, row 10
    state, caught = _run(make)
    assert any(
        f"labels.csv row 10 corrects the label of id {first!r}, read earlier as "
        f"{truth[first] * 10!r}, to {truth[first]!r}" in message
        for message in caught
    )
    assert state["labels"][first] == truth[first] and state["corrections"][0]["id"] == first
    while state["status"] == "waiting":
        _type_in(oracle, [(i, truth[i]) for i in _requested(oracle)])
        state = make().run()
    assert state["labels"] == reference["labels"]
    assert state["history"][-1]["test_mae"] == pytest.approx(reference["history"][-1]["test_mae"], rel=1e-9)


def test_requests_csv_never_lists_an_id_already_answered(tmp_path, elastic):
    make, oracle, truth = _file_campaign(tmp_path, elastic, strategy="batch_entropy")
    while (state := make().run())["status"] == "waiting":
        asked = _requested(oracle)
        assert asked and not set(asked) & set(state["labels"])
        _type_in(oracle, [(asked[0], truth[asked[0]])])  # one of the batch, then the rest
        state = make().run()
        assert state["status"] == "waiting" and _requested(oracle) == asked[1:]
        _type_in(oracle, [(i, truth[i]) for i in asked[1:]])
    assert len(state["labels"]) == 12
    assert _requested(oracle) == []  # done: nothing left to ask for
    assert oracle.requests_path.read_text().splitlines() == ["id,formula"]


def test_ids_outside_the_pool_or_not_asked_for_are_named_and_not_used(tmp_path, elastic):
    make, oracle, truth = _file_campaign(tmp_path, elastic)
    state = make().run()
    asked = _requested(oracle)
    spare = next(i for i in truth if i not in asked)
    _type_in(oracle, [("mp-typo", 1.0), (spare, truth[spare]), *((i, truth[i]) for i in asked)])
    state, caught = _run(make)
    assert any(
        "1 id(s) are not in the campaign's pool and are not used: 'mp-typo' (row 1)" in m for m in caught
    )
    assert any(f"1 id(s) were not asked for (yet): {spare!r} (row 2)" in m for m in caught)
    assert "mp-typo" not in state["labels"]
    assert sorted(state["batches"][0]) == sorted(asked)  # the first model is fitted on those alone


def test_two_values_typed_for_a_requested_id_the_last_one_is_used(tmp_path, elastic):
    make, oracle, truth = _file_campaign(tmp_path, elastic)
    make().run()
    asked = _requested(oracle)
    _type_in(oracle, [(asked[0], 99.0), *((i, truth[i]) for i in asked)])
    state, caught = _run(make)
    assert state["labels"][asked[0]] == truth[asked[0]]
    assert any(f"id {asked[0]!r} has 2 rows with different values (row 1: 99.0, row 2:" in m for m in caught)
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    assert np.isclose(saved["labels"][asked[0]], truth[asked[0]])


def test_a_label_gone_from_the_file_is_kept_with_a_warning(tmp_path, elastic):
    make, oracle, truth = _file_campaign(tmp_path, elastic)
    make().run()
    asked = _requested(oracle)
    _type_in(oracle, [(i, truth[i]) for i in asked])
    make().run()
    oracle.labels_path.write_text("".join(f"{i},{truth[i]!r}\n" for i in asked[1:]))  # a row deleted
    state, caught = _run(make)
    assert any(
        f"1 label(s) the campaign read earlier are no longer in {oracle.labels_path}" in m for m in caught
    )
    assert state["labels"][asked[0]] == truth[asked[0]]
