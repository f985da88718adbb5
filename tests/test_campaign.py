import copy
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from skmatgp.active import Campaign, FileOracle, TableOracle, labels_ratio, run_campaigns
from skmatgp.cli import main
from tests.campaign_worker import TINY, make_campaign

ROOT = Path(__file__).resolve().parents[1]


def _order(state):
    return [i for batch in state["batches"] for i in batch]


@pytest.mark.parametrize(
    "strategy", ["entropy", "batch_entropy", "random", "ivr", "density_entropy", "kcenter"]
)
def test_campaign_labels_its_budget_once_each(tmp_path, strategy):
    state = make_campaign(tmp_path, strategy).run()
    order = _order(state)
    assert state["status"] == "done" and len(order) == 34 and len(set(order)) == 34
    measured = [r for r in state["history"] if "test_mae" in r]
    assert measured[0]["n_labels"] == 10 and measured[-1]["n_labels"] == 34
    assert all(0 <= r["test_coverage95"] <= 1 and r["pool_mae"] > 0 for r in measured)
    refits = [r for r in state["history"] if "refit_s" in r]
    assert [r["n_labels"] for r in refits] == [10, 22, 34]  # refit every 12 new labels
    saved = json.loads((tmp_path / "state.json").read_text())
    assert _order(saved) == order and saved["status"] == "done"


@pytest.mark.parametrize("strategy", ["batch_entropy", "ivr", "kcenter"])
def test_resume_after_an_exception_makes_the_same_choices(tmp_path, strategy):
    reference = make_campaign(tmp_path / "ref", strategy).run()
    _crash_at(make_campaign(tmp_path / "crash", strategy), 4)  # "the DFT cluster went down"
    resumed = make_campaign(tmp_path / "crash", strategy).run()
    assert _order(resumed) == _order(reference)
    assert resumed["history"] == [
        {**r, **{k: v for k, v in r2.items() if k.endswith("_s")}}
        for r, r2 in zip(reference["history"], resumed["history"])
    ]


def test_sigkill_at_random_moments_loses_and_duplicates_nothing(tmp_path):
    reference = make_campaign(tmp_path / "ref", "batch_entropy").run()
    state_dir = tmp_path / "killed"
    rng = np.random.default_rng(0)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        # the worker's fits match the reference's only with as many torch threads
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
    }
    command = [
        sys.executable,
        str(ROOT / "tests" / "campaign_worker.py"),
        str(state_dir),
        "batch_entropy",
        "0.3",
    ]
    kills = 0
    for _ in range(3):
        process = subprocess.Popen(command, env=env)
        time.sleep(rng.uniform(3.0, 6.0))  # startup (imports, first fit) takes a few seconds
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
    subprocess.run(command, env=env, check=True, timeout=300)
    assert kills >= 1
    state = json.loads((state_dir / "state.json").read_text())
    assert state["status"] == "done"
    order = _order(state)
    assert len(order) == len(set(order)) == 34
    assert order == _order(reference)
    assert set(state["labels"]) == set(order)
    final = [r for r in state["history"] if "test_mae" in r][-1]
    assert final["test_mae"] == pytest.approx(reference["history"][-1]["test_mae"], rel=1e-9)


def _file_oracle_campaign(tmp_path, elastic, n, **settings):
    """A factory of campaigns over n real structures that ask a FileOracle, the oracle, and
    the true labels a person would type in."""
    X, ids = elastic.structures[:n], list(elastic.ids[:n])
    oracle = FileOracle(tmp_path / "labels")

    def campaign():
        return Campaign(
            X,
            ids,
            oracle,
            batch_size=3,
            representation="graph",
            estimator_params=TINY,
            state_dir=tmp_path / "state",
            **settings,
        )

    return campaign, oracle, dict(zip(ids, elastic.target[:n]))


def test_file_oracle_waits_for_labels_and_resumes(tmp_path, elastic):
    campaign, oracle, truth = _file_oracle_campaign(tmp_path, elastic, 40, n_initial=8, budget=6)

    rounds = 0
    while True:
        state = campaign().run()
        if state["status"] == "done":
            break
        rounds += 1
        with oracle.requests_path.open() as fh:
            requested = [row["id"] for row in csv.DictReader(fh)]
        assert requested == state["pending"]["ids"]
        with oracle.labels_path.open("a") as fh:  # the person types in the values
            fh.writelines(f"{i},{truth[i]}\n" for i in requested)
    assert rounds == 3  # the initial set, then two batches of 3
    assert len(state["labels"]) == 14
    assert all(state["labels"][i] == pytest.approx(truth[i]) for i in state["labels"])


def test_settings_change_is_refused_on_resume(tmp_path):
    make_campaign(tmp_path, "random").run()
    with pytest.raises(ValueError, match="other settings"):
        make_campaign(tmp_path, "entropy").run()


def test_bad_arguments(elastic):
    X, ids = elastic.structures[:20], list(elastic.ids[:20])
    oracle = TableOracle(ids, elastic.target[:20])
    with pytest.raises(ValueError, match="strategy"):
        Campaign(X, ids, oracle, strategy="uncertainty")
    with pytest.raises(ValueError, match="pool size"):
        Campaign(X, ids, oracle, n_initial=10, budget=11)
    with pytest.raises(ValueError, match="unique"):
        Campaign(X, ids[:19] + ids[:1], oracle, n_initial=5, budget=5)


