"""The built-in networks (the LeanMlir book's MNIST chapters, as data) and networks by name."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

from lean_mlir.layers import (
    BLOCK_PADDINGS,
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
    max_pool,
    mbconv,
    mobilenet_v3_block,
    patch_embed,
    position_embedding,
    positive_int,
    residual_block,
    take_token,
    uib,
    vit_block,
)
from lean_mlir.spec import NetSpec

__all__ = [
    "BOOK_NETWORKS",
    "MODELS",
    "cifar_cnn8",
    "convnext_tiny",
    "efficientnet_b0",
    "efficientnet_v2_s",
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
    "mobilenet_v3_large",
    "mobilenet_v4_conv_small",
    "resnet34",
    "resnet50",
    "resolve",
    "vit_tiny",
]


def mnist_cnn() -> NetSpec:
    """The book's 2-D CNN without batch norm: 3,489,130 parameters."""
    return NetSpec("MNIST-CNN-noBN", input_shape=(1, 28, 28), layers=[
        conv2d(1, 32, 3, padding="same", activation="relu"),
        conv2d(32, 32, 3, padding="same", activation="relu"),
        max_pool(2, 2),
        flatten(),
        dense(6272, 512, activation="relu"),
        dense(512, 512, activation="relu"),
        dense(512, 10, activation="identity"),
    ])


def mnist_mlp() -> NetSpec:
    """The book's MLP, 784-512-512-10: 669,706 parameters."""
    return NetSpec("MNIST-MLP", input_shape=(1, 28, 28), layers=[
        flatten(),
        dense(784, 512, activation="relu"),
        dense(512, 512, activation="relu"),
        dense(512, 10, activation="identity"),
    ])


def mnist_cnn_bn() -> NetSpec:
    """The book's MNIST-CNN-BN: four convBn (32, 32, 64, 64 channels) with two 2x2 max
    pools, then dense 3136-512-10: 1,676,458 parameters (plus 384 running statistics)."""
    return NetSpec("MNIST-CNN-BN", input_shape=(1, 28, 28), layers=[
        conv_bn(1, 32, 3),
        conv_bn(32, 32, 3),
        max_pool(2, 2),
        conv_bn(32, 64, 3),
        conv_bn(64, 64, 3),
        max_pool(2, 2),
        flatten(),
        dense(3136, 512, activation="relu"),
        dense(512, 10, activation="identity"),
    ])


def mnist_resnet() -> NetSpec:
    """A small ResNet for 28x28 images: a convBn stem (16 channels), three stages of two
    basic blocks at 16, 32 and 64 channels (stride 2 into the second and third), global
    average pooling and one dense layer to 10 classes: 174,970 parameters (plus 1,120
    running statistics)."""
    return NetSpec("MNIST-ResNet", input_shape=(1, 28, 28), layers=[
        conv_bn(1, 16, 3),
        residual_block(16, 16),
        residual_block(16, 16),
        residual_block(16, 32, stride=2),
        residual_block(32, 32),
        residual_block(32, 64, stride=2),
        residual_block(64, 64),
        global_avg_pool(),
        dense(64, 10, activation="identity"),
    ])


def cifar_cnn8(batch_norm: bool = True, num_classes: int = 10,
               input_shape: tuple = (3, 32, 32)) -> NetSpec:
    """The book's CIFAR-10 network (its batch-norm chapter): eight 3x3 'same'
    convolutions in four stages of two (16, 16, 32 and 32 channels), a 2x2 max pool after
    each stage (32 -> 16 -> 8 -> 4 -> 2), flatten to 128 and the MNIST CNN's 2x512 dense
    head. ``batch_norm`` (the default) makes every convolution a convBn (no conv bias,
    batch norm, relu): 373,818 parameters plus 384 running statistics. Without it each
    is a convolution with bias and relu: 373,626. The book's listing keeps the conv
    bias under its batch norm (374,010, "374k"); the bias is redundant there, since the
    norm subtracts each channel's mean."""
    def conv(cin, cout):
        return conv_bn(cin, cout, 3) if batch_norm else conv2d(cin, cout, 3, activation="relu")

    layers = []
    channels = input_shape[0]
    for width in (16, 16, 32, 32):
        layers += [conv(channels, width), conv(width, width), max_pool(2, 2)]
        channels = width
    side = input_shape[1] // 16
    layers += [flatten(), dense(channels * side * side, 512, activation="relu"),
               dense(512, 512, activation="relu"), dense(512, num_classes)]
    name = "CIFAR-CNN8-BN" if batch_norm else "CIFAR-CNN8"
    return NetSpec(name, input_shape=tuple(input_shape), layers=layers)


