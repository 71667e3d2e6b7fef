"""Four reference networks in plain torch.nn, with their references' exact state_dicts.

torchvision and timm do not import here, so ResNet-50, MobileNetV3-Large and
EfficientNetV2-S (torchvision's ``resnet50``, ``mobilenet_v3_large`` and
``efficientnet_v2_s``) and MobileNetV4-Conv-Small (timm's ``mobilenetv4_conv_small``)
are written below with their references' module structure: the same ``state_dict()``
keys and shapes, and in eval mode the same forward (dropout and stochastic depth, which
hold no parameters and are identities in eval, are left out or kept as placeholders
where they fix a ``Sequential``'s indices).

Each network is built from a table of plain data (``RESNET50_STAGES``,
``MOBILENET_V3_LARGE_BLOCKS``, ``EFFICIENTNET_V2_S_STAGES``,
``MOBILENET_V4_CONV_SMALL_BLOCKS``) so that another framework can build the same network
from the same table; the parameter counts and keys checked in test_torch_zoo.py then
vouch for the tables too.

Conventions shared by all four: every convolution pads ``kernel // 2`` on each side
(PyTorch's symmetric padding; all kernels here are odd, so this is torchvision's
``(k - 1) // 2`` and timm's default ``get_padding``), and a convolution followed by a
batch norm has no bias. The only biased convolutions are the squeeze-and-excitation
``fc1``/``fc2``.
"""

from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

__all__ = [
    "EFFICIENTNET_V2_S_STAGES", "MOBILENET_V3_LARGE_BLOCKS", "MOBILENET_V4_CONV_SMALL_BLOCKS",
    "NETWORKS", "RESNET50_STAGES", "EfficientNetV2S", "EfficientNetV2Stage",
    "MobileNetV3Block", "MobileNetV3Large", "MobileNetV4Block", "MobileNetV4ConvSmall",
    "ResNet50", "ResNetStage", "make_divisible",
]


def make_divisible(value: float, divisor: int = 8) -> int:
    """The channel rounding torchvision's ``_make_divisible`` and timm's
    ``make_divisible`` share: to the nearest multiple of ``divisor`` (at least
    ``divisor``), one multiple up when that would lose more than 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def conv_norm_act(cin, cout, kernel, stride=1, groups=1, act=None, eps=1e-5, momentum=0.1):
    """torchvision's ``Conv2dNormActivation``: ``.0`` the convolution (no bias), ``.1``
    the batch norm, ``.2`` the activation when there is one."""
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout, eps=eps, momentum=momentum)]
    return nn.Sequential(*layers, *([act()] if act else []))


class SqueezeExcitation(nn.Module):
    """torchvision's ``ops.misc.SqueezeExcitation``: ``x * gate(fc2(act(fc1(mean(x)))))``
    with ``fc1``, ``fc2`` biased 1x1 convolutions."""

    def __init__(self, channels, squeeze, act, gate):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)
        self.act, self.gate = act, gate

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(F.adaptive_avg_pool2d(x, 1)))))


# -- ResNet-50 (torchvision's resnet50) -------------------------------------------------

class ResNetStage(NamedTuple):
    """One of ``layer1``..``layer4``: bottleneck width (output is ``4 * width``), blocks,
    and the stride of its first block (on the 3x3 and the downsample, "v1.5")."""
    width: int
    blocks: int
    stride: int


RESNET50_STAGES = [ResNetStage(64, 3, 1), ResNetStage(128, 4, 2), ResNetStage(256, 6, 2),
                   ResNetStage(512, 3, 2)]
RESNET50_EXPANSION = 4


class Bottleneck(nn.Module):
    """relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x))))))) + shortcut(x)): conv1 1x1,
    conv2 3x3 with the stride, conv3 1x1 to ``4 * width``; the shortcut is
    ``downsample`` (``.0`` 1x1 conv with the stride, ``.1`` batch norm) where the stride
    or the channels change, else the input."""

    def __init__(self, cin, width, stride):
        super().__init__()
        cout = RESNET50_EXPANSION * width
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet50(nn.Module):
    """Stem conv1 7x7/2 (pad 3), bn1, relu, max pool 3/2 (pad 1); layer1..layer4 of
    bottlenecks (RESNET50_STAGES); global average pool; ``fc`` Linear(2048, classes).
    Batch norm eps 1e-5."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (width, blocks, stride) in enumerate(RESNET50_STAGES, 1):
            stage = []
            for j in range(blocks):
                stage.append(Bottleneck(cin, width, stride if j == 0 else 1))
                cin = RESNET50_EXPANSION * width
            setattr(self, f"layer{i}", nn.Sequential(*stage))
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, len(RESNET50_STAGES) + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# -- MobileNetV3-Large (torchvision's mobilenet_v3_large) -------------------------------

