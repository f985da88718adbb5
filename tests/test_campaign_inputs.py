"""Campaign inputs: a pool with duplicate structures, a sparse GP head."""

import json
import re

import pytest

from skmatgp.active import Campaign


def _ids(n):
    return [f"s{i}" for i in range(n)]


def test_duplicate_pool_structures_warn_with_indices_and_ids(small):
    X, _ = small
    pool = list(X[:20]) + [X[3].copy()]
    with pytest.warns(UserWarning, match=r"3 \(id s3\) and 20 \(id s20\)"):
        Campaign(pool, _ids(21), lambda ids, s: None, n_initial=5, budget=5)


def test_campaign_refuses_the_sparse_head(small):
    X, _ = small
    with pytest.raises(ValueError, match="gp_head='exact'"):
        Campaign(
            X,
            _ids(len(X)),
            lambda ids, s: None,
            n_initial=5,
            budget=5,
            representation="graph",
            estimator_params={"gp_head": "sparse"},
        )


def _campaign(X, state_dir, oracle=None):
    from tests.conftest import TINY

    return Campaign(
        X,
        _ids(len(X)),
        oracle or (lambda ids, s: None),
        n_initial=5,
        budget=5,
        batch_size=5,
        representation="graph",
        estimator_params=TINY,
        state_dir=state_dir,
    )


def _saved_state(small, tmp_path):
    """A real state.json: a campaign that got its initial labels and waits for the next."""
    X, y = small
    labels = dict(zip(_ids(len(X)), y))
    answered = {"n": 0}

    def once(ids, structures):
        answered["n"] += 1
        return [labels[i] for i in ids] if answered["n"] == 1 else None

    _campaign(X, tmp_path, once).run()
    return tmp_path / "state.json"


@pytest.mark.parametrize(
    "damage, says",
    [
        (lambda text: "", "is empty"),
        (lambda text: text[: len(text) // 2], "is not valid JSON .* it looks truncated"),
        (lambda text: "\x00\x00garbage", "is not valid JSON"),
        (lambda text: "[1, 2]", "holds a JSON list, not a campaign's state"),
        (
            lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "labels"}),
            r"lacks \['labels'\]",
        ),
        (
            lambda text: json.dumps({**json.loads(text), "labels": {}}),
            r"ids \[.*\] of its batches have no finite label",
        ),
        (
            lambda text: json.dumps({**json.loads(text), "batches": [["s999"]]}),
            r"ids \['s999'\] of its batches are not in the pool",
        ),
    ],
)
def test_a_corrupted_state_names_its_path_what_is_wrong_and_what_to_do(small, tmp_path, damage, says):
    path = _saved_state(small, tmp_path)
    path.write_text(damage(path.read_text()))
    with pytest.raises(ValueError) as error:
        _campaign(small[0], tmp_path).run()
    message = str(error.value)
    assert f"The campaign state {path}" in message
    assert re.search(says, message), message
    assert f"move {tmp_path} away and run again to start over" in message


def test_a_state_of_another_pool_names_the_setting_that_differs(small, tmp_path):
    _saved_state(small, tmp_path)
    with pytest.raises(
        ValueError, match=r"other settings \(the pool's ids differ \(structures added, removed"
    ):
        _campaign(small[0][:30], tmp_path).run()


def test_a_second_campaign_on_a_folder_in_use_in_this_process_is_refused(small, tmp_path):
    from skmatgp.active._lock import FolderInUseError

    refused = []

    def oracle(ids, structures):  # while the first campaign runs, a second one tries
        with pytest.raises(FolderInUseError, match=rf"{tmp_path} is in use by this process") as error:
            _campaign(small[0], tmp_path).run()
        refused.append(error.value)  # and no labels yet: the first campaign waits

    assert _campaign(small[0], tmp_path, oracle).run()["status"] == "waiting"
    assert len(refused) == 1 and isinstance(refused[0], OSError)  # the CLI reports OSErrors in one line
    assert _campaign(small[0], tmp_path).run()["status"] == "waiting"  # released on return