def _pad(padding: str, kernel: int):
    """A top-level convolution's padding under a network's ``padding`` choice: "same"
    (the book's: XLA's, the odd pixel after a strided window) or "torch" (torchvision's
    ``kernel // 2`` zeros on every side); the blocks take the choice themselves."""
    if padding not in BLOCK_PADDINGS:
        raise ValueError(f"padding must be one of {', '.join(map(repr, BLOCK_PADDINGS))}, "
                         f"got {padding!r}")
    return "same" if padding == "same" else kernel // 2


def resnet34(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
             padding: str = "same") -> NetSpec:
    """ResNet-34 (He et al. 2016; the book's Imagenette chapter): a 7x7 stride-2 convBn
    stem to 64 channels, a 3x3 stride-2 max pool padded by 1, four stages of 3, 4, 6 and
    3 basic blocks at 64, 128, 256 and 512 channels (stride 2 into the last three),
    global average pooling and a dense layer. At 10 classes 21,289,802 parameters, as
    torchvision's ``resnet34(num_classes=10)``.

    ``padding="same"`` (the book's) pads the convolutions as XLA does (the odd pixel
    after) where torchvision pads both sides alike: the shapes and the parameters are
    the same, the strided windows sit one pixel apart. ``padding="torch"`` pads every
    convolution as torchvision does (``kernel // 2`` on every side), so torchvision's
    weights compute the same function (:func:`lean_mlir.weights.from_torch`)."""
    layers = [conv_bn(input_shape[0], 64, 7, stride=2, padding=_pad(padding, 7)),
              max_pool(3, 2, padding=1)]
    channels = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for i in range(blocks):
            layers.append(residual_block(channels, width, stride=2 if stage and i == 0 else 1,
                                         padding=padding))
            channels = width
    layers += [global_avg_pool(), dense(512, num_classes)]
    return NetSpec("ResNet-34", input_shape=tuple(input_shape), layers=layers)


#: MobileNetV2's stages (torchvision's ``inverted_residual_setting``): expansion
#: ratio, output channels, blocks, stride of the first block.
MOBILENET_V2_STAGES = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                       (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def _mobilenet(name, input_shape, num_classes, stem, stages, head, padding="same"):
    layers = [conv_bn(input_shape[0], stem, 3, stride=2 if input_shape[1] > 32 else 1,
                      padding=_pad(padding, 3), activation="relu6")]
    channels = stem
    for t, c, n, s in stages:
        for i in range(n):
            layers.append(inverted_residual(channels, c, s if i == 0 else 1, t,
                                            padding=padding))
            channels = c
    layers += [conv_bn(channels, head, 1, padding=_pad(padding, 1), activation="relu6"),
               global_avg_pool(), dense(head, num_classes)]
    return NetSpec(name, input_shape=input_shape, layers=layers)


def mobilenet_v2(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
                 padding: str = "same") -> NetSpec:
    """MobileNetV2 (Sandler et al. 2018; the book's chapter on depthwise convolutions):
    a stride-2 3x3 convBn stem to 32 channels, 17 inverted residual blocks
    (MOBILENET_V2_STAGES), a 1x1 convBn to 1280, global average pooling and a dense
    layer. At 10 classes 2,236,682 parameters, as torchvision's ``mobilenet_v2(num_classes
    =10)`` (whose dropout before the classifier holds none and is left out). The stem
    keeps stride 1 for inputs of 32 pixels or less (torchvision's has stride 2 always).
    ``padding`` as :func:`resnet34`'s: "same" (the book's) or "torch"."""
    return _mobilenet("MobileNetV2", tuple(input_shape), num_classes, 32,
                      MOBILENET_V2_STAGES, 1280, padding)


def mnist_mobilenet() -> NetSpec:
    """MobileNetV2's blocks, narrower and shallower, for 28x28 images: a 16-channel
    convBn stem, inverted residuals at 16, 24 (stride 2), 32 (stride 2) and 64 channels,
    a 1x1 convBn to 256, global average pooling and a dense layer to 10 classes."""
    return _mobilenet("MNIST-MobileNet", (1, 28, 28), 10, 16,
                      [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 2, 2), (6, 64, 1, 1)], 256)


