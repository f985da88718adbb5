import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import skmatgp
from skmatgp.cli import main


def test_cv_command_prints_mae_and_coverage(tmp_path, capsys):
    out = tmp_path / "cv.json"
    code = main(["cv", "--folds", "2", "--epochs", "2", "--max-samples", "60", "--output", str(out)])
    assert code == 0
    captured = capsys.readouterr()
    printed = captured.out
    assert "de Jong" in printed and "MAE" in printed and "95% coverage" in printed
    assert "--output is deprecated; use --out" in captured.err
    result = json.loads(out.read_text())
    assert len(result["folds"]) == 2 and 0 <= result["mean"]["coverage95"] <= 1


def test_cv_command_reports_a_missing_dataset(tmp_path, capsys):
    code = main(["cv", "--dataset", "mp_2020", "--data-home", str(tmp_path)])
    assert code == 2
    assert "SKMATGP_DATA" in capsys.readouterr().err


def test_help_of_every_command_prints(capsys):
    """argparse formats help text with %: a bare "95%" once crashed `skmatgp --help`."""
    from skmatgp.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for args in (["--help"], *[[name, "--help"] for name in commands]):
        with pytest.raises(SystemExit) as stop:
            main(args)
        assert stop.value.code == 0
    printed = " ".join(capsys.readouterr().out.split())  # help text is wrapped
    assert "MAE and 95% coverage" in printed


# ---------------------------------------------------------------- fit and predict on your own CIFs


def one_line_error(capsys, *fragments):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("skmatgp: error: "), err
    for fragment in fragments:
        assert fragment in err, err
    return err


