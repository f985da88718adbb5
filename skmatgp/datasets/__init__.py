"""Real crystal datasets: the bundled elastic_tensor_2015, others from a data home."""

from ._loaders import get_data_home, load_cgcnn_folder, load_dataset, load_matbench_json
from ._registry import DATASETS

__all__ = [
    "DATASETS",
    "get_data_home",
    "load_cgcnn_folder",
    "load_dataset",
    "load_matbench_json",
]