#: EfficientNet-B0's stages (torchvision's): expansion ratio, kernel, stride of the
#: first block, output channels, blocks.
EFFICIENTNET_B0_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2),
                          (6, 3, 2, 80, 3), (6, 5, 1, 112, 3), (6, 5, 2, 192, 4),
                          (6, 3, 1, 320, 1)]
#: The small EfficientNet's stages, in the same form.
MNIST_EFFICIENTNET_STAGES = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 1),
                             (6, 3, 1, 64, 1)]


def mnist_efficientnet() -> NetSpec:
    """EfficientNet-B0's blocks, narrower and shallower, for 28x28 images: a 16-channel
    convBn stem (silu, stride 1), MBConv blocks (MNIST_EFFICIENTNET_STAGES: depthwise
    3x3 and 5x5, squeeze-and-excitation, silu) at 16, 24 (stride 2), 40 (stride 2) and
    64 channels, a 1x1 convBn to 256, global average pooling and a dense layer to 10
    classes."""
    return _efficientnet("MNIST-EfficientNet", (1, 28, 28), 10, 16, MNIST_EFFICIENTNET_STAGES,
                         256, stem_stride=1)


def efficientnet_b0(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
                    padding: str = "same") -> NetSpec:
    """EfficientNet-B0 (Tan and Le 2019; the book's squeeze-and-excitation chapter): a
    stride-2 3x3 convBn stem to 32 channels (silu), 16 MBConv blocks
    (EFFICIENTNET_B0_STAGES; depthwise 3x3 and 5x5, squeeze-and-excitation, silu), a
    1x1 convBn to 1280, global average pooling and a dense layer. At 10 classes
    4,020,358 parameters, as torchvision's ``efficientnet_b0(num_classes=10)`` (whose
    dropout and stochastic depth hold none and are left out). ``padding`` as
    :func:`resnet34`'s: "same" (the book's) or "torch"."""
    return _efficientnet("EfficientNet-B0", tuple(input_shape), num_classes, 32,
                         EFFICIENTNET_B0_STAGES, 1280, stem_stride=2, padding=padding)


def _efficientnet(name, input_shape, num_classes, stem, stages, head, stem_stride,
                  padding="same"):
    layers = [conv_bn(input_shape[0], stem, 3, stride=stem_stride, padding=_pad(padding, 3),
                      activation="silu")]
    channels = stem
    for t, k, s, c, n in stages:
        for i in range(n):
            layers.append(mbconv(channels, c, k, s if i == 0 else 1, t, padding=padding))
            channels = c
    layers += [conv_bn(channels, head, 1, padding=_pad(padding, 1), activation="silu"),
               global_avg_pool(), dense(head, num_classes)]
    return NetSpec(name, input_shape=input_shape, layers=layers)


def convnext_tiny(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
                  padding: str = "same") -> NetSpec:
    """ConvNeXt-T (Liu et al. 2022; the book's last convolutional chapter): a 4x4
    stride-4 patchify convolution to 96 channels and layer norm, four stages of 3, 3, 9
    and 3 ConvNeXt blocks at 96, 192, 384 and 768 channels with a layer norm and a 2x2
    stride-2 convolution between them, global average pooling, layer norm and a dense
    layer. Layer norms eps 1e-6. At 10 classes 27,827,818 parameters, as torchvision's
    ``convnext_tiny(num_classes=10)`` (whose stochastic depth holds none and is left
    out). ``padding="torch"`` pads as torchvision: none for the patchify and
    downsampling convolutions (where input sizes divisible by their strides give
    "same" none either), 3 on every side of the blocks' 7x7 (as "same" does)."""
    return _convnext("ConvNeXt-T", tuple(input_shape), num_classes, 4, (96, 192, 384, 768),
                     (3, 3, 9, 3), padding)