@pytest.fixture(scope="module")
def own(small, tmp_path_factory):
    """A folder of 12 CIFs (10 labelled in labels.csv, 2 without a label) and a folder of 4
    new CIFs, from real structures; ids are made-up names."""
    X, y = small
    root = tmp_path_factory.mktemp("own")
    (root / "cifs").mkdir()
    (root / "new").mkdir()
    rows = ["id,G_VRH"]
    for i, structure in enumerate(X[:16]):
        folder = "cifs" if i < 12 else "new"
        structure.to(filename=str(root / folder / f"s{i:02d}.cif"))
        if i < 10:
            rows.append(f"s{i:02d},{10 ** y[i]:.4f}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture(scope="module")
def fitted_model(own):
    out = own / "model.pt"
    argv = ["fit", "--cifs", str(own / "cifs"), "--labels", str(own / "labels.csv"), "--out", str(out)]
    assert main([*argv, "--verbose", "0"]) == 0
    return out


def read_table(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_fit_then_predict_writes_a_table_with_a_std(own, fitted_model, tmp_path, capsys):
    model = skmatgp.load(fitted_model)
    assert [name for name, _ in model.steps] == ["features", "gp"]
    assert model.named_steps["gp"].random_state == 0
    out = tmp_path / "predictions.csv"
    assert main(["predict", str(fitted_model), "--cifs", str(own / "new"), "--out", str(out)]) == 0
    rows = read_table(out)
    assert list(rows[0]) == ["id", "mean", "std", "lower95", "upper95"]
    assert [r["id"] for r in rows] == ["s12", "s13", "s14", "s15"]
    structures = skmatgp.as_structure_array(sorted((own / "new").glob("*.cif")))
    mean, std = model.predict(structures, return_std=True)
    np.testing.assert_allclose([float(r["mean"]) for r in rows], mean, rtol=1e-10)
    np.testing.assert_allclose([float(r["std"]) for r in rows], std, rtol=1e-10)
    assert all(float(r["lower95"]) < float(r["mean"]) < float(r["upper95"]) for r in rows)
    assert "wrote" in capsys.readouterr().out


def test_fit_notes_cifs_without_a_label(own, tmp_path, capsys):
    out = tmp_path / "model.pt"
    argv = ["fit", "--cifs", str(own / "cifs"), "--labels", str(own / "labels.csv"), "--out", str(out)]
    assert main([*argv, "--verbose", "0", "--log-target", "--seed", "3"]) == 0
    err = capsys.readouterr().err
    assert "2 of the 12 CIF files have no label and are left out of the fit: s10, s11" in err
    model = skmatgp.load(out)
    assert type(model.named_steps["gp"]).__name__ == "LogTargetRegressor"
    assert model.named_steps["gp"].regressor_.random_state == 3
    table = tmp_path / "p.csv"
    assert main(["predict", str(out), "--cifs", str(own / "new"), "--out", str(table), "--verbose", "0"]) == 0
    rows = read_table(table)
    assert all(0 < float(r["lower95"]) < float(r["mean"]) < float(r["upper95"]) for r in rows)  # log-normal


def labels_with(own, tmp_path, text):
    path = tmp_path / "labels.csv"
    path.write_text(text)
    return ["fit", "--cifs", str(own / "cifs"), "--labels", str(path), "--out", str(tmp_path / "m.pt")]


@pytest.mark.parametrize(
    "text, fragments",
    [
        ("id,G_VRH\ns00,10.0\nmp-404,12.0\ns01,3.0\n", ["1 id(s)", "'mp-404'", "row 3", "have no CIF file"]),
        ("id\ns00\ns01\n", ["header ['id'] must name one value column"]),
        ("id,G_VRH\ns00,10.0\ns01,ten\n", ["row 3", "'ten'", "not a finite number"]),
        ("id,G_VRH\ns00,10.0\ns01,3.0\n", ["2 labelled structure(s); the GP needs at least 3"]),
    ],
    ids=["id-without-cif", "missing-column", "not-a-number", "too-few"],
)
def test_fit_refuses_labels_before_any_model_work(own, tmp_path, capsys, text, fragments):
    assert main(labels_with(own, tmp_path, text)) == 2
    one_line_error(capsys, *fragments)
    assert not (tmp_path / "m.pt").exists()


def test_fit_refuses_log_target_on_a_label_that_is_not_positive(own, tmp_path, capsys):
    text = "id,y\ns00,1.0\ns01,2.0\ns02,0.0\n"
    assert main([*labels_with(own, tmp_path, text), "--log-target"]) == 2
    one_line_error(capsys, "'s02' = 0.0", "row 4", "Drop --log-target")


def test_fit_takes_the_last_of_two_rows_for_one_id_with_a_note(own, tmp_path, capsys):
    text = "id,y\ns00,1.0\ns01,2.0\ns02,3.0\ns03,4.0\ns00,5.0\n"
    assert main([*labels_with(own, tmp_path, text), "--verbose", "0"]) == 0
    err = capsys.readouterr().err
    assert "id 's00' has 2 rows with different values" in err and "the last row, 6, is used" in err
    assert skmatgp.load(tmp_path / "m.pt").named_steps["gp"].y_mean_ == pytest.approx((5 + 2 + 3 + 4) / 4)


def test_predict_names_the_cif_it_cannot_read(own, fitted_model, tmp_path, capsys):
    folder = tmp_path / "cifs"
    folder.mkdir()
    for f in sorted((own / "new").glob("*.cif")):
        (folder / f.name).write_text(f.read_text())
    (folder / "s13b.cif").write_text("data_broken\n_cell_length_a 3.0\n")
    out = tmp_path / "p.csv"
    assert main(["predict", str(fitted_model), "--cifs", str(folder), "--out", str(out)]) == 2
    one_line_error(capsys, "Cannot read 1 of the 5 files", "s13b.cif (ValueError: Invalid CIF file")
    assert not out.exists()


@pytest.mark.parametrize("damage", ["truncated", "csv", "missing"])
def test_predict_refuses_a_file_that_is_no_model(own, fitted_model, tmp_path, capsys, damage):
    path = tmp_path / "model.pt"
    if damage == "truncated":
        path.write_bytes(fitted_model.read_bytes()[:1000])
    elif damage == "csv":
        path.write_text((own / "labels.csv").read_text())
    argv = ["predict", str(path), "--cifs", str(own / "new"), "--out", str(tmp_path / "p.csv")]
    assert main(argv) == 2
    message = {
        "truncated": "is truncated or corrupted",
        "csv": "is not a skmatgp model file",
        "missing": "No model file",
    }
    one_line_error(capsys, str(path), message[damage])


OUTPUTS = [
    ("exists", "exists; pass --overwrite to replace it"),
    ("folder", "is a folder; give the name of a file to write"),
    ("no-parent", "does not exist; create it first"),
    ("parent-is-file", "is a file, not a folder"),
]


@pytest.mark.parametrize("command", ["fit", "predict", "cv"])
@pytest.mark.parametrize("case, message", OUTPUTS, ids=[c for c, _ in OUTPUTS])
def test_an_output_that_cannot_be_written_is_refused_first(tmp_path, capsys, command, case, message):
    """The --out check comes before anything else: the inputs here do not even exist."""
    target = {
        "exists": tmp_path / "out.csv",
        "folder": tmp_path,
        "no-parent": tmp_path / "nowhere" / "out.csv",
        "parent-is-file": tmp_path / "out.csv" / "inner.csv",
    }[case]
    (tmp_path / "out.csv").write_text("keep me\n")
    nothing = str(tmp_path / "nothing")
    argv = {
        "fit": ["fit", "--cifs", nothing, "--labels", nothing],
        "predict": ["predict", nothing, "--cifs", nothing],
        "cv": ["cv", "--dataset", "mp_2020", "--data-home", nothing],
    }[command]
    assert main([*argv, "--out", str(target)]) == 2
    one_line_error(capsys, "--out", message)
    assert (tmp_path / "out.csv").read_text() == "keep me\n"


def test_overwrite_replaces_an_existing_table(own, fitted_model, tmp_path):
    out = tmp_path / "p.csv"
    out.write_text("old\n")
    argv = ["predict", str(fitted_model), "--cifs", str(own / "new"), "--out", str(out), "--verbose", "0"]
    assert main([*argv, "--overwrite"]) == 0
    assert out.read_text().startswith("id,mean,std,lower95,upper95")


def test_campaign_refuses_an_output_that_is_a_file_and_an_unreadable_pool_cif(own, tmp_path, capsys):
    (tmp_path / "results").write_text("")
    assert main(["campaign", "--out", str(tmp_path / "results")]) == 2
    one_line_error(capsys, "--out", "is a file; give a folder")
    pool = tmp_path / "pool"
    pool.mkdir()
    for f in sorted((own / "cifs").glob("*.cif")):
        (pool / f.name).write_text(f.read_text())
    (pool / "zz.cif").write_text("not a cif\n")
    argv = ["campaign", "--pool-folder", str(pool), "--n-initial", "4", "--budget", "4", "--seed", "5"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 2
    one_line_error(capsys, "zz.cif")


def test_cv_output_is_a_deprecated_alias_of_out(tmp_path, capsys):
    both = ["cv", "--output", str(tmp_path / "a.json"), "--out", str(tmp_path / "b.json")]
    assert main(both) == 2
    one_line_error(capsys, "--output is the old name of --out; give only --out")


def test_help_shows_the_defaults(capsys):
    for command in ("fit", "cv", "campaign"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
    printed = " ".join(capsys.readouterr().out.split())
    assert "seeds the GP's fit (default: 0)" in printed
    assert "folds of the cross-validation (default: 5)" in printed
    assert "labels the strategy chooses (default: 300)" in printed
    assert "(default: None)" not in printed


@pytest.mark.slow  # the skmatgp command in a subprocess
def test_an_error_is_one_line_without_a_traceback_in_a_real_process(own, tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"")
    command = [sys.executable, "-m", "skmatgp.cli", "predict", str(model), "--cifs", str(own / "new")]
    done = subprocess.run(
        [*command, "--out", str(tmp_path / "p.csv")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert (
        done.stderr
        == f"skmatgp: error: {model} is empty (0 bytes), not a model: an interrupted write? Save the model again.\n"
    )


# ---------------------------------------------------------------- models that do not read structures


def test_predict_refuses_a_model_of_feature_matrices_before_reading_cifs(own, tmp_path, capsys):
    """A bare GPRegressor predicts from a feature matrix: refused with its kind, and before the
    CIFs are read (the folder's broken CIF is never reached)."""
    X = np.random.default_rng(0).normal(size=(12, 3))
    model = skmatgp.LogTargetRegressor(skmatgp.GPRegressor(device="cpu", gp_iterations=5))
    model.fit(X, 1.0 + X[:, 0] ** 2)
    for path, what in [(tmp_path / "gp.pt", "a GPRegressor,"), (tmp_path / "log.pt", "a LogTargetRegressor")]:
        if path.name == "gp.pt":
            model.regressor_.save(path)
        else:
            skmatgp.save(model, path)
        folder = tmp_path / "cifs"
        folder.mkdir(exist_ok=True)
        (folder / "broken.cif").write_text("not a cif\n")
        argv = ["predict", str(path), "--cifs", str(folder), "--out", str(tmp_path / "p.csv")]
        assert main(argv) == 2
        one_line_error(capsys, str(path), what, "not of structures", "skmatgp fit", "FoundationFeaturizer")


def test_predict_wraps_a_bare_gnngp_model_in_its_own_graph_settings(own, small, tmp_path):
    """A GNNGPRegressor saved on its own reads graphs: predict builds them with the settings it
    was fitted on (here not the transformer's defaults, which the model would refuse)."""
    from sklearn.pipeline import make_pipeline

    from tests.conftest import TINY

    X, y = small
    pipe = make_pipeline(
        skmatgp.CrystalGraphTransformer(radius=6.0, max_num_neighbors=8),
        skmatgp.GNNGPRegressor(**TINY),
    ).fit(X[:12], y[:12])
    path = tmp_path / "gnngp.pt"
    pipe[-1].save(path)
    out = tmp_path / "p.csv"
    assert main(["predict", str(path), "--cifs", str(own / "new"), "--out", str(out), "--verbose", "0"]) == 0
    rows = read_table(out)
    mean, std = pipe.predict(skmatgp.as_structure_array(sorted((own / "new").glob("*.cif"))), return_std=True)
    np.testing.assert_allclose([float(r["mean"]) for r in rows], mean, rtol=1e-6)
    np.testing.assert_allclose([float(r["std"]) for r in rows], std, rtol=1e-6)


# ---------------------------------------------------------------- flags and campaign folders


@pytest.mark.parametrize("command", ["fit", "cv", "campaign"])
def test_a_negative_seed_is_refused_as_the_command_line_is_read(tmp_path, capsys, command):
    nothing = str(tmp_path / "nothing")
    argv = {
        "fit": ["fit", "--cifs", nothing, "--labels", nothing, "--out", str(tmp_path / "m.pt")],
        "cv": ["cv", "--dataset", "mp_2020", "--data-home", nothing],
        "campaign": ["campaign", "--out", str(tmp_path / "run")],
    }[command]
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--seed", "-1"])
    assert stop.value.code == 2
    assert "argument --seed: must be an integer >= 0, got '-1'" in capsys.readouterr().err


def test_pool_folder_is_read_like_cifs(own, tmp_path, capsys):
    """--pool-folder takes its CIFs by the rules of --cifs: a missing folder is said so, and two
    files that give one id (s00.cif, s00.CIF) are refused before any work."""
    base = ["campaign", "--n-initial", "4", "--budget", "4", "--out", str(tmp_path / "run")]
    assert main([*base, "--pool-folder", str(tmp_path / "nowhere")]) == 2
    one_line_error(capsys, "--pool-folder", "nowhere does not exist")
    pool = tmp_path / "pool"
    pool.mkdir()
    for f in sorted((own / "cifs").glob("*.cif")):
        (pool / f.name).write_text(f.read_text())
    (pool / "s00.CIF").write_text((own / "cifs" / "s00.cif").read_text())
    assert main([*base, "--pool-folder", str(pool)]) == 2
    one_line_error(capsys, "s00.CIF and s00.cif give one id")


def _stop(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["dataset", "pool-folder"])
def test_campaign_names_its_results_folder_first(own, tmp_path, capsys, monkeypatch, where):
    """The README's main job runs for minutes: its first line says where the results go."""
    import skmatgp.active

    monkeypatch.setattr(skmatgp.active, "run_campaigns", _stop)
    monkeypatch.setattr(skmatgp.active, "Campaign", _stop)
    run = tmp_path / "run"
    argv = ["campaign", "--out", str(run), "--n-initial", "4", "--budget", "4"]
    if where == "pool-folder":
        argv += ["--pool-folder", str(own / "cifs")]
    assert main(argv) == 1  # interrupted where the campaigns would start
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"Results and state go to {run.resolve()}"), first


def test_the_prediction_table_is_utf8_whatever_the_locale(tmp_path):
    """Ids are file names, which may be any text: the table is UTF-8 under an ASCII locale too,
    and a write leaves no temporary file."""
    code = (
        "import sys; from skmatgp._prediction_table import write_prediction_csv; "
        "write_prediction_csv(sys.argv[1], ['Fe\\u2082O\\u2083', 'caf\\u00e9'], [1.0, 2.0], [0.1, 0.2])"
    )
    env = {**os.environ, "LC_ALL": "C"}
    done = subprocess.run(
        [sys.executable, "-X", "utf8=0", "-c", code, str(tmp_path / "p.csv")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()
    assert [row.split(",")[0] for row in rows] == ["id", "Fe\u2082O\u2083", "caf\u00e9"]
    assert [p.name for p in tmp_path.iterdir()] == ["p.csv"]