class MobileNetV3Block(NamedTuple):
    """One inverted residual (torchvision's ``bneck_conf`` row, width 1, no dilation):
    depthwise kernel, expanded channels, output channels, squeeze-and-excitation or not,
    activation ("relu" or "hardswish"), stride. Its input is the previous row's output
    (the stem's 16 for the first)."""
    kernel: int
    expanded: int
    out: int
    use_se: bool
    activation: str
    stride: int


MOBILENET_V3_LARGE_BLOCKS = [
    MobileNetV3Block(3, 16, 16, False, "relu", 1),
    MobileNetV3Block(3, 64, 24, False, "relu", 2),
    MobileNetV3Block(3, 72, 24, False, "relu", 1),
    MobileNetV3Block(5, 72, 40, True, "relu", 2),
    MobileNetV3Block(5, 120, 40, True, "relu", 1),
    MobileNetV3Block(5, 120, 40, True, "relu", 1),
    MobileNetV3Block(3, 240, 80, False, "hardswish", 2),
    MobileNetV3Block(3, 200, 80, False, "hardswish", 1),
    MobileNetV3Block(3, 184, 80, False, "hardswish", 1),
    MobileNetV3Block(3, 184, 80, False, "hardswish", 1),
    MobileNetV3Block(3, 480, 112, True, "hardswish", 1),
    MobileNetV3Block(3, 672, 112, True, "hardswish", 1),
    MobileNetV3Block(5, 672, 160, True, "hardswish", 2),
    MobileNetV3Block(5, 960, 160, True, "hardswish", 1),
    MobileNetV3Block(5, 960, 160, True, "hardswish", 1),
]
MOBILENET_V3_LARGE_STEM = 16       # 3x3/2 conv, hardswish
MOBILENET_V3_LARGE_LAST_CONV = 960  # 1x1 conv, 6 x the last block's 160, hardswish
MOBILENET_V3_LARGE_HIDDEN = 1280    # classifier.0's width, hardswish after it
MOBILENET_V3_BN = {"eps": 1e-3, "momentum": 0.01}

_ACTIVATIONS = {"relu": nn.ReLU, "hardswish": nn.Hardswish, "silu": nn.SiLU}


