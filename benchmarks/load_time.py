"""Time to load each dataset into pymatgen Structures (target: mp_2020 under 20 s).

python benchmarks/load_time.py
"""

import json
import time
from pathlib import Path

from skmatgp.datasets import DATASETS, load_dataset

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    out = {}
    for name in DATASETS:
        start = time.perf_counter()
        data = load_dataset(name)
        out[name] = {"n_structures": len(data.target), "seconds": time.perf_counter() - start}
        print(name, out[name], flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load_time.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
