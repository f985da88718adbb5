"""skmatgp: uncertainty-aware graph neural network surrogates for materials, in scikit-learn.

The public names load on first use, so ``import skmatgp`` (and ``skmatgp --help``) does not
import torch_geometric, gpytorch, chgnet or sevenn until a model needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> the module that defines it
_SOURCES = {
    "CrystalGraphEncoder": "._encoder",
    "CrystalGraphTransformer": "._graphs",
    "FoundationFeaturizer": "._foundation",
    "GNNGPRegressor": "._regressor",
    "GPRegressor": "._gp_regressor",
    "LogTargetRegressor": "._log_target",
    "PretrainedEncoderTransformer": "._pretrained",
    "StructureDescriptors": "._descriptors",
    "as_structure_array": "._structures",
    "find_duplicate_structures": "._structures",
    "iter_pool_predictions": "._streaming",
    "load": "._model_files",
    "register_encoder": "._encoder_kinds",
    "save": "._model_files",
    "score_pool": "._streaming",
    "top_entropy": "._streaming",
}
__all__ = [
    "CrystalGraphEncoder",
    "CrystalGraphTransformer",
    "FoundationFeaturizer",
    "GNNGPRegressor",
    "GPRegressor",
    "LogTargetRegressor",
    "PretrainedEncoderTransformer",
    "StructureDescriptors",
    "as_structure_array",
    "find_duplicate_structures",
    "iter_pool_predictions",
    "load",
    "register_encoder",
    "save",
    "score_pool",
    "top_entropy",
]
__getattr__, __dir__ = lazy_exports(__name__, _SOURCES)


if TYPE_CHECKING:  # what editors and type checkers see
    from ._descriptors import StructureDescriptors
    from ._encoder import CrystalGraphEncoder
    from ._encoder_kinds import register_encoder
    from ._foundation import FoundationFeaturizer
    from ._gp_regressor import GPRegressor
    from ._graphs import CrystalGraphTransformer
    from ._log_target import LogTargetRegressor
    from ._model_files import load, save
    from ._pretrained import PretrainedEncoderTransformer
    from ._regressor import GNNGPRegressor
    from ._streaming import iter_pool_predictions, score_pool, top_entropy
    from ._structures import as_structure_array, find_duplicate_structures