def test_run_campaigns_writes_results_and_keeps_test_out_of_pool(tmp_path, elastic):
    X, y, ids = elastic.structures[:120], elastic.target[:120], elastic.ids[:120]
    result = run_campaigns(
        X,
        y,
        ids,
        strategies=("entropy", "batch_entropy", "random"),
        seeds=(0, 1),
        n_test=30,
        n_initial=20,
        budget=20,
        batch_size={"entropy": 5, "batch_entropy": 10, "random": 5},
        representation="graph",
        estimator_params=TINY,
        out_dir=tmp_path,
    )
    for name in ("history.csv", "history.json", "summary.json", "learning_curve.png"):
        assert (tmp_path / name).stat().st_size > 0
    records = result["records"]
    chosen = {i for r in records for i in r["chosen_ids"]}
    assert len(chosen) > 0
    summary = result["summary"]
    assert set(summary["final"]) == {"entropy", "batch_entropy", "random"}
    assert len(summary["final"]["random"]["test_mae"]["per_seed"]) == 2
    assert summary == json.loads((tmp_path / "summary.json").read_text())
    assert summary["settings"]["n_initial"] == 20 and summary["settings"]["log_target"] is False
    # the same fixed test set for every seed: its ids never appear among the chosen ones
    from skmatgp.active import split_test_pool

    test0, pool0 = split_test_pool(120, 30, None, seed=0)
    test1, _ = split_test_pool(120, 30, None, seed=1)
    assert np.array_equal(test0, test1) and not set(test0) & set(pool0)
    assert not chosen & {str(ids[i]) for i in test0}


def test_labels_ratio_by_hand():
    def rows(strategy, maes):
        return [
            {"strategy": strategy, "seed": 0, "n_labels": 100 + 10 * i, "test_mae": m}
            for i, m in enumerate(maes)
        ]

    records = rows("random", [1.0, 0.9, 0.8, 0.7, 0.6]) + rows("entropy", [1.0, 0.8, 0.6, 0.5, 0.4])
    assert labels_ratio(records, "entropy") == (2.0, 20)  # random needs 40, entropy 20
    slow = rows("random", [1.0, 0.9, 0.8, 0.7, 0.6]) + rows("entropy", [1.0, 1.0, 0.9, 0.9, 0.9])
    assert labels_ratio(slow, "entropy") == (None, None)


