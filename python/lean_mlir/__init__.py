"""lean-mlir: neural networks as an MLIR dialect, from a list of layers to compiled code.

The public API:

* :class:`NetSpec` and the layers :func:`conv2d`, :func:`max_pool`,
  :func:`flatten`, :func:`dense`, :func:`relu` describe a network as data;
* ``NetSpec.to_mlir()`` gives it as a ``netspec`` module (:mod:`lean_mlir.ir`),
  which :mod:`lean_mlir.passmanager` and :func:`run_pipeline` transform;
* :mod:`lean_mlir.models` has the book's MNIST CNN and MLP;
* :func:`predict`, :func:`value_and_grad` and :func:`train_step` run the
  StableHLO that the C++ passes derive, compiled by IREE;
* ``NetSpec.train(recipes.get("s4tf-baseline"), ...)`` trains into a run
  directory (checkpoints, metrics, resume); :func:`load_model` loads an
  exported model.
"""

from lean_mlir import recipes
from lean_mlir._errors import Diagnostic, MLIRError, SpecError
from lean_mlir.model import Model, ModelError, load_model
from lean_mlir.models import mnist_cnn, mnist_mlp
from lean_mlir.pipeline import PipelineError, run_pipeline
from lean_mlir.spec import (
    Activation,
    Conv2d,
    Dense,
    Flatten,
    Init,
    Layer,
    MaxPool,
    NetSpec,
    Padding,
    ParamSpec,
    ReLU,
    conv2d,
    dense,
    flatten,
    max_pool,
    relu,
)
from lean_mlir.tools import lean_mlir_opt_path, plugin_path
from lean_mlir.train import (
    TrainConfig,
    TrainStepper,
    evaluate_batch,
    init_optimizer_state,
    predict,
    train_step,
    value_and_grad,
)

__version__ = "0.1.0"


def sweep(arms, seeds=1, address=None, out=None, **options):
    """Ablation arms x seeds as Ray tasks (see :mod:`lean_mlir.sweeps`); one result per run."""
    from lean_mlir.sweeps import sweep as run

    return run(arms, seeds, address=address, out=out, **options)

__all__ = [
    "Activation",
    "Conv2d",
    "Dense",
    "Diagnostic",
    "Flatten",
    "Init",
    "Layer",
    "MLIRError",
    "MaxPool",
    "Model",
    "ModelError",
    "NetSpec",
    "Padding",
    "ParamSpec",
    "PipelineError",
    "ReLU",
    "SpecError",
    "TrainConfig",
    "TrainStepper",
    "conv2d",
    "dense",
    "evaluate_batch",
    "flatten",
    "init_optimizer_state",
    "lean_mlir_opt_path",
    "load_model",
    "max_pool",
    "mnist_cnn",
    "mnist_mlp",
    "plugin_path",
    "predict",
    "recipes",
    "relu",
    "run_pipeline",
    "sweep",
    "train_step",
    "value_and_grad",
]
