"""lean-mlir: neural networks as an MLIR dialect, from a list of layers to compiled code.

The public API:

* :class:`NetSpec` and the layers :func:`conv2d`, :func:`max_pool`,
  :func:`flatten`, :func:`dense`, :func:`relu`, :func:`batch_norm`,
  :func:`conv_bn`, :func:`global_avg_pool`, :func:`residual_block` and
  :func:`inverted_residual` (:mod:`lean_mlir.layers`, every kind in
  :data:`LAYERS`) describe a network as data;
* ``NetSpec.to_mlir()`` gives it as a ``netspec`` module (:mod:`lean_mlir.ir`),
  which :mod:`lean_mlir.passmanager` and :func:`run_pipeline` transform;
* :mod:`lean_mlir.zoo` has the book's MNIST CNN and MLP, its CNN with
  batch norm, and small versions of ResNet, MobileNetV2, EfficientNet and
  ConvNeXt at 28x28 (:data:`MODELS`), and the networks of the book's later
  chapters at their own sizes: the CIFAR-10 CNN, ResNet-34, MobileNetV2,
  EfficientNet-B0 and ConvNeXt-T (:data:`BOOK_NETWORKS`);
* :func:`lower` (:mod:`lean_mlir.compiler`) is the one compile pipeline: a
  :class:`Lowered` function (its StableHLO, its :class:`Signature` of
  ``netspec.role`` s, every stage's module) that ``.compile()`` turns into a
  module run by IREE or by XLA (``backend="xla"``, :mod:`lean_mlir.xla`);
* :func:`predict`, :func:`value_and_grad`, :func:`train_step`,
  :class:`TrainStepper` and :class:`Predictor` (:mod:`lean_mlir.runtime`) run
  the StableHLO that the C++ passes derive, through that pipeline;
* ``lm.train(spec, recipes.get("s4tf-baseline"), ...)`` trains into a run
  directory (checkpoints, metrics, resume); :func:`load_model` loads an
  exported model; :func:`sweep` runs ablation arms on Ray;
* :func:`from_torch` and :func:`to_torch` (:mod:`lean_mlir.weights`) read and
  write torchvision's (timm's for ViT-Tiny and MobileNetV4-Conv-S) weights of the
  Imagenette networks built with ``padding="torch"``.

The modules and their layers: the README's "Layout".
"""

from lean_mlir import recipes
from lean_mlir._errors import Diagnostic, MLIRError, SpecError
from lean_mlir._native import lean_mlir_opt_path, plugin_path
from lean_mlir._version import __version__
from lean_mlir.compiler import Lowered, lower
from lean_mlir.export import Model, ModelError, load_model
from lean_mlir.layers import (
    LAYERS,
    Activation,
    Attention,
    AvgPool,
    BatchNorm,
    Bottleneck,
    ClassToken,
    Conv2d,
    ConvBN,
    ConvNeXtBlock,
    Dense,
    Flatten,
    FusedMBConv,
    GlobalAvgPool,
    Init,
    InvertedResidual,
    Layer,
    LayerNorm,
    LayerScale,
    MaxPool,
    MBConv,
    MobileNetV3Block,
    Padding,
    PatchEmbed,
    PositionEmbedding,
    ReLU,
    Residual,
    ResidualBlock,
    SqueezeExcite,
    TakeToken,
    UniversalInvertedBottleneck,
    ViTBlock,
    attention,
    avg_pool,
    batch_norm,
    bottleneck,
    class_token,
    conv2d,
    conv_bn,
    convnext_block,
    dense,
    flatten,
    fused_mbconv,
    global_avg_pool,
    inverted_residual,
    layer_norm,
    layer_scale,
    max_pool,
    mbconv,
    mobilenet_v3_block,
    patch_embed,
    position_embedding,
    relu,
    residual,
    residual_block,
    squeeze_excite,
    take_token,
    uib,
    vit_block,
)
from lean_mlir.pipeline import PipelineError, run_pipeline
from lean_mlir.recipes import TrainConfig
from lean_mlir.run import train
from lean_mlir.runtime import (
    Predictor,
    TrainStepper,
    evaluate_batch,
    init_optimizer_state,
    predict,
    train_step,
    value_and_grad,
)
from lean_mlir.signature import Role, Signature
from lean_mlir.spec import NetSpec, ParamSpec
from lean_mlir.tuning import tune
from lean_mlir.weights import from_torch, to_torch
from lean_mlir.zoo import (
    BOOK_NETWORKS,
    MODELS,
    cifar_cnn8,
    convnext_tiny,
    efficientnet_b0,
    efficientnet_v2_s,
    mnist_bottleneck_resnet,
    mnist_cnn,
    mnist_cnn_bn,
    mnist_convnext,
    mnist_efficientnet,
    mnist_mlp,
    mnist_mobilenet,
    mnist_mobilenet_v3,
    mnist_resnet,
    mnist_vit,
    mobilenet_v2,
    mobilenet_v3_large,
    mobilenet_v4_conv_small,
    resnet34,
    resnet50,
    vit_tiny,
)