def test_campaign_command(tmp_path, capsys):
    code = main(
        [
            "campaign",
            "--n-test",
            "200",
            "--n-pool",
            "60",
            "--n-initial",
            "20",
            "--budget",
            "10",
            "--batch-size",
            "5",
            "--seeds",
            "0",
            "--representation",
            "graph",
            "--epochs",
            "2",
            "--out",
            str(tmp_path),
            "--verbose",
            "0",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "test MAE" in printed and "labels ratio" in printed
    assert (tmp_path / "learning_curve.png").is_file()


def test_campaign_command_with_a_log_target(tmp_path, capsys):
    """--log-target on the shear modulus in GPa: the GP fits log G, the metrics are in GPa."""
    settings = ["--n-test", "100", "--n-pool", "40", "--n-initial", "20", "--budget", "6"]
    settings += ["--batch-size", "3", "--seeds", "0", "--representation", "graph", "--epochs", "2"]
    settings += ["--verbose", "0"]
    settings += ["--target", "G_VRH", "--log-target", "--out", str(tmp_path)]
    assert main(["campaign", *settings]) == 0
    history = json.loads((tmp_path / "history.json").read_text())
    state = json.loads((tmp_path / "state" / "random-seed0" / "state.json").read_text())
    assert state["config"]["log_target"] is True
    assert json.loads((tmp_path / "summary.json").read_text())["settings"]["log_target"] is True
    assert all(r["test_mae"] > 5 for r in history if "test_mae" in r)  # GPa, not log units


def test_campaign_command_over_own_cifs_asks_for_labels(tmp_path, elastic, capsys):
    cifs = tmp_path / "cifs"
    cifs.mkdir()
    for structure, name in zip(elastic.structures[:12], elastic.ids[:12]):
        structure.to(filename=str(cifs / f"{name}.cif"))
    args = ["campaign", "--pool-folder", str(cifs), "--n-initial", "4", "--budget", "4"]
    args += ["--batch-size", "2", "--out", str(tmp_path / "run"), "--verbose", "0"]
    assert main(args) == 3  # waiting for the initial labels
    requests = (tmp_path / "run" / "labels" / "requests.csv").read_text().splitlines()
    assert requests[0] == "id,formula" and len(requests) == 5
    assert {row.split(",")[0] for row in requests[1:]} <= set(map(str, elastic.ids[:12]))
    state = json.loads((tmp_path / "run" / "state" / "state.json").read_text())
    assert state["config"]["strategy"] == "random" and state["config"]["random_state"] == 0
    assert "Waiting for 4 label(s)" in capsys.readouterr().out


def test_finished_campaign_over_own_cifs_leaves_model_and_pool_predictions(tmp_path, elastic, capsys):
    cifs, run = tmp_path / "cifs", tmp_path / "run"
    cifs.mkdir()
    for structure, name in zip(elastic.structures[:12], elastic.ids[:12]):
        structure.to(filename=str(cifs / f"{name}.cif"))
    value = dict(zip(map(str, elastic.ids[:12]), elastic.target[:12]))
    args = ["campaign", "--pool-folder", str(cifs), "--n-initial", "4", "--budget", "4"]
    args += ["--batch-size", "2", "--out", str(run), "--verbose", "0"]
    labels = run / "labels" / "labels.csv"
    for _ in range(4):
        if main(args) == 0:
            break
        asked = [row.split(",")[0] for row in (run / "labels" / "requests.csv").read_text().splitlines()[1:]]
        assert f"Waiting for {len(asked)} label(s)" in capsys.readouterr().out
        text = labels.read_text() if labels.is_file() else "id,value\n"
        labels.write_text(text + "".join(f"{i},{value[i]}\n" for i in asked))
    assert "pool_predictions.csv" in capsys.readouterr().out
    table = (run / "pool_predictions.csv").read_text().splitlines()
    assert table[0] == "id,mean,std,lower95,upper95" and len(table) == 13
    assert main(["predict", str(run / "model.pt"), "--cifs", str(cifs), "--out", str(tmp_path / "p.csv")]) == 0
    predicted = {row.split(",")[0]: row.split(",")[1:3] for row in (tmp_path / "p.csv").read_text().splitlines()[1:]}
    for row in table[1:]:
        name, mean, std = row.split(",")[:3]
        assert np.allclose([float(mean), float(std)], list(map(float, predicted[name])), rtol=1e-6)


@pytest.mark.parametrize(
    "extra, named",
    [
        (["--n-test", "10"], "--n-test"),
        (["--eval-every", "5", "--dataset", "mp_2020"], "--dataset, --eval-every"),
        (["--seeds", "0", "1"], "--seeds takes one value"),
        (["--strategies", "random", "entropy"], "--strategies takes one value"),
    ],
)
def test_campaign_command_over_own_cifs_refuses_dataset_options(tmp_path, capsys, extra, named):
    args = ["campaign", "--pool-folder", str(tmp_path), "--out", str(tmp_path / "run"), *extra]
    assert main(args) == 2
    assert named in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_campaign_refuses_graphs_that_may_be_missing(elastic):
    oracle = TableOracle(elastic.ids, elastic.target)
    with pytest.raises(ValueError, match="graph for every structure.*on_error"):
        Campaign(
            elastic.structures[:20],
            elastic.ids[:20],
            oracle,
            n_initial=5,
            budget=5,
            representation="graph",
            graph_params={"on_error": "warn"},
        )


def test_campaign_command_refuses_an_oracle_folder_without_a_pool(tmp_path, capsys):
    assert main(["campaign", "--oracle-folder", str(tmp_path), "--out", str(tmp_path / "run")]) == 2
    assert "--pool-folder" in capsys.readouterr().err


def _crash_at(campaign, n):
    oracle, calls = campaign.oracle, {"n": 0}

    def flaky(ids, structures):
        calls["n"] += 1
        if calls["n"] == n:
            raise RuntimeError("stopped")
        return oracle(ids, structures)

    campaign.oracle = flaky
    with pytest.raises(RuntimeError):
        campaign.run()


def test_refit_on_request_is_saved_and_replayed(tmp_path):
    first = make_campaign(tmp_path / "a", "entropy")
    _crash_at(first, 3)
    state = make_campaign(tmp_path / "a", "entropy").refit()
    assert state["refits"][-1] == len(_order(state)) == 13  # 10 initial + 1 batch of 3
    done = make_campaign(tmp_path / "a", "entropy").run()

    second = make_campaign(tmp_path / "b", "entropy")
    _crash_at(second, 3)
    make_campaign(tmp_path / "b", "entropy").refit()
    _crash_at(make_campaign(tmp_path / "b", "entropy"), 3)  # crash again after the refit
    replayed = make_campaign(tmp_path / "b", "entropy").run()
    assert _order(replayed) == _order(done)
    assert 13 in replayed["refits"]


def test_sequential_max_entropy_equals_greedy_batches_when_frozen(tmp_path, elastic):
    """With the encoder and hyperparameters fixed, the GP variance ignores labels, so single
    max-entropy queries with an update after each label pick exactly what greedy joint-entropy
    batches pick, in far fewer rounds (measured in the headline benchmark too)."""
    X, y, ids = elastic.structures[:80], elastic.target[:80], list(elastic.ids[:80])
    oracle = TableOracle(ids, y)

    def run(strategy, batch_size, folder):
        return Campaign(
            X,
            ids,
            oracle,
            strategy=strategy,
            n_initial=20,
            budget=12,
            batch_size=batch_size,
            representation="graph",
            estimator_params=TINY,
            state_dir=tmp_path / folder,
        ).run()

    single = run("entropy", 1, "single")
    batched = run("batch_entropy", 6, "batched")
    top_k = run("entropy", 6, "topk")
    assert _order(single) == _order(batched)
    assert len(single["batches"]) == 13 and len(batched["batches"]) == 3
    assert _order(top_k) != _order(batched)  # independent top-k is a different choice


def test_warm_started_refits_resume_identically(tmp_path, elastic):
    X, y, ids = elastic.structures[:60], elastic.target[:60], list(elastic.ids[:60])

    def campaign(folder, oracle):
        return Campaign(
            X,
            ids,
            oracle,
            strategy="entropy",
            n_initial=12,
            budget=18,
            batch_size=3,
            refit_every=6,
            warm_start=True,
            representation="graph",
            estimator_params=TINY,
            test=(elastic.structures[60:80], elastic.target[60:80]),
            state_dir=tmp_path / folder,
        )

    table = TableOracle(ids, y)
    reference = campaign("ref", table).run()
    assert reference["refits"] == [12, 18, 24, 30]
    interrupted = campaign("cut", table)
    _crash_at(interrupted, 5)  # after two warm refits
    resumed = campaign("cut", table).run()
    assert _order(resumed) == _order(reference)
    assert resumed["history"][-1]["test_mae"] == reference["history"][-1]["test_mae"]


def test_crash_during_a_refit_keeps_the_labels_already_received(tmp_path):
    reference = make_campaign(tmp_path / "ref", "batch_entropy").run()
    asked = []
    crashing = make_campaign(tmp_path / "cut", "batch_entropy")
    oracle, fit = crashing.oracle, crashing._fit

    def counting(ids, structures):
        asked.extend(ids)
        return oracle(ids, structures)

    def fit_then_crash(labelled, y, n_refit):
        if n_refit == 1:  # the first refit in the loop (refit_every=12)
            raise RuntimeError("killed while training")
        return fit(labelled, y, n_refit)

    crashing.oracle, crashing._fit = counting, fit_then_crash
    with pytest.raises(RuntimeError):
        crashing.run()
    resumed = make_campaign(tmp_path / "cut", "batch_entropy")
    resumed.oracle = counting
    state = resumed.run()
    assert len(asked) == len(set(asked)) == 34  # nothing asked twice, nothing lost
    assert _order(state) == _order(reference)
    assert [r.get("test_mae") for r in state["history"]] == [r.get("test_mae") for r in reference["history"]]


def test_refit_while_a_batch_entropy_query_waits(tmp_path, elastic):
    """The waiting query's labels join the refitted model when they arrive."""
    campaign, oracle, truth = _file_oracle_campaign(
        tmp_path, elastic, 50, strategy="batch_entropy", n_initial=10, budget=6
    )

    def answer(state):
        with oracle.labels_path.open("a") as fh:
            fh.writelines(f"{i},{truth[i]}\n" for i in state["pending"]["ids"])

    answer(campaign().run())  # the initial set
    waiting = campaign().run()  # a batch-entropy query is waiting
    assert waiting["status"] == "waiting"
    refitted = campaign().refit()
    assert refitted["refits"] == [10, 10] and refitted["pending"] == waiting["pending"]
    answer(waiting)
    answer(campaign().run())
    done = campaign().run()
    assert done["status"] == "done" and len(_order(done)) == 16 == len(set(_order(done)))


def test_graph_cache_builds_each_graph_once_and_changes_nothing(tmp_path, monkeypatch):
    from skmatgp.active import _campaign

    reference = make_campaign(tmp_path / "ref", "entropy").run()
    built = []
    real = _campaign.CrystalGraphTransformer.fit_transform

    def counting(self, X, y=None):
        built.append(len(X))
        return real(self, X, y)

    monkeypatch.setattr(_campaign.CrystalGraphTransformer, "fit_transform", counting)
    cache = {}
    first = make_campaign(tmp_path / "a", "entropy")
    first.graph_cache = cache
    state = first.run()
    assert sum(built) == 90  # 70 pool + 20 test structures
    second = make_campaign(tmp_path / "b", "random")
    second.graph_cache = cache
    second.run()
    assert sum(built) == 90  # nothing rebuilt
    assert _order(state) == _order(reference)
    assert [r.get("test_mae") for r in state["history"]] == [r.get("test_mae") for r in reference["history"]]


def test_campaign_command_with_a_frozen_pretrained_encoder(tmp_path, small_graphs, capsys):
    from skmatgp import GNNGPRegressor

    graphs, y = small_graphs
    GNNGPRegressor(**TINY).fit(graphs, y).save(tmp_path / "pretrained.pt")
    args = ["campaign", "--n-test", "100", "--n-pool", "60", "--n-initial", "20", "--budget", "10"]
    args += ["--batch-size", "5", "--seeds", "0", "--strategies", "random", "--representation", "graph"]
    args += ["--epochs", "0"]
    args += ["--encoder", str(tmp_path / "pretrained.pt"), "--out", str(tmp_path / "out"), "--verbose", "0"]
    assert main(args) == 0
    state = json.loads((tmp_path / "out" / "state" / "random-seed0" / "state.json").read_text())
    assert state["config"]["estimator_params"]["encoder"] == str(tmp_path / "pretrained.pt")
    assert state["status"] == "done" and len(state["labels"]) == 30


def test_model_cache_shares_the_first_model_and_its_embeddings(tmp_path):
    reference = make_campaign(tmp_path / "ref", "entropy")
    reference.refit_every = None
    expected = reference.run()
    cache = {}
    for strategy in ("random", "entropy"):
        campaign = make_campaign(tmp_path / strategy, strategy)
        campaign.refit_every, campaign.model_cache = None, cache
        state = campaign.run()
    assert sum("|embeddings|" in key for key in cache) == 1  # one first model, embedded once
    assert _order(state) == _order(expected)
    assert [r.get("test_mae") for r in state["history"]] == [r.get("test_mae") for r in expected["history"]]


@pytest.mark.parametrize("strategy", ["batch_entropy", "entropy"])
def test_a_log_target_campaign_fits_log_y_and_queries_and_measures_y(tmp_path, elastic, strategy):
    """log_target=True: the GP fits log G; the first query is what the strategy picks through a
    LogTargetRegressor around that model; the test metrics are those of its median on y."""
    from skmatgp import LogTargetRegressor
    from skmatgp.active import batch_entropy_sampling, max_entropy_sampling

    X, shear, ids = elastic.structures[:60], 10.0 ** elastic.target[:60], list(elastic.ids[:60])
    cache = {}
    campaign = Campaign(
        X[:45],
        ids[:45],
        TableOracle(ids, shear),
        test=(X[45:], shear[45:]),
        pool_targets=shear[:45],
        strategy=strategy,
        n_initial=15,
        budget=4,
        batch_size=4,
        refit_every=None,
        representation="graph",
        estimator_params=TINY,
        log_target=True,
        model_cache=cache,
        state_dir=tmp_path,
    )
    state = campaign.run()
    initial = state["batches"][0]
    (first_model,) = [m for m in cache.values() if not isinstance(m, tuple)]
    assert np.isclose(first_model.y_mean_, np.log([state["labels"][i] for i in initial]).mean())
    around = LogTargetRegressor()
    around.regressor_ = first_model  # the campaign's first model, as a fitted LogTargetRegressor
    unlabelled = [i for i in range(45) if ids[i] not in initial]
    strategy_function = batch_entropy_sampling if strategy == "batch_entropy" else max_entropy_sampling
    chosen, _ = strategy_function(around, campaign.graphs_[unlabelled], n_instances=4)
    assert state["batches"][1] == [ids[unlabelled[i]] for i in chosen]
    # the labels of that batch entered the GP as logs: the campaign's model is the first model
    # conditioned on log(labels)
    batch = state["batches"][1]
    updated = copy.deepcopy(first_model)
    updated.update(
        campaign.graphs_[[ids.index(i) for i in batch]], np.log([state["labels"][i] for i in batch])
    )
    log_mean, _ = campaign.model_.predict(campaign.test_graphs_, return_std=True)
    assert np.allclose(updated.predict(campaign.test_graphs_), log_mean, atol=1e-4)
    assert np.isclose(state["history"][-1]["test_mae"], np.abs(np.exp(log_mean) - shear[45:]).mean())
    assert campaign._config()["log_target"]
    plain = Campaign(X[:45], ids[:45], TableOracle(ids, shear), n_initial=15, budget=4)
    assert "log_target" not in plain._config()  # so campaigns saved before the option resume


def test_a_log_target_campaign_runs_every_strategy_and_refuses_non_positive_labels(tmp_path, elastic):
    X, shear, ids = elastic.structures[:40], 10.0 ** elastic.target[:40], list(elastic.ids[:40])
    settings = {
        "n_initial": 10,
        "budget": 6,
        "batch_size": 3,
        "refit_every": None,
        "representation": "graph",
        "estimator_params": TINY,
        "log_target": True,
    }
    cache = {}
    for strategy in ("ivr", "density_entropy", "kcenter", "random"):
        state = Campaign(
            X, ids, TableOracle(ids, shear), strategy=strategy, model_cache=cache, **settings
        ).run()
        assert state["status"] == "done" and len(set(_order(state))) == 16
    negative = shear.copy()
    negative[[3, 7]] = [-1.0, 0.0]
    with pytest.raises(
        ValueError, match=rf"targets must be positive; 2 are not, ids \['{ids[3]}', '{ids[7]}'\]"
    ):
        Campaign(X, ids, TableOracle(ids, shear), pool_targets=negative, **settings)
    initial = Campaign(X, ids, TableOracle(ids, shear), **settings).run()["batches"][0]
    bad = shear.copy()
    bad[ids.index(initial[2])] = -1.0  # one label of the initial batch
    with pytest.raises(ValueError, match=rf"returned 1 label\(s\) <= 0, ids \['{initial[2]}'\]; log_target"):
        Campaign(X, ids, TableOracle(ids, bad), **settings).run()


@pytest.mark.parametrize("strategy", ["batch_entropy", "ivr"])
def test_a_log_target_campaign_resumes_with_the_same_choices(tmp_path, strategy):
    reference = make_campaign(tmp_path / "ref", strategy, log_target=True).run()
    _crash_at(make_campaign(tmp_path / "crash", strategy, log_target=True), 4)
    resumed = make_campaign(tmp_path / "crash", strategy, log_target=True).run()
    assert _order(resumed) == _order(reference)
    assert [r.get("test_mae") for r in resumed["history"]] == [
        r.get("test_mae") for r in reference["history"]
    ]
    assert _order(make_campaign(tmp_path / "plain", strategy).run()) != _order(reference)


def test_a_foundation_campaign_resumes_to_the_same_choices(tmp_path, elastic):
    """The default representation: pretrained features and a GPRegressor whose hyperparameters are
    refitted every 8 labels; stopped after its first batches and resumed, it chooses as an
    uninterrupted run does."""
    X, y, ids = elastic.structures[:40], elastic.target[:40], list(elastic.ids[:40])
    settings = {
        "strategy": "lcmd",
        "n_initial": 8,
        "budget": 12,
        "batch_size": 4,
        "refit_every": 8,
        "featurizer_params": {"cache_dir": tmp_path / "features"},
        "estimator_params": {"gp_iterations": 20},
        "test": (elastic.structures[40:60], elastic.target[40:60]),
    }
    reference = Campaign(X, ids, TableOracle(ids, y), **settings).run()
    assert reference["config"]["representation"] == "foundation"
    assert reference["refits"] == [8, 16]
    answered = {"n": 0}

    def stops_after_two(asked, structures):
        answered["n"] += 1
        return None if answered["n"] > 2 else TableOracle(ids, y)(asked)

    state_dir = tmp_path / "state"
    assert Campaign(X, ids, stops_after_two, state_dir=state_dir, **settings).run()["status"] == "waiting"
    resumed = Campaign(X, ids, TableOracle(ids, y), state_dir=state_dir, **settings).run()
    assert _order(resumed) == _order(reference)
    assert resumed["history"][-1]["test_mae"] == pytest.approx(reference["history"][-1]["test_mae"], rel=1e-9)


def test_foundation_and_graph_settings_are_not_mixed(elastic):
    oracle = TableOracle(elastic.ids, elastic.target)
    with pytest.raises(ValueError, match="graph_params are for representation='graph'"):
        Campaign(
            elastic.structures[:20],
            elastic.ids[:20],
            oracle,
            n_initial=5,
            budget=5,
            graph_params={"radius": 6.0},
        )
    with pytest.raises(ValueError, match="featurizer_params are for representation='foundation'"):
        Campaign(
            elastic.structures[:20],
            elastic.ids[:20],
            oracle,
            n_initial=5,
            budget=5,
            representation="graph",
            featurizer_params={"layer": 2},
        )


@pytest.mark.slow  # SevenNet features of 150 structures through the CLI
def test_campaign_command_defaults_to_foundation_features_and_refuses_graph_flags(tmp_path, capsys):
    args = ["campaign", "--n-test", "100", "--n-pool", "40", "--n-initial", "10", "--budget", "10"]
    args += ["--batch-size", "5", "--seeds", "0", "--out", str(tmp_path), "--verbose", "0"]
    for epochs in ("3", "0"):  # 0 too: it is a value, not an absent flag
        assert main([*args, "--epochs", epochs]) == 2
        assert "--epochs: only for --representation graph" in capsys.readouterr().err
    assert main(args) == 0
    state = json.loads((tmp_path / "state" / "random-seed0" / "state.json").read_text())
    assert state["config"]["representation"] == "foundation"
    assert state["config"]["featurizer_params"]["model"] == "sevennet"  # FoundationFeaturizer's default
    assert state["status"] == "done" and len(state["labels"]) == 20


def test_a_graph_state_of_an_older_skmatgp_says_how_to_resume_it(tmp_path, elastic):
    X, y, ids = elastic.structures[:30], elastic.target[:30], list(elastic.ids[:30])
    settings = {"n_initial": 6, "budget": 3, "batch_size": 3, "state_dir": tmp_path}
    graph = Campaign(X, ids, lambda i, s: None, representation="graph", estimator_params=TINY, **settings)
    assert graph.run()["status"] == "waiting"  # a state without "representation" in its settings
    with pytest.raises(ValueError, match="pass representation='graph'"):
        Campaign(X, ids, TableOracle(ids, y), estimator_params={"gp_iterations": 5}, **settings).run()


def test_parameters_of_the_other_representation_are_refused_before_any_label(elastic):
    oracle = TableOracle(elastic.ids, elastic.target)
    X, ids = elastic.structures[:20], elastic.ids[:20]
    with pytest.raises(ValueError, match=r"estimator_params \['epochs'\].*representation='graph'"):
        Campaign(X, ids, oracle, n_initial=5, budget=5, estimator_params={"epochs": 3})
    with pytest.raises(ValueError, match=r"estimator_params \['nu'\].*representation='foundation'"):
        Campaign(X, ids, oracle, n_initial=5, budget=5, representation="graph", estimator_params={"nu": 1.5})
    with pytest.raises(ValueError, match=r"featurizer_params \['radius'\]"):
        Campaign(X, ids, oracle, n_initial=5, budget=5, featurizer_params={"radius": 6.0})


def _worker_env():
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "OMP_NUM_THREADS": str(torch.get_num_threads()),
    }


@pytest.mark.slow  # a second Python process holding the lock
def test_a_second_process_on_one_campaign_folder_is_refused_naming_the_holder(tmp_path):
    """One campaign folder, one writer: while a process runs the campaign another one gets
    an error naming the folder and the PID; a SIGKILL drops the lock, so a resume works."""
    from skmatgp.active._lock import FolderInUseError

    state_dir = tmp_path / "state"
    command = [sys.executable, str(ROOT / "tests" / "campaign_worker.py"), str(state_dir), "random", "3.0"]
    worker = subprocess.Popen(command, env=_worker_env())
    try:
        deadline = time.monotonic() + 120
        while not (state_dir / "lock").is_file() or (state_dir / "lock").read_text().strip() != str(
            worker.pid
        ):
            assert worker.poll() is None and time.monotonic() < deadline, "the worker never took the lock"
            time.sleep(0.1)
        with pytest.raises(
            FolderInUseError, match=rf"{state_dir}.*in use by another process \(PID {worker.pid}"
        ):
            make_campaign(state_dir, "random").run()
        with pytest.raises(FolderInUseError, match=rf"PID {worker.pid}"):
            make_campaign(state_dir, "random").refit()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    state = make_campaign(state_dir, "random").run()  # the killed holder's lock is gone
    assert state["status"] == "done" and len(_order(state)) == 34
    assert (state_dir / "lock").read_text() == ""  # released, no PID left behind


def _table(path):
    with path.open() as fh:
        rows = list(csv.reader(fh))
    return rows[0], [r[0] for r in rows[1:]], np.array([[float(v) for v in r[1:]] for r in rows[1:]])


def test_a_finished_campaign_leaves_its_model_and_pool_predictions(tmp_path, elastic):
    """The default representation: model.pt (skmatgp.save) is the featurizer and the fitted GP
    in a Pipeline that predicts the pool as pool_predictions.csv says; a rerun of the finished
    campaign writes the same files again when they are missing."""
    import skmatgp

    X, y, ids = elastic.structures[:16], elastic.target[:16], list(elastic.ids[:16])
    settings = {
        "n_initial": 5,
        "budget": 4,
        "batch_size": 2,
        "featurizer_params": {"cache_dir": tmp_path / "features"},
        "estimator_params": {"gp_iterations": 10},
        "state_dir": tmp_path / "state",
        "results_dir": tmp_path / "out",
    }
    state = Campaign(X, ids, TableOracle(ids, y), **settings).run()
    assert state["status"] == "done"
    out = tmp_path / "out"
    header, table_ids, table = _table(out / "pool_predictions.csv")
    assert header == ["id", "mean", "std", "lower95", "upper95"] and table_ids == ids
    model = skmatgp.load(out / "model.pt")
    assert [name for name, _ in model.steps] == ["features", "gp"]
    mean, std = model.predict(X, return_std=True)
    np.testing.assert_allclose(table[:, 0], mean, rtol=1e-9)
    np.testing.assert_allclose(table[:, 1], std, rtol=1e-9)
    np.testing.assert_allclose(table[:, 3] - table[:, 0], 1.959963984540054 * std, rtol=1e-9)
    assert model[-1].posterior_.n == 9  # conditioned on all 5 + 4 labels
    labelled = [ids.index(i) for i in _order(state)]
    assert np.mean(np.abs(mean[labelled] - y[labelled])) < np.mean(np.abs(y - y.mean()))

    written = (out / "pool_predictions.csv").read_text()
    (out / "pool_predictions.csv").unlink()
    Campaign(X, ids, TableOracle(ids, y), **settings).run()
    assert (out / "pool_predictions.csv").read_text() == written
    Campaign(X, ids, TableOracle(ids, y), **settings).refit()  # new hyperparameters, new results
    assert (out / "pool_predictions.csv").read_text() != written


def test_a_log_target_campaign_leaves_a_model_of_y(tmp_path, elastic):
    """model.pt has the shape ``skmatgp fit --log-target`` saves: the graph transformer, then
    the GP inside a LogTargetRegressor; it predicts y, and the table is what it predicts."""
    from sklearn.pipeline import Pipeline

    import skmatgp
    from skmatgp import LogTargetRegressor
    from skmatgp._log_target import fitted_log_target

    X, y, ids = elastic.structures[:20], 10 ** elastic.target[:20], list(elastic.ids[:20])
    Campaign(
        X,
        ids,
        TableOracle(ids, y),
        n_initial=5,
        budget=3,
        batch_size=3,
        representation="graph",
        estimator_params=TINY,
        log_target=True,
        results_dir=tmp_path,
    ).run()
    model = skmatgp.load(tmp_path / "model.pt")
    assert [name for name, _ in model.steps] == ["graphs", "gnngp"]
    assert isinstance(model[-1], LogTargetRegressor)  # predicts y from structures, not log(y)
    median, std = model.predict(X, return_std=True)
    graphs = model[0].transform(X)
    lower, upper = model[-1].predict_interval(graphs)
    _, _, table = _table(tmp_path / "pool_predictions.csv")
    np.testing.assert_allclose(table, np.column_stack([median, std, lower, upper]), rtol=1e-9)
    cifs = tmp_path / "cifs"  # skmatgp predict writes the same table, the log-normal's interval too
    cifs.mkdir()
    for structure, name in zip(X, ids):
        structure.to(filename=str(cifs / f"{name}.cif"))
    out = tmp_path / "p.csv"
    assert main(["predict", str(tmp_path / "model.pt"), "--cifs", str(cifs), "--out", str(out)]) == 0
    _, predicted_ids, predicted = _table(out)
    np.testing.assert_allclose(predicted[[predicted_ids.index(i) for i in ids]], table, rtol=1e-6)
    # files of the shape campaigns saved before, the LogTargetRegressor around the Pipeline, still load
    old_shape = fitted_log_target(Pipeline([("graphs", model[0]), ("gnngp", model[-1].regressor_)]))
    skmatgp.save(old_shape, tmp_path / "old.pt")
    old = skmatgp.load(tmp_path / "old.pt")
    assert isinstance(old, LogTargetRegressor)
    np.testing.assert_allclose(old.predict(X), median, rtol=1e-9)


def test_write_prediction_csv_refuses_non_finite_predictions_naming_the_id(tmp_path):
    from skmatgp._prediction_table import write_prediction_csv

    with pytest.raises(ValueError, match=r"b \(mean nan, std 0.2\); nothing was written"):
        write_prediction_csv(tmp_path / "p.csv", ["a", "b"], [1.0, float("nan")], [0.1, 0.2])
    assert not (tmp_path / "p.csv").exists()
    write_prediction_csv(tmp_path / "p.csv", ["a"], [1.0], [0.5], level=0.9)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "id,mean,std,lower90,upper90"


def test_write_prediction_csv_refuses_an_interval_bound_that_is_not_finite(tmp_path):
    """A log-normal's upper bound overflows to inf where y passes about 1e308, with the median
    and std still finite: the row is refused, naming its id, and nothing is written."""
    from skmatgp._prediction_table import write_prediction_csv
    from skmatgp._target import LOG

    mu, s = np.array([1.0, 708.5]), np.array([0.1, 1.0])
    mean, std = LOG.mean_std(mu, s)
    with pytest.warns(RuntimeWarning, match="upper bound of 1 item"):
        interval = LOG.interval(mu, s)
    with pytest.raises(
        ValueError, match=r"1 prediction\(s\) have an interval bound that is not finite: b \(.*inf\)"
    ):
        write_prediction_csv(tmp_path / "p.csv", ["a", "b"], mean, std, interval=interval)
    assert not (tmp_path / "p.csv").exists()
    with pytest.raises(ValueError, match="bound that is not finite: a"):
        write_prediction_csv(tmp_path / "p.csv", ["a"], [1e308], [1e308])  # mean + z std overflows


# ---------------------------------------------------------------------------------------
# Any estimator (cloned) and a modAL-signature strategy.


def _small_campaign(elastic, oracle=None, **settings):
    """A campaign over 40 real structures: 10 at random, then 3 batches of 3."""
    X, y, ids = elastic.structures[:40], elastic.target[:40], list(elastic.ids[:40])
    base = {"n_initial": 10, "budget": 9, "batch_size": 3, "refit_every": 6, "representation": "graph"}
    base["test"] = (elastic.structures[40:60], elastic.target[40:60])
    return Campaign(X, ids, oracle or TableOracle(ids, y), **{**base, **settings})


def test_an_estimator_passed_is_cloned_and_chooses_as_its_parameters_do(tmp_path, elastic):
    from skmatgp import GNNGPRegressor

    estimator = GNNGPRegressor(**TINY)
    state = _small_campaign(elastic, estimator=estimator, strategy="kmeanspp", state_dir=tmp_path).run()
    assert not hasattr(estimator, "posterior_")  # the object passed is never fitted
    assert _order(state) == _order(_small_campaign(elastic, estimator_params=TINY, strategy="kmeanspp").run())
    assert state["config"]["estimator"]["class"].endswith("GNNGPRegressor")
    other = GNNGPRegressor(**{**TINY, "embedding_dim": 5})
    with pytest.raises(ValueError, match="other settings .*estimator"):
        _small_campaign(elastic, estimator=other, strategy="kmeanspp", state_dir=tmp_path).run()
    with pytest.raises(ValueError, match="estimator_params set the default estimator's"):
        _small_campaign(elastic, estimator=estimator, estimator_params=TINY)


def _scaled_gp():
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), GaussianProcessRegressor(normalize_y=True))


