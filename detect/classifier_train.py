"""Training of a second stage that names one of a few classes from a box-aligned crop (the
aircraft and air-defence type classifiers of ``detect/type_train.py``, the ground check of
``detect/ground_train.py``).

Why one loop: both draw their crops class-balanced (airliners outnumber fighters, S-400 TELs
the radars, vehicles the launchers), mirror half of each batch, jitter its photometry, fit the
state classifier's network with a label-smoothed cross entropy, and validate on the mean of
each crop's and its mirror image's probabilities. What the crops are and how they are rendered
and scored is the caller's; :func:`detect.regressor_train.train_crop_regressor` is the same
for figures instead of classes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from detect.state_train import optimise, photometric


def fit_balanced_classifier(make_net: Callable[[], Any], crops: dict[str, np.ndarray], cfg: Any, *,
                            log: Any, desc: str, progress: bool = True) -> tuple[Any, float]:
    """A network from ``make_net()`` (a :class:`detect.state_net.StateNet`) fitted on ``crops``
    (``crops``, ``labels``, ``sizes``) with every label drawn equally often, by ``cfg``'s seed,
    steps, batch_size, lr and weight_decay; returns it and the training time in seconds. Seeded
    before the network is made, so a run is the same whatever was drawn before it."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    net = make_net()
    x_all = torch.from_numpy(crops["crops"])
    y_all = torch.from_numpy(crops["labels"]).long()
    s_all = torch.from_numpy(crops["sizes"]).float()
    _, inv, counts = np.unique(crops["labels"], return_inverse=True, return_counts=True)
    weights = torch.from_numpy(1.0 / counts[inv])

    def batch_loss() -> Any:
        idx = torch.multinomial(weights, cfg.batch_size, replacement=True, generator=gen)
        x = x_all[idx].float()
        flip = torch.rand(x.shape[0], generator=gen) < 0.5
        x = photometric(torch.where(flip[:, None, None, None], x.flip(3), x), gen)
        return F.cross_entropy(net(x, s_all[idx]), y_all[idx], label_smoothing=0.05)

    return net, optimise(net, batch_loss, steps=cfg.steps, lr=cfg.lr, weight_decay=cfg.weight_decay,
                         log=log, desc=desc, progress=progress)


def predict_mirrored(net: Any, crops: np.ndarray, sizes: np.ndarray, classes: int, batch: int = 512
                     ) -> np.ndarray:
    """``(N, classes)`` probabilities, each the mean of the crop's and its mirror image's (the
    training mirrors half of every batch, so both views are the network's own)."""
    import torch

    net.eval()
    out = []
    with torch.inference_mode():
        for i in range(0, len(crops), batch):
            x, e = torch.from_numpy(crops[i:i + batch]), torch.from_numpy(sizes[i:i + batch])
            out.append(((net(x, e).softmax(1) + net(x.flip(-1), e).softmax(1)) / 2).numpy())
    return np.concatenate(out) if out else np.zeros((0, classes))