def explain(spec, out_dir, **options):
    """A page of ``spec``: its graph, its derived backward pass, each layer's kernels and
    time (see :mod:`lean_mlir.explanation`); returns the report."""
    from lean_mlir.explanation import explain as run

    return run(spec, out_dir, **options)


def sweep(arms, seeds=1, address=None, out=None, **options):
    """Ablation arms x seeds as Ray tasks (see :mod:`lean_mlir.sweeps`); one result per run."""
    from lean_mlir.sweeps import sweep as run

    return run(arms, seeds, address=address, out=out, **options)


__all__ = [
    "BOOK_NETWORKS",
    "LAYERS",
    "MODELS",
    "Activation",
    "Attention",
    "AvgPool",
    "BatchNorm",
    "Bottleneck",
    "ClassToken",
    "Conv2d",
    "ConvBN",
    "ConvNeXtBlock",
    "Dense",
    "Diagnostic",
    "Flatten",
    "FusedMBConv",
    "GlobalAvgPool",
    "Init",
    "InvertedResidual",
    "Layer",
    "LayerNorm",
    "LayerScale",
    "Lowered",
    "MBConv",
    "MLIRError",
    "MaxPool",
    "MobileNetV3Block",
    "Model",
    "ModelError",
    "NetSpec",
    "Padding",
    "ParamSpec",
    "PatchEmbed",
    "PipelineError",
    "PositionEmbedding",
    "Predictor",
    "ReLU",
    "Residual",
    "ResidualBlock",
    "Role",
    "Signature",
    "SpecError",
    "SqueezeExcite",
    "TakeToken",
    "TrainConfig",
    "TrainStepper",
    "UniversalInvertedBottleneck",
    "ViTBlock",
    "__version__",
    "attention",
    "avg_pool",
    "batch_norm",
    "bottleneck",
    "cifar_cnn8",
    "class_token",
    "conv2d",
    "conv_bn",
    "convnext_block",
    "convnext_tiny",
    "dense",
    "efficientnet_b0",
    "efficientnet_v2_s",
    "evaluate_batch",
    "explain",
    "flatten",
    "from_torch",
    "fused_mbconv",
    "global_avg_pool",
    "init_optimizer_state",
    "inverted_residual",
    "layer_norm",
    "layer_scale",
    "lean_mlir_opt_path",
    "load_model",
    "lower",
    "max_pool",
    "mbconv",
    "mnist_bottleneck_resnet",
    "mnist_cnn",
    "mnist_cnn_bn",
    "mnist_convnext",
    "mnist_efficientnet",
    "mnist_mlp",
    "mnist_mobilenet",
    "mnist_mobilenet_v3",
    "mnist_resnet",
    "mnist_vit",
    "mobilenet_v2",
    "mobilenet_v3_block",
    "mobilenet_v3_large",
    "mobilenet_v4_conv_small",
    "patch_embed",
    "plugin_path",
    "position_embedding",
    "predict",
    "recipes",
    "relu",
    "residual",
    "residual_block",
    "resnet34",
    "resnet50",
    "run_pipeline",
    "squeeze_excite",
    "sweep",
    "take_token",
    "to_torch",
    "train",
    "train_step",
    "tune",
    "uib",
    "value_and_grad",
    "vit_block",
    "vit_tiny",
]