def test_any_regressor_with_a_std_queries_by_entropy_and_resumes(tmp_path, elastic):
    """scikit-learn's GaussianProcessRegressor on foundation features: refitted on every label
    (it has no update); each query is max_entropy_sampling's on the model of the labels so far."""
    from sklearn.base import clone

    from skmatgp.active import max_entropy_sampling

    settings = {
        "estimator": _scaled_gp(),
        "strategy": "entropy",
        "representation": "foundation",
        "featurizer_params": {"cache_dir": tmp_path / "features"},
    }
    with pytest.raises(ValueError, match="'lcmd' needs a GPRegressor or GNNGPRegressor, got a Pipeline"):
        _small_campaign(elastic, **{**settings, "strategy": "lcmd"})
    campaign = _small_campaign(elastic, **settings)
    reference = campaign.run()
    assert not hasattr(settings["estimator"][-1], "X_train_")
    order = [campaign._index[i] for i in _order(reference)]
    for step in (1, 2, 3):  # the model of the labels before the step picks the step's batch
        seen = order[: 10 + 3 * (step - 1)]
        model = clone(settings["estimator"]).fit(campaign.graphs_[seen], elastic.target[seen])
        candidates = [i for i in range(40) if i not in seen]
        chosen, _ = max_entropy_sampling(model, campaign.graphs_[candidates], 3)
        assert order[10 + 3 * (step - 1) : 10 + 3 * step] == [candidates[i] for i in chosen]
    answers = {"n": 0}
    ids = list(elastic.ids[:40])

    def two_answers(asked, structures):
        answers["n"] += 1
        return None if answers["n"] > 2 else TableOracle(ids, elastic.target[:40])(asked)

    state_dir = tmp_path / "state"
    assert _small_campaign(elastic, two_answers, state_dir=state_dir, **settings).run()["status"] == "waiting"
    resumed = _small_campaign(elastic, state_dir=state_dir, **settings).run()
    assert _order(resumed) == _order(reference)
    assert resumed["history"][-1]["test_mae"] == pytest.approx(reference["history"][-1]["test_mae"], rel=1e-9)


