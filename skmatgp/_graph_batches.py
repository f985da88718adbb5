"""Crystal graphs as a model's input: checking them, cutting them into minibatches, and running
an encoder over them batch by batch.

The estimators that read graphs (:class:`~skmatgp.GNNGPRegressor`,
:class:`~skmatgp.PretrainedEncoderTransformer`) and the encoder trainer (``_training``) share
these, so that every one of them refuses the same inputs with the same words.
"""

from __future__ import annotations

import numpy as np
import torch
from pymatgen.core import Structure
from torch_geometric.data import Batch, Data

from ._arrays import object_array, table_column
from ._graphs import GraphSettings

EVAL_BATCH = 512  # graphs per batch when the encoder only evaluates


def check_graphs(X, who: str, expected: GraphSettings | None = None, expected_by: str = "") -> np.ndarray:
    """X as a 1-D object array of crystal graphs, all built with one setting, and that setting
    ``expected`` when one is given; the errors name the estimator (``who``), the offending
    index, and what fixed the expected setting (``expected_by``, e.g. "the model was trained on").
    A one-column table counts as its column: CrystalGraphTransformer's output under
    ``set_output(transform="pandas")``. Graphs and models pickled before :class:`GraphSettings`
    hold their settings as text, which counts as the settings it names."""
    X = table_column(X, "crystal graphs")
    if isinstance(X, np.ndarray) and X.ndim == 1:
        graphs = X
    elif isinstance(X, (list, tuple)):
        graphs = object_array(X)
    else:
        raise TypeError(
            f"{who} takes a 1-D array or list of crystal graphs, got {type(X).__name__}. Put a "
            f"CrystalGraphTransformer before it: make_pipeline(CrystalGraphTransformer(), {who}(...))."
        )
    if len(graphs) == 0:
        raise ValueError("Got an empty input; pass at least one crystal graph.")
    for i, graph in enumerate(graphs):
        if not isinstance(graph, Data):
            hint = ""
            if isinstance(graph, Structure):
                hint = (
                    " It is a pymatgen Structure: transform the structures first with "
                    f"CrystalGraphTransformer, or use make_pipeline(CrystalGraphTransformer(), {who}(...))."
                )
            elif graph is None:
                hint = (
                    " CrystalGraphTransformer(on_error='warn') puts None where a structure "
                    "has no graph: drop those items and their targets first."
                )
            raise TypeError(f"Item at index {i} is a {type(graph).__name__}, not a crystal graph.{hint}")
    settings = {GraphSettings.of(value) for value in {graph.graph_settings for graph in graphs}}
    if len(settings) > 1:
        raise ValueError(
            f"The graphs were built with different settings: {sorted(map(str, settings))}. Build "
            "them all with one CrystalGraphTransformer."
        )
    (setting,) = settings
    if expected is not None and setting != GraphSettings.of(expected):
        raise ValueError(
            f"These graphs were built with {setting}, but {expected_by} graphs built with "
            f"{expected}. Build them with the same CrystalGraphTransformer settings."
        )
    return graphs


def graph_settings_of(graphs: np.ndarray) -> GraphSettings:
    """The settings of graphs that :func:`check_graphs` passed (all alike)."""
    return GraphSettings.of(graphs[0].graph_settings)


def minibatches(indices: np.ndarray, size: int, drop_singleton: bool = False):
    """``indices`` in consecutive parts of ``size``; ``drop_singleton`` skips a last part of
    one graph (batch norm cannot train on a single graph)."""
    for start in range(0, len(indices), size):
        part = indices[start : start + size]
        if drop_singleton and len(part) == 1 and len(indices) > 1:
            continue
        yield part


def collate(graphs, device) -> Batch:
    """One PyG batch of ``graphs`` on ``device`` (their settings stay behind: not a tensor)."""
    return Batch.from_data_list(list(graphs), exclude_keys=["graph_settings"]).to(device)


@torch.no_grad()
def encoder_outputs(encoder: torch.nn.Module, graphs: np.ndarray, device, head: bool = False) -> np.ndarray:
    """Embeddings (or head predictions) in evaluation mode, batch by batch; the encoder's
    training mode is put back afterwards."""
    was_training = encoder.training
    encoder.eval()
    parts = []
    for batch_idx in minibatches(np.arange(len(graphs)), EVAL_BATCH):
        batch = collate(graphs[batch_idx], device)
        out = encoder(batch) if head else encoder.embed(batch)
        parts.append(out.cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(parts)
