"""Structures in a DataFrame column, and graphs under scikit-learn's pandas output."""

import numpy as np
import pandas as pd
import pytest
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline, make_union

from skmatgp import (
    CrystalGraphTransformer,
    GNNGPRegressor,
    PretrainedEncoderTransformer,
    StructureDescriptors,
)
from tests.conftest import TINY


@pytest.fixture(scope="module")
def frame(small):
    structures, y = small
    return pd.DataFrame({"structure": list(structures), "temperature": np.arange(len(y)) * 10.0, "y": y})


def test_one_column_of_structures_is_read_as_its_column(frame, small):
    expected = StructureDescriptors().transform(small[0])
    for X in (frame["structure"], frame[["structure"]]):
        np.testing.assert_array_equal(StructureDescriptors().transform(X), expected)
    graphs = CrystalGraphTransformer().fit_transform(frame[["structure"]])
    assert [g.num_nodes for g in graphs] == [len(s) for s in small[0]]


def test_a_table_of_several_columns_is_refused_with_its_columns(frame):
    with pytest.raises(TypeError, match=r"3 columns \['structure', 'temperature', 'y'\].*ColumnTransformer"):
        CrystalGraphTransformer().fit_transform(frame)


def test_column_transformer_picks_the_structures(frame, small, small_graphs, tmp_path):
    graphs, y = small_graphs
    path = tmp_path / "encoder.pt"
    GNNGPRegressor(**TINY).fit(graphs[:40], y[:40]).save(path, encoder_only=True)
    encoder = make_pipeline(CrystalGraphTransformer(), PretrainedEncoderTransformer(path))
    columns = ColumnTransformer(
        [
            ("descriptors", StructureDescriptors(), ["structure"]),
            ("encoder", encoder, ["structure"]),
            ("t", "passthrough", ["temperature"]),
        ]
    )
    features = columns.fit_transform(frame)
    n_descriptors = len(StructureDescriptors().get_feature_names_out())
    np.testing.assert_array_equal(features[:, :n_descriptors], StructureDescriptors().transform(small[0]))
    np.testing.assert_allclose(features[:, n_descriptors:-1], encoder.fit_transform(small[0]), rtol=1e-6)
    np.testing.assert_array_equal(features[:, -1], frame["temperature"])


def test_pandas_output_through_the_graph_pipeline(small):
    """With transform_output="pandas", CrystalGraphTransformer hands on a one-column DataFrame
    of graphs; the regressor reads it and predicts what it predicts from the plain array."""
    X, y = small
    expected_mean, expected_std = (
        make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))
        .fit(X[:40], y[:40])
        .predict(X[40:], return_std=True)
    )
    with sklearn.config_context(transform_output="pandas"):
        pipeline = make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(**TINY))
        graphs = pipeline[0].fit_transform(X[:40])
        assert isinstance(graphs, pd.DataFrame) and list(graphs.columns) == ["crystal_graph"]
        mean, std = pipeline.fit(X[:40], y[:40]).predict(X[40:], return_std=True)
    np.testing.assert_allclose(mean, expected_mean, rtol=1e-6)
    np.testing.assert_allclose(std, expected_std, rtol=1e-6)


def test_pandas_output_of_descriptors_and_a_pretrained_encoder(small_graphs, small, tmp_path):
    graphs, y = small_graphs
    path = tmp_path / "encoder.pt"
    GNNGPRegressor(**TINY).fit(graphs[:40], y[:40]).save(path, encoder_only=True)
    union = make_union(
        StructureDescriptors(),
        make_pipeline(CrystalGraphTransformer(), PretrainedEncoderTransformer(path, output="head")),
    )
    expected = union.fit_transform(small[0])
    table = union.set_output(transform="pandas").fit_transform(small[0])
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == list(union.get_feature_names_out())
    assert table.columns[-1].endswith("encoder_head")
    np.testing.assert_allclose(table.to_numpy(dtype=float), expected, rtol=1e-6)
