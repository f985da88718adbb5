"""skmatgp: uncertainty-aware graph neural network surrogates for materials, in scikit-learn."""

from ._descriptors import StructureDescriptors
from ._encoder import CrystalGraphEncoder
from ._foundation import FoundationFeaturizer
from ._gp_regressor import GPRegressor
from ._graphs import CrystalGraphTransformer
from ._log_target import LogTargetRegressor
from ._pretrained import PretrainedEncoderTransformer
from ._regressor import GNNGPRegressor, load
from ._streaming import iter_pool_predictions, score_pool, top_entropy
from ._structures import as_structure_array, find_duplicate_structures

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
    "score_pool",
    "top_entropy",
]
__version__ = "0.1.0"