def mnist_convnext() -> NetSpec:
    """ConvNeXt's blocks, narrower and shallower, for 28x28 images: a 2x2 stride-2
    patchify convolution to 32 channels and layer norm (14x14), two ConvNeXt blocks at
    32 channels, layer norm and a 2x2 stride-2 convolution to 64 channels (7x7), two
    blocks at 64, global average pooling, layer norm and a dense layer to 10 classes."""
    return _convnext("MNIST-ConvNeXt", (1, 28, 28), 10, 2, (32, 64), (2, 2))


def _convnext(name, input_shape, num_classes, patch, widths, depths, padding="same"):
    # torchvision's patchify and downsampling convolutions pad nothing.
    strided = "same" if _pad(padding, patch) == "same" else 0
    layers = [conv2d(input_shape[0], widths[0], patch, stride=patch, padding=strided),
              layer_norm(widths[0], 1e-6)]
    for stage, (width, depth) in enumerate(zip(widths, depths, strict=True)):
        if stage:
            layers += [layer_norm(widths[stage - 1], 1e-6),
                       conv2d(widths[stage - 1], width, 2, stride=2, padding=strided)]
        layers += [convnext_block(width, padding=padding) for _ in range(depth)]
    layers += [global_avg_pool(), layer_norm(widths[-1], 1e-6),
               dense(widths[-1], num_classes)]
    return NetSpec(name, input_shape=input_shape, layers=layers)


def vit_tiny(num_classes: int = 10, input_shape: tuple = (3, 224, 224), patch: int = 16,
             activation: str = "gelu") -> NetSpec:
    """ViT-Tiny (Dosovitskiy et al. 2021, DeiT-Ti's size; the book's transformer
    chapter): 16x16 patches as 192-channel tokens, a class token, a learned position
    embedding, 12 pre-norm blocks of 3-head attention and a 768-channel MLP, layer
    norm, and a dense head on the class token's output. Layer norms eps 1e-6. At 10
    classes 5,526,346 parameters, as timm's ``vit_tiny_patch16_224`` (whose dropout
    and stochastic depth hold none and are left out). Any input the patch divides: the
    position embedding is sized to its tokens. ``activation``: "gelu" (exact, timm's)
    or "gelu_tanh" (the book's approximation)."""
    return _vit("ViT-Tiny", tuple(input_shape), num_classes, patch, 192, 12, 3, 768, activation)


def mnist_vit() -> NetSpec:
    """A small vision transformer for 28x28 images: 4x4 patches as 49 tokens of 64
    channels, a class token, 4 blocks of 4-head attention and a 128-channel MLP,
    layer norm and a dense head: 139,018 parameters."""
    return _vit("MNIST-ViT", (1, 28, 28), 10, 4, 64, 4, 4, 128, "gelu")


def _vit(name, input_shape, num_classes, patch, dim, depth, heads, mlp_dim, activation):
    channels, height, width = input_shape
    positive_int(patch, "patch")
    if height % patch or width % patch:
        raise ValueError(f"{name}: patch {patch} does not divide the input's "
                         f"{height}x{width}")
    tokens = (height // patch) * (width // patch) + 1
    layers = [patch_embed(channels, dim, patch), class_token(dim),
              position_embedding(tokens, dim),
              *[vit_block(dim, heads, mlp_dim, 1e-6, activation) for _ in range(depth)],
              layer_norm(dim, 1e-6), take_token(), dense(dim, num_classes)]
    return NetSpec(name, input_shape=input_shape, layers=layers)


def resnet50(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
             padding: str = "same") -> NetSpec:
    """ResNet-50 (He et al. 2016): ResNet-34's stem, four stages of 3, 4, 6 and 3
    bottleneck blocks at widths 64, 128, 256 and 512 (outputs four times that; stride 2
    into the last three, on the 3x3 as torchvision's), global average pooling and a
    dense layer. At 10 classes 23,528,522 parameters, as torchvision's
    ``resnet50(num_classes=10)``. ``padding`` as :func:`resnet34`'s."""
    layers = [conv_bn(input_shape[0], 64, 7, stride=2, padding=_pad(padding, 7)),
              max_pool(3, 2, padding=1)]
    channels = 64
    for stage, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)]):
        for i in range(blocks):
            layers.append(bottleneck(channels, width, 2 if stage and i == 0 else 1,
                                     padding=padding))
            channels = 4 * width
    layers += [global_avg_pool(), dense(channels, num_classes)]
    return NetSpec("ResNet-50", input_shape=tuple(input_shape), layers=layers)


