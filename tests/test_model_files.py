"""Model files: the fitted foundation pipeline saved and loaded without pickle, and files that
are not models refused with the path and what is wrong."""

import pickle
import zipfile

import joblib
import numpy as np
import pytest
import torch
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import skmatgp
from skmatgp import FoundationFeaturizer, GPRegressor, LogTargetRegressor
from skmatgp._model_files import ModelFileError

GP = {"device": "cpu", "gp_iterations": 20, "random_state": 0}


def foundation_pipeline(regressor=None):
    return Pipeline(
        [("features", FoundationFeaturizer(cache_dir="auto")), ("gp", regressor or GPRegressor(**GP))]
    )


@pytest.fixture(scope="module")
def structures(small):
    X, y = small
    return X[:10], 10.0 ** y[:10], X[10:14]


@pytest.fixture(scope="module")
def fitted(structures):
    X, y, _ = structures
    return foundation_pipeline().fit(X, y)


@pytest.fixture(scope="module")
def gp_file(tmp_path_factory):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    path = tmp_path_factory.mktemp("gp") / "gp.pt"
    GPRegressor(**GP).fit(X, X.sum(1)).save(path)
    return path


def test_the_foundation_pipeline_round_trips_without_pickle(fitted, structures, tmp_path):
    _, _, new = structures
    path = tmp_path / "model.pt"
    skmatgp.save(fitted, path)
    raw = torch.load(path, weights_only=True)  # plain data only: no unpickling of objects
    assert (raw["format"], raw["version"]) == ("skmatgp.Pipeline", 1)
    assert [step["model"]["format"] for step in raw["steps"]] == [
        "skmatgp.FoundationFeaturizer",
        "skmatgp.GPRegressor",
    ]
    loaded = skmatgp.load(path)
    assert isinstance(loaded, Pipeline) and loaded.get_params()["features__model"] == "sevennet"
    for a, b in zip(fitted.predict(new, return_std=True), loaded.predict(new, return_std=True), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert loaded.named_steps["features"].n_features_out_ == fitted.named_steps["features"].n_features_out_
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed into place


@pytest.mark.parametrize("inside", [True, False], ids=["log-target-last-step", "log-target-around"])
def test_a_log_target_model_round_trips(structures, tmp_path, inside):
    X, y, new = structures
    if inside:
        model = foundation_pipeline(LogTargetRegressor(GPRegressor(**GP)))
    else:
        model = LogTargetRegressor(foundation_pipeline())
    model.fit(X, y)
    skmatgp.save(model, tmp_path / "log.pt")
    loaded = skmatgp.load(tmp_path / "log.pt")
    assert type(loaded) is type(model)
    for a, b in zip(model.predict(new, return_std=True), loaded.predict(new, return_std=True), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_a_gp_regressor_saved_by_save_is_the_same_file_as_its_own(gp_file, tmp_path):
    model = skmatgp.load(gp_file)
    skmatgp.save(model, tmp_path / "again.pt")
    again = torch.load(tmp_path / "again.pt", weights_only=True)
    assert again["format"] == "skmatgp.GPRegressor"
    X = np.random.default_rng(1).normal(size=(5, 3))
    np.testing.assert_array_equal(skmatgp.load(tmp_path / "again.pt").predict(X), model.predict(X))


def test_save_refuses_a_step_it_cannot_write_and_leaves_no_file(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 3))
    model = Pipeline([("scale", StandardScaler()), ("gp", GPRegressor(**GP))]).fit(X, X.sum(1))
    with pytest.raises(TypeError, match="step 'scale' is a StandardScaler.*joblib"):
        skmatgp.save(model, tmp_path / "model.pt")
    assert list(tmp_path.iterdir()) == []


def make_bad_file(case: str, path, gp_file):
    """A file at ``path`` that is not a loadable model, of the kind ``case`` names."""
    if case == "folder":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        data = gp_file.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif case == "csv":
        path.write_text("id,mean,std\nmp-1,1.0,0.1\n")
    elif case == "pickle":
        path.write_bytes(pickle.dumps({"format": "skmatgp.GPRegressor"}))
    elif case == "joblib":
        joblib.dump(StandardScaler(), path)
    elif case != "missing":
        torch.save(PAYLOADS[case](gp_file), path)
    return path


PAYLOADS = {
    "torch-objects": lambda gp: {"format": "skmatgp.GPRegressor", "x": zipfile.ZipInfo()},
    "torch-no-format": lambda gp: {"weights": torch.ones(3)},
    "foreign-format": lambda gp: {"format": "someone.Model", "version": 1},
    "unknown-kind": lambda gp: {"format": "skmatgp.FutureModel", "version": 1},
    "newer-pipeline": lambda gp: {"format": "skmatgp.Pipeline", "version": 99, "steps": []},
    "newer-gp-inside": lambda gp: {
        "format": "skmatgp.Pipeline",
        "version": 1,
        "steps": [{"name": "gp", "model": {**torch.load(gp, weights_only=True), "version": 99}}],
    },
    "damaged": lambda gp: {"format": "skmatgp.Pipeline", "version": 1},
    "steps-not-a-list": lambda gp: {"format": "skmatgp.Pipeline", "version": 1, "steps": 3},
    "unknown-keyword": lambda gp: pipeline_of(
        {"format": "skmatgp.CrystalGraphTransformer", "version": 1, "params": '{"radius": 8.0, "new": 1}'}
    ),
    "featurizer-keyword": lambda gp: pipeline_of(
        {"format": "skmatgp.FoundationFeaturizer", "version": 1, "params": '{"new": 1}', "model_id": "x"}
    ),
    "bad-params-json": lambda gp: pipeline_of(
        {"format": "skmatgp.CrystalGraphTransformer", "version": 1, "params": '{"radius": 8.0'}
    ),
    "params-not-text": lambda gp: {**torch.load(gp, weights_only=True), "params": {"nu": 1.5}},
}


def pipeline_of(step: dict) -> dict:
    return {"format": "skmatgp.Pipeline", "version": 1, "steps": [{"name": "step", "model": step}]}


BAD_FILES = {
    "missing": (FileNotFoundError, "No model file at"),
    "folder": (ModelFileError, "is a folder, not a model file"),
    "empty": (ModelFileError, r"is empty \(0 bytes\)"),
    "truncated": (ModelFileError, "is truncated or corrupted"),
    "csv": (ModelFileError, r"is not a skmatgp model file \(a text file starting 'id,mean,std'\)"),
    "pickle": (ModelFileError, "is a pickle .* never unpickles"),
    "joblib": (ModelFileError, "is a pickle"),
    "torch-objects": (ModelFileError, "holds Python objects that only unpickling"),
    "torch-no-format": (ModelFileError, "without skmatgp's 'format' entry"),
    "foreign-format": (ModelFileError, r"is not a model saved by skmatgp \(its format is 'someone.Model'\)"),
    "unknown-kind": (ModelFileError, "a kind of model this skmatgp does not know.*Upgrade skmatgp"),
    "newer-pipeline": (
        ModelFileError,
        r"newer skmatgp \(skmatgp.Pipeline version 99; this one reads up to 1\)",
    ),
    "newer-gp-inside": (ValueError, "newer skmatgp"),
    "damaged": (ModelFileError, "is damaged: its model lacks the entry 'steps'"),
    "steps-not-a-list": (ModelFileError, r"cannot build \(TypeError: .*\): written by a newer skmatgp"),
    "unknown-keyword": (ModelFileError, r"cannot build \(TypeError: .*'new'.*newer skmatgp"),
    "featurizer-keyword": (ModelFileError, r"cannot build \(TypeError: .*'new'.*newer skmatgp"),
    "bad-params-json": (ModelFileError, r"cannot build \(JSONDecodeError: .*newer skmatgp"),
    "params-not-text": (ModelFileError, r"cannot build \(TypeError: .*newer skmatgp"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_load_names_the_path_and_what_is_wrong(tmp_path, gp_file, case):
    error, message = BAD_FILES[case]
    path = make_bad_file(case, tmp_path / "model.pt", gp_file)
    with pytest.raises(error, match=message) as caught:
        skmatgp.load(path)
    assert str(path) in str(caught.value)


def test_load_refuses_features_of_other_weights(fitted, tmp_path):
    """A GP fitted on one checkpoint's features would read another's as if they were its own."""
    skmatgp.save(fitted, tmp_path / "model.pt")
    payload = torch.load(tmp_path / "model.pt", weights_only=True)
    payload["steps"][0]["model"]["model_id"] = "sevennet-old-checkpoint-f0"
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(
        ModelFileError, match="fitted on features of sevennet-old-checkpoint-f0.*Fit the model"
    ):
        skmatgp.load(tmp_path / "model.pt")