@pytest.mark.parametrize("log_target", [False, True], ids=["y", "log_y"])
def test_a_modal_strategy_chooses_as_its_registry_name(elastic, log_target):
    from skmatgp.active import batch_entropy_sampling, max_entropy_sampling

    settings = {"estimator_params": TINY, "log_target": log_target}
    if log_target:
        ids, shear = list(elastic.ids[:40]), 10.0 ** elastic.target[:40]
        settings["oracle"] = TableOracle(ids, shear)
        settings["test"] = (elastic.structures[40:60], 10.0 ** elastic.target[40:60])
    for function, name in ((max_entropy_sampling, "entropy"), (batch_entropy_sampling, "batch_entropy")):
        by_function = _small_campaign(elastic, strategy=function, **settings).run()
        assert _order(by_function) == _order(_small_campaign(elastic, strategy=name, **settings).run())
        assert by_function["history"][-1]["strategy"] == f"skmatgp.active._strategies.{function.__name__}"


def test_a_strategy_that_returns_no_batch_is_named(elastic):
    def repeats(model, X_pool, n_instances):
        return np.zeros(n_instances, dtype=int), None

    campaign = _small_campaign(elastic, strategy=repeats, estimator_params=TINY)
    with pytest.raises(ValueError, match=r"repeats returned array\(\[0, 0, 0\]\) for n_instances=3"):
        campaign.run()
    with pytest.raises(ValueError, match="strategy must be one of .* or a query strategy"):
        _small_campaign(elastic, strategy="uncertainty")