class MobileNetV3InvertedResidual(nn.Module):
    """``block``: [expand 1x1 (only where expanded != input)], depthwise k x k with the
    stride, [SE: squeeze ``make_divisible(expanded // 4)``, relu, hardsigmoid], project
    1x1 without activation; plus the input where stride 1 and channels kept."""

    def __init__(self, cin, cfg: MobileNetV3Block):
        super().__init__()
        act = _ACTIVATIONS[cfg.activation]
        layers = ([conv_norm_act(cin, cfg.expanded, 1, act=act, **MOBILENET_V3_BN)]
                  if cfg.expanded != cin else [])
        layers.append(conv_norm_act(cfg.expanded, cfg.expanded, cfg.kernel, cfg.stride,
                                    cfg.expanded, act, **MOBILENET_V3_BN))
        if cfg.use_se:
            layers.append(SqueezeExcitation(cfg.expanded, make_divisible(cfg.expanded // 4),
                                            F.relu, F.hardsigmoid))
        layers.append(conv_norm_act(cfg.expanded, cfg.out, 1, **MOBILENET_V3_BN))
        self.block = nn.Sequential(*layers)
        self.residual = cfg.stride == 1 and cin == cfg.out

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MobileNetV3Large(nn.Module):
    """``features.0`` stem, ``features.1``..``15`` the blocks, ``features.16`` the last
    conv; global average pool; ``classifier`` = [Linear(960, 1280), hardswish, dropout,
    Linear(1280, classes)]. Batch norm eps 1e-3."""

    def __init__(self, num_classes=10):
        super().__init__()
        cin = MOBILENET_V3_LARGE_STEM
        features = [conv_norm_act(3, cin, 3, 2, act=nn.Hardswish, **MOBILENET_V3_BN)]
        for cfg in MOBILENET_V3_LARGE_BLOCKS:
            features.append(MobileNetV3InvertedResidual(cin, cfg))
            cin = cfg.out
        features.append(conv_norm_act(cin, MOBILENET_V3_LARGE_LAST_CONV, 1, act=nn.Hardswish,
                                      **MOBILENET_V3_BN))
        self.features = nn.Sequential(*features)
        hidden = MOBILENET_V3_LARGE_HIDDEN
        self.classifier = nn.Sequential(nn.Linear(MOBILENET_V3_LARGE_LAST_CONV, hidden),
                                        nn.Hardswish(), nn.Dropout(0.2),
                                        nn.Linear(hidden, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


# -- EfficientNetV2-S (torchvision's efficientnet_v2_s) ---------------------------------

class EfficientNetV2Stage(NamedTuple):
    """One of ``features.1``..``6`` (torchvision's ``FusedMBConvConfig`` /
    ``MBConvConfig`` rows): block ("fused" or "mbconv"), expansion ratio, kernel, stride
    of the first block, input and output channels of the first block (later blocks take
    ``out`` in, stride 1), blocks."""
    block: str
    expand: int
    kernel: int
    stride: int
    cin: int
    out: int
    layers: int


EFFICIENTNET_V2_S_STAGES = [
    EfficientNetV2Stage("fused", 1, 3, 1, 24, 24, 2),
    EfficientNetV2Stage("fused", 4, 3, 2, 24, 48, 4),
    EfficientNetV2Stage("fused", 4, 3, 2, 48, 64, 4),
    EfficientNetV2Stage("mbconv", 4, 3, 2, 64, 128, 6),
    EfficientNetV2Stage("mbconv", 6, 3, 1, 128, 160, 9),
    EfficientNetV2Stage("mbconv", 6, 3, 2, 160, 256, 15),
]
EFFICIENTNET_V2_S_STEM = 24    # 3x3/2 conv, silu
EFFICIENTNET_V2_S_HEAD = 1280  # 1x1 conv, silu
EFFICIENTNET_V2_BN = {"eps": 1e-3}   # torchvision's v2 norm_layer (momentum left at 0.1)


class FusedMBConv(nn.Module):
    """``block``: expand 1: [k x k conv with the stride, bn, silu] alone; else [k x k
    conv to ``make_divisible(in * expand)`` with the stride, bn, silu] and [1x1 project,
    bn]. No squeeze-and-excitation. Plus the input where stride 1 and channels kept."""

    def __init__(self, cin, cout, expand, kernel, stride):
        super().__init__()
        hidden = make_divisible(cin * expand)
        if hidden == cin:
            layers = [conv_norm_act(cin, cout, kernel, stride, act=nn.SiLU,
                                    **EFFICIENTNET_V2_BN)]
        else:
            layers = [conv_norm_act(cin, hidden, kernel, stride, act=nn.SiLU,
                                    **EFFICIENTNET_V2_BN),
                      conv_norm_act(hidden, cout, 1, **EFFICIENTNET_V2_BN)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class MBConv(nn.Module):
    """``block``: [1x1 expand to ``make_divisible(in * expand)``, bn, silu] (where that
    differs from ``in``), [depthwise k x k with the stride, bn, silu], SE (squeeze
    ``max(1, in // 4)``, silu, sigmoid), [1x1 project, bn]; plus the input where stride 1
    and channels kept."""

    def __init__(self, cin, cout, expand, kernel, stride):
        super().__init__()
        hidden = make_divisible(cin * expand)
        layers = ([conv_norm_act(cin, hidden, 1, act=nn.SiLU, **EFFICIENTNET_V2_BN)]
                  if hidden != cin else [])
        layers += [conv_norm_act(hidden, hidden, kernel, stride, hidden, nn.SiLU,
                                 **EFFICIENTNET_V2_BN),
                   SqueezeExcitation(hidden, max(1, cin // 4), F.silu, torch.sigmoid),
                   conv_norm_act(hidden, cout, 1, **EFFICIENTNET_V2_BN)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class EfficientNetV2S(nn.Module):
    """``features.0`` stem, ``features.1``..``6`` the stages (EFFICIENTNET_V2_S_STAGES),
    ``features.7`` the 1x1 head conv to 1280; global average pool; ``classifier`` =
    [dropout, Linear(1280, classes)]. Batch norm eps 1e-3 everywhere."""

    def __init__(self, num_classes=10):
        super().__init__()
        features = [conv_norm_act(3, EFFICIENTNET_V2_S_STEM, 3, 2, act=nn.SiLU,
                                  **EFFICIENTNET_V2_BN)]
        for kind, expand, kernel, stride, cin, cout, layers in EFFICIENTNET_V2_S_STAGES:
            block = FusedMBConv if kind == "fused" else MBConv
            features.append(nn.Sequential(*[
                block(cin if i == 0 else cout, cout, expand, kernel, stride if i == 0 else 1)
                for i in range(layers)]))
        features.append(conv_norm_act(EFFICIENTNET_V2_S_STAGES[-1].out, EFFICIENTNET_V2_S_HEAD,
                                      1, act=nn.SiLU, **EFFICIENTNET_V2_BN))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2),
                                        nn.Linear(EFFICIENTNET_V2_S_HEAD, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1))


# -- MobileNetV4-Conv-Small (timm's mobilenetv4_conv_small) -----------------------------

class MobileNetV4Block(NamedTuple):
    """One block of ``blocks.S.B`` as timm's builder makes it from
    ``_gen_mobilenet_v4``'s strings, repeats unrolled. ``kind`` "conv" is timm's
    ``ConvBnAct`` (``cn_``): a ``kernel`` x ``kernel`` conv with the stride, bn, relu, no
    residual. ``kind`` "uir" is ``UniversalInvertedResidual`` (``uir_``): an optional
    depthwise ``start_kernel`` conv (``a``; 0 none) with bn and no activation, a 1x1
    expansion to ``make_divisible(in * expand)`` (``e``) with bn and relu, an optional
    depthwise ``mid_kernel`` conv (``k``; 0 none) with bn and relu, a 1x1 projection with
    bn and no activation; the stride sits on the mid conv, or on the start conv where
    there is no mid one; plus the input where stride 1 and channels kept."""
    kind: str
    out: int
    stride: int
    kernel: int = 0
    start_kernel: int = 0
    mid_kernel: int = 0
    expand: float = 0.0


def _conv(out, stride, kernel):
    return MobileNetV4Block("conv", out, stride, kernel=kernel)


def _uir(out, stride, start, mid, expand):
    return MobileNetV4Block("uir", out, stride, start_kernel=start, mid_kernel=mid,
                            expand=expand)


#: Stages of blocks: ``MOBILENET_V4_CONV_SMALL_BLOCKS[s][b]`` is ``blocks.s.b``.
MOBILENET_V4_CONV_SMALL_BLOCKS = [
    [_conv(32, 2, 3), _conv(32, 1, 1)],
    [_conv(96, 2, 3), _conv(64, 1, 1)],
    [_uir(96, 2, 5, 5, 3.0), *[_uir(96, 1, 0, 3, 2.0)] * 4, _uir(96, 1, 3, 0, 4.0)],
    [_uir(128, 2, 3, 3, 6.0), _uir(128, 1, 5, 5, 4.0), _uir(128, 1, 0, 5, 4.0),
     _uir(128, 1, 0, 5, 3.0), _uir(128, 1, 0, 3, 4.0), _uir(128, 1, 0, 3, 4.0)],
    [_conv(960, 1, 1)],
]
MOBILENET_V4_CONV_SMALL_STEM = 32   # conv_stem 3x3/2, bn1 with relu
MOBILENET_V4_CONV_SMALL_HEAD = 1280  # conv_head 1x1 after the pooling, norm_head with relu


class ConvNorm(nn.Module):
    """timm's ``ConvNormAct``: ``conv`` (no bias) then ``bn`` (a ``BatchNormAct2d``, whose
    keys sit directly under ``bn``), relu after when ``act``."""

    def __init__(self, cin, cout, kernel, stride=1, groups=1, act=True):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x):
        x = self.bn(self.conv(x))
        return F.relu(x) if self.act else x


class ConvBnAct(nn.Module):
    """timm's ``_efficientnet_blocks.ConvBnAct``: ``conv`` then ``bn1`` with relu."""

    def __init__(self, cin, cfg: MobileNetV4Block):
        super().__init__()
        self.conv = nn.Conv2d(cin, cfg.out, cfg.kernel, cfg.stride, cfg.kernel // 2, bias=False)
        self.bn1 = nn.BatchNorm2d(cfg.out)

    def forward(self, x):
        return F.relu(self.bn1(self.conv(x)))


class UniversalInvertedResidual(nn.Module):
    """timm's ``UniversalInvertedResidual`` without layer scale (none in the conv
    variants): ``dw_start``, ``pw_exp``, ``dw_mid``, ``pw_proj`` (absent ones hold no
    keys)."""

    def __init__(self, cin, cfg: MobileNetV4Block):
        super().__init__()
        mid = make_divisible(cin * cfg.expand)
        start_stride = 1 if cfg.mid_kernel else cfg.stride
        self.dw_start = (ConvNorm(cin, cin, cfg.start_kernel, start_stride, cin, act=False)
                         if cfg.start_kernel else None)
        self.pw_exp = ConvNorm(cin, mid, 1)
        self.dw_mid = (ConvNorm(mid, mid, cfg.mid_kernel, cfg.stride, mid)
                       if cfg.mid_kernel else None)
        self.pw_proj = ConvNorm(mid, cfg.out, 1, act=False)
        self.residual = cfg.stride == 1 and cin == cfg.out

    def forward(self, x):
        out = x if self.dw_start is None else self.dw_start(x)
        out = self.pw_exp(out)
        out = out if self.dw_mid is None else self.dw_mid(out)
        out = self.pw_proj(out)
        return x + out if self.residual else out


class MobileNetV4ConvSmall(nn.Module):
    """``conv_stem`` 3x3/2 and ``bn1`` (relu), ``blocks`` (MOBILENET_V4_CONV_SMALL_BLOCKS),
    then timm's MobileNetV4 head: global average pool *first*, ``conv_head`` 1x1
    960 -> 1280 without bias, ``norm_head`` batch norm with relu, flatten,
    ``classifier`` Linear(1280, classes). Batch norm eps 1e-5 (timm's default)."""

    def __init__(self, num_classes=10):
        super().__init__()
        cin = MOBILENET_V4_CONV_SMALL_STEM
        self.conv_stem = nn.Conv2d(3, cin, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cin)
        stages = []
        for stage in MOBILENET_V4_CONV_SMALL_BLOCKS:
            blocks = []
            for cfg in stage:
                blocks.append((ConvBnAct if cfg.kind == "conv" else
                               UniversalInvertedResidual)(cin, cfg))
                cin = cfg.out
            stages.append(nn.Sequential(*blocks))
        self.blocks = nn.Sequential(*stages)
        self.conv_head = nn.Conv2d(cin, MOBILENET_V4_CONV_SMALL_HEAD, 1, bias=False)
        self.norm_head = nn.BatchNorm2d(MOBILENET_V4_CONV_SMALL_HEAD)
        self.classifier = nn.Linear(MOBILENET_V4_CONV_SMALL_HEAD, num_classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv_stem(x))))
        x = F.relu(self.norm_head(self.conv_head(F.adaptive_avg_pool2d(x, 1))))
        return self.classifier(torch.flatten(x, 1))


NETWORKS = {
    "resnet50": ResNet50,
    "mobilenet_v3_large": MobileNetV3Large,
    "efficientnet_v2_s": EfficientNetV2S,
    "mobilenet_v4_conv_small": MobileNetV4ConvSmall,
}
