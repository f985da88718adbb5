"""Training a graph encoder on standardised targets: the validation split, the minibatch loop
and early stopping.

:class:`~skmatgp.GNNGPRegressor` trains its encoder with :class:`EncoderTrainer` before it fits
the GP head on the embeddings; the validation split it returns is also where the head
calibrates its std. The trainer knows nothing of GPs: any module with ``forward(batch) ->
(B,)`` trains with it (a deep ensemble is several of these, each from its own seed).
"""

from __future__ import annotations

import copy
import logging
import numbers
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from ._graph_batches import collate, encoder_outputs, minibatches

logger = logging.getLogger(__name__)

MIN_VALIDATION = 5  # fewer held-out graphs than this: no early stopping


@dataclass(frozen=True)
class EncoderTrainer:
    """Adam on the mean squared error of the encoder's head, with early stopping on a
    validation split of the training graphs (the best epoch's weights are kept).

    The parameters are :class:`~skmatgp.GNNGPRegressor`'s of the same names; building the
    trainer checks them.
    """

    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    validation_fraction: float
    patience: int
    verbose: int = 0

    def __post_init__(self):
        if not (isinstance(self.batch_size, (int, np.integer)) and self.batch_size > 0):
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}.")
        fraction = self.validation_fraction
        if not (isinstance(fraction, numbers.Real) and 0 <= fraction < 1):
            raise ValueError(f"validation_fraction must be in [0, 1), got {fraction!r}.")
        for name in ("epochs", "patience"):
            value = getattr(self, name)
            if not (isinstance(value, (int, np.integer)) and value >= 0):
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}.")
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
            raise ValueError(f"learning_rate must be a positive number, got {self.learning_rate!r}.")

    def split(self, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
        """(validation, training) indices of ``n`` graphs in random order; no validation
        split (and a warning) when it would hold fewer than ``MIN_VALIDATION`` graphs."""
        n_val = round(self.validation_fraction * n)
        order = rng.permutation(n)
        if n_val >= MIN_VALIDATION and n - n_val >= 2:
            return order[:n_val], order[n_val:]
        if self.validation_fraction > 0:
            logger.warning(
                "Only %d training structures: too few for a validation split of %d or "
                "more, so no early stopping and no std calibration (std_scale_=1); the "
                "std is then likely too small.",
                n,
                MIN_VALIDATION,
            )
        return order[:0], order

    def train(self, encoder: torch.nn.Module, graphs: np.ndarray, y_std: np.ndarray, rng, device) -> tuple:
        """Train ``encoder`` in place on the graphs and their standardised targets.

        Shuffles with torch's global RNG (fork and seed it around the call). Returns the
        validation indices and the number of epochs run; the encoder ends in evaluation mode
        with the weights of its best validation epoch (of its last epoch without a split).
        """
        val_idx, train_idx = self.split(len(graphs), rng)
        targets = torch.as_tensor(y_std, dtype=torch.float32)
        optimizer = torch.optim.Adam(
            encoder.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )
        best_loss, best_state, stale, n_epochs = np.inf, None, 0, 0
        epochs = tqdm(range(self.epochs), desc="encoder", unit="epoch", disable=not self.verbose)
        for _ in epochs:
            encoder.train()
            shuffled = train_idx[torch.randperm(len(train_idx)).numpy()]
            train_loss = 0.0
            for batch_idx in minibatches(shuffled, self.batch_size, drop_singleton=True):
                batch = collate(graphs[batch_idx], device)
                optimizer.zero_grad()
                loss = torch.nn.functional.mse_loss(encoder(batch), targets[batch_idx].to(device))
                loss.backward()
                optimizer.step()
                train_loss += loss.item() * len(batch_idx)
            n_epochs += 1
            postfix = {"train_mse": train_loss / len(train_idx)}
            if len(val_idx):
                predictions = encoder_outputs(encoder, graphs[val_idx], device, head=True)
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
        return val_idx, n_epochs