class _MeanElement(torch.nn.Module):
    """The smallest encoder of one's own: a learned vector per element, averaged per structure."""

    def __init__(self):
        super().__init__()
        self.table = torch.nn.Embedding(101, 4)
        self.head = torch.nn.Linear(4, 1)

    def embed(self, batch):
        from torch_geometric.nn import global_mean_pool

        return global_mean_pool(self.table(batch.z), batch.batch)

    def forward(self, batch):
        return self.head(self.embed(batch)).squeeze(-1)


def test_results_of_a_model_skmatgp_cannot_save_keep_the_pool_predictions(tmp_path, elastic):
    """A campaign whose GNNGPRegressor has an encoder of the user's own (a module skmatgp's
    files cannot hold without pickling) spends its budget and writes its pool predictions; the
    model file it cannot write is named in a warning, not a crash after the last label."""
    from skmatgp import GNNGPRegressor

    estimator = GNNGPRegressor(encoder=_MeanElement(), **TINY)
    with pytest.warns(UserWarning, match="model.pt is not written"):
        state = _small_campaign(elastic, estimator=estimator, results_dir=tmp_path / "results").run()
    assert state["status"] == "done" and not (tmp_path / "results" / "model.pt").exists()
    table = (tmp_path / "results" / "pool_predictions.csv").read_text().splitlines()
    assert table[0] == "id,mean,std,lower95,upper95" and len(table) == 41
