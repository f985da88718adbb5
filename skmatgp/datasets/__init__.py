"""Real crystal datasets: the bundled elastic_tensor_2015, others from a data home (downloaded
into it when missing)."""

from ._loaders import fetch_dataset, get_data_home, load_cgcnn_folder, load_dataset, load_matbench_json
from ._registry import DATASETS

__all__ = [
    "DATASETS",
    "fetch_dataset",
    "get_data_home",
    "load_cgcnn_folder",
    "load_dataset",
    "load_matbench_json",
]