#: MobileNetV3-Large's blocks (torchvision's ``bneck_conf`` rows): depthwise kernel,
#: expanded channels, output channels, squeeze-and-excitation, activation, stride.
MOBILENET_V3_LARGE_BLOCKS = [
    (3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2),
    (3, 72, 24, False, "relu", 1), (5, 72, 40, True, "relu", 2),
    (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
    (3, 240, 80, False, "hardswish", 2), (3, 200, 80, False, "hardswish", 1),
    (3, 184, 80, False, "hardswish", 1), (3, 184, 80, False, "hardswish", 1),
    (3, 480, 112, True, "hardswish", 1), (3, 672, 112, True, "hardswish", 1),
    (5, 672, 160, True, "hardswish", 2), (5, 960, 160, True, "hardswish", 1),
    (5, 960, 160, True, "hardswish", 1)]
#: MobileNetV3's batch norms.
MOBILENET_V3_BN = {"eps": 1e-3, "momentum": 0.01}


def mobilenet_v3_large(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
                       padding: str = "same") -> NetSpec:
    """MobileNetV3-Large (Howard et al. 2019): a stride-2 3x3 convBn stem to 16 channels
    (hardswish), 15 blocks (MOBILENET_V3_LARGE_BLOCKS: relu or hardswish, some with a
    hardsigmoid-gated squeeze-and-excitation), a 1x1 convBn to 960 (hardswish), global
    average pooling, a dense layer to 1280 (hardswish) and one to the classes; batch
    norms eps 1e-3, momentum 0.01. At 10 classes 4,214,842 parameters, as torchvision's
    ``mobilenet_v3_large(num_classes=10)`` (its dropout holds none and is left out)."""
    return _mobilenet_v3("MobileNetV3-Large", tuple(input_shape), num_classes,
                         MOBILENET_V3_LARGE_BLOCKS, 960, 1280, padding, stem_stride=2)


def _mobilenet_v3(name, input_shape, num_classes, blocks, last, hidden, padding, stem_stride):
    layers = [conv_bn(input_shape[0], 16, 3, stem_stride, _pad(padding, 3), "hardswish",
                      **MOBILENET_V3_BN)]
    channels = 16
    for kernel, expanded, out, se, activation, stride in blocks:
        layers.append(mobilenet_v3_block(channels, expanded, out, kernel, stride, se,
                                         activation, padding=padding))
        channels = out
    layers += [conv_bn(channels, last, 1, activation="hardswish", **MOBILENET_V3_BN),
               global_avg_pool(), dense(last, hidden, "hardswish"), dense(hidden, num_classes)]
    return NetSpec(name, input_shape=input_shape, layers=layers)


def mnist_mobilenet_v3() -> NetSpec:
    """MobileNetV3's blocks, narrower and shallower, for 28x28 images: a 16-channel
    hardswish stem (stride 1), five blocks (relu and hardswish, squeeze-and-excitation,
    3x3 and 5x5, stride 2 twice: 28 -> 7) to 48 channels, a 1x1 convBn to 192, global
    average pooling, dense to 256 (hardswish) and to 10 classes."""
    blocks = [(3, 16, 16, False, "relu", 1), (3, 48, 24, False, "relu", 2),
              (5, 72, 32, True, "relu", 2), (3, 96, 32, True, "hardswish", 1),
              (5, 128, 48, True, "hardswish", 1)]
    return _mobilenet_v3("MNIST-MobileNetV3", (1, 28, 28), 10, blocks, 192, 256, "same",
                         stem_stride=1)


def mnist_bottleneck_resnet() -> NetSpec:
    """ResNet-50's bottleneck blocks for 28x28 images: a 16-channel convBn stem, three
    stages of two bottlenecks at widths 8, 16 and 32 (outputs 32, 64, 128; stride 2
    into the second and third), global average pooling and a dense layer."""
    layers, channels = [conv_bn(1, 16, 3)], 16
    for stage, width in enumerate((8, 16, 32)):
        for i in range(2):
            layers.append(bottleneck(channels, width, 2 if stage and i == 0 else 1))
            channels = 4 * width
    layers += [global_avg_pool(), dense(channels, 10)]
    return NetSpec("MNIST-BottleneckResNet", input_shape=(1, 28, 28), layers=layers)


#: EfficientNetV2-S's stages (torchvision's): fused or not, expansion ratio, kernel,
#: stride of the first block, output channels, blocks.
EFFICIENTNET_V2_S_STAGES = [("fused", 1, 3, 1, 24, 2), ("fused", 4, 3, 2, 48, 4),
                            ("fused", 4, 3, 2, 64, 4), ("mbconv", 4, 3, 2, 128, 6),
                            ("mbconv", 6, 3, 1, 160, 9), ("mbconv", 6, 3, 2, 256, 15)]


def efficientnet_v2_s(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
                      padding: str = "same") -> NetSpec:
    """EfficientNetV2-S (Tan and Le 2021): a stride-2 3x3 convBn stem to 24 channels
    (silu), three stages of fused MBConv and three of MBConv (EFFICIENTNET_V2_S_STAGES),
    a 1x1 convBn to 1280 (silu), global average pooling and a dense layer; batch norms
    eps 1e-3. At 10 classes 20,190,298 parameters, as torchvision's
    ``efficientnet_v2_s(num_classes=10)`` (its dropout and stochastic depth hold none and
    are left out)."""
    eps = 1e-3
    layers = [conv_bn(input_shape[0], 24, 3, 2, _pad(padding, 3), "silu", eps=eps)]
    channels = 24
    for kind, ratio, kernel, stride, out, blocks in EFFICIENTNET_V2_S_STAGES:
        make = fused_mbconv if kind == "fused" else mbconv
        for i in range(blocks):
            layers.append(make(channels, out, kernel, stride if i == 0 else 1, ratio,
                               padding=padding, eps=eps))
            channels = out
    layers += [conv_bn(channels, 1280, 1, activation="silu", eps=eps), global_avg_pool(),
               dense(1280, num_classes)]
    return NetSpec("EfficientNetV2-S", input_shape=tuple(input_shape), layers=layers)


#: MobileNetV4-Conv-S's stages (timm's ``mobilenetv4_conv_small``): a block is
#: ("conv", out, kernel, stride) or ("uib", out, start kernel, middle kernel, expansion,
#: stride), a kernel of 0 none.
MOBILENET_V4_CONV_SMALL_STAGES = [
    [("conv", 32, 3, 2), ("conv", 32, 1, 1)],
    [("conv", 96, 3, 2), ("conv", 64, 1, 1)],
    [("uib", 96, 5, 5, 3.0, 2), *[("uib", 96, 0, 3, 2.0, 1)] * 4, ("uib", 96, 3, 0, 4.0, 1)],
    [("uib", 128, 3, 3, 6.0, 2), ("uib", 128, 5, 5, 4.0, 1), ("uib", 128, 0, 5, 4.0, 1),
     ("uib", 128, 0, 5, 3.0, 1), ("uib", 128, 0, 3, 4.0, 1), ("uib", 128, 0, 3, 4.0, 1)],
    [("conv", 960, 1, 1)]]


def mobilenet_v4_conv_small(num_classes: int = 10, input_shape: tuple = (3, 224, 224),
                            padding: str = "same") -> NetSpec:
    """MobileNetV4-Conv-S (Qin et al. 2024): a stride-2 3x3 convBn stem to 32 channels,
    convBn and universal inverted bottleneck blocks (MOBILENET_V4_CONV_SMALL_STAGES, all
    relu), then timm's head: global average pooling first, a 1x1 convolution without
    bias to 1280 (a dense layer here, on the pooled features), batch norm with relu, and
    a dense layer. At 10 classes 2,505,834 parameters, as timm's
    ``mobilenetv4_conv_small(num_classes=10)``."""
    layers = [conv_bn(input_shape[0], 32, 3, 2, _pad(padding, 3))]
    channels = 32
    for stage in MOBILENET_V4_CONV_SMALL_STAGES:
        for kind, out, *rest in stage:
            if kind == "conv":
                kernel, stride = rest
                layers.append(conv_bn(channels, out, kernel, stride, _pad(padding, kernel)))
            else:
                start, mid, ratio, stride = rest
                layers.append(uib(channels, out, start, mid, ratio, stride, padding=padding))
            channels = out
    layers += [global_avg_pool(), dense(channels, 1280, bias=False), batch_norm(1280, "relu"),
               dense(1280, num_classes)]
    return NetSpec("MobileNetV4-Conv-S", input_shape=tuple(input_shape), layers=layers)


#: The book's networks of its later chapters, at their own input sizes (they train
#: on data read from the user's disk, not on MNIST).
BOOK_NETWORKS = {"cifar-cnn8-bn": cifar_cnn8, "cifar-cnn8": lambda: cifar_cnn8(batch_norm=False),
                 "resnet34": resnet34, "mobilenet-v2": mobilenet_v2,
                 "efficientnet-b0": efficientnet_b0, "convnext-tiny": convnext_tiny,
                 "vit-tiny": vit_tiny, "resnet50": resnet50,
                 "mobilenet-v3-large": mobilenet_v3_large, "efficientnet-v2-s": efficientnet_v2_s,
                 "mobilenet-v4-conv-small": mobilenet_v4_conv_small}

#: Models by the names the command line accepts.
MODELS = {"cnn": mnist_cnn, "mlp": mnist_mlp, "cnn-bn": mnist_cnn_bn, "resnet": mnist_resnet,
          "mobilenet": mnist_mobilenet, "efficientnet": mnist_efficientnet,
          "convnext": mnist_convnext, "vit": mnist_vit,
          "bottleneck-resnet": mnist_bottleneck_resnet, "mobilenet-v3": mnist_mobilenet_v3}


def resolve(ref: str, padding: str | None = None) -> NetSpec:
    """A network by reference: a built-in name (a key of :data:`MODELS` or
    :data:`BOOK_NETWORKS`), or ``path/to/file.py:NAME`` naming a NetSpec, or a
    function returning one, in a file of the user's. ValueError with one line
    saying what is wrong otherwise. ``padding`` ("same" or "torch") goes to the
    built-ins that take one (the Imagenette networks); the others, and a user's
    network, are built as they are."""
    builtin = MODELS.get(ref) or BOOK_NETWORKS.get(ref)
    if builtin is not None:
        takes = padding is not None and "padding" in inspect.signature(builtin).parameters
        return builtin(padding=padding) if takes else builtin()
    path, sep, name = ref.rpartition(":")
    if not sep or not path.endswith(".py") or not name:
        raise ValueError(f"unknown model {ref!r}; expected one of "
                         f"{', '.join([*MODELS, *BOOK_NETWORKS])} "
                         "or FILE.py:NAME")
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{file}: no such file (model {ref!r})")
    loader = importlib.util.spec_from_file_location(f"_lean_mlir_user_{file.stem}", file)
    module = importlib.util.module_from_spec(loader)
    try:
        loader.loader.exec_module(module)
    except Exception as e:
        first = str(e).splitlines()[0] if str(e) else ""
        raise ValueError(f"{file}: running it failed: {type(e).__name__}: {first}") from e
    if not hasattr(module, name):
        raise ValueError(f"{file}: defines no {name!r}")
    found = getattr(module, name)
    if callable(found) and not isinstance(found, NetSpec):
        try:
            found = found()
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else ""
            raise ValueError(f"{file}:{name}(): {type(e).__name__}: {first}") from e
    if not isinstance(found, NetSpec):
        raise ValueError(  # noqa: TRY004 - the command line reports ValueErrors in one line
            f"{file}:{name} is a {type(found).__name__}, not a lean_mlir NetSpec (or a "
            "function returning one)")
    return found
