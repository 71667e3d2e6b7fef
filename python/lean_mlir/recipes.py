"""Named training recipes: the upstream hyperparameters, batch 128.

Each recipe says exactly what it runs. ``s4tf-baseline`` is the book's
printed config (plain SGD, lr 0.1, 12 epochs) with He-normal init, which is
what the book's runs used; the upstream code that produced the book's logs
also applied heavy-ball momentum 0.9 (``s4tf-momentum`` runs that).
"""

from __future__ import annotations

from lean_mlir.train import TrainConfig

__all__ = ["RECIPES", "get", "names", "recipe"]

RECIPES: dict[str, TrainConfig] = {
    "s4tf-baseline": TrainConfig(learning_rate=0.1, epochs=12),
    "s4tf-momentum": TrainConfig(learning_rate=0.1, epochs=12, momentum=0.9),
    "sgd-low-lr": TrainConfig(learning_rate=0.01, epochs=15),
    "adam-only": TrainConfig(learning_rate=0.001, epochs=15, use_adam=True),
    "adam-cosine": TrainConfig(learning_rate=0.001, epochs=15, use_adam=True, cosine_decay=True,
                               warmup_epochs=1),
    "adam-cosine-aug": TrainConfig(learning_rate=0.001, epochs=30, use_adam=True,
                                   cosine_decay=True, warmup_epochs=2, augment=True),
    # ResNet's usual SGD: heavy-ball momentum, weight decay 5e-4, cosine decay.
    "resnet-sgd": TrainConfig(learning_rate=0.1, epochs=8, momentum=0.9, weight_decay=5e-4,
                              cosine_decay=True, warmup_epochs=1),
    "full-recipe": TrainConfig(learning_rate=0.001, epochs=15, use_adam=True, weight_decay=1e-4,
                               cosine_decay=True, warmup_epochs=1, augment=True,
                               label_smoothing=0.1),
}


def names() -> list[str]:
    """The recipes' names."""
    return list(RECIPES)


def get(name: str, **overrides) -> TrainConfig:
    """A recipe by name, with fields overridden (``get("s4tf-baseline", epochs=1)``)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; expected one of: {', '.join(RECIPES)}")
    return RECIPES[name].__class__(**{**RECIPES[name].__dict__, **overrides})


#: The same as :func:`get`.
recipe = get
