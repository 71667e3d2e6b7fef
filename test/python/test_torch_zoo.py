"""torch_zoo's four networks have their references' parameters, keys and shapes.

The references themselves do not import here (torchvision and timm), so the checks are
what their sources and documentation say: the parameter count at 10 classes and at
1000 (torchvision's ``num_params`` in its weights' metadata, timm's 3.77 M in its
results tables), keys and shapes read off torchvision's resnet.py, mobilenetv3.py,
efficientnet.py and timm's mobilenetv3.py / _efficientnet_blocks.py, the batch-norm eps
each uses, and MobileNetV4's table against timm's own block strings.
"""

import re

import pytest

torch = pytest.importorskip("torch")
import torch_zoo as zoo  # after the skip: it imports torch

#: Parameters at 10 classes, and at 1000 as the references publish them.
COUNTS = {
    "resnet50": (23_528_522, 25_557_032),
    "mobilenet_v3_large": (4_214_842, 5_483_032),
    "efficientnet_v2_s": (20_190_298, 21_458_488),
    "mobilenet_v4_conv_small": (2_505_834, None),    # timm rounds it: 3.77 M
}

#: Each network's state_dict: a handful of keys with their shapes, and keys it must lack.
KEYS = {
    "resnet50": ({
        "conv1.weight": [64, 3, 7, 7], "bn1.num_batches_tracked": [],
        "layer1.0.conv1.weight": [64, 64, 1, 1], "layer1.0.conv3.weight": [256, 64, 1, 1],
        "layer1.0.downsample.0.weight": [256, 64, 1, 1],
        "layer1.0.downsample.1.running_var": [256],
        "layer2.0.conv2.weight": [128, 128, 3, 3],
        "layer2.0.downsample.0.weight": [512, 256, 1, 1],
        "layer3.5.bn3.bias": [1024], "layer4.2.conv3.weight": [2048, 512, 1, 1],
        "layer4.2.bn3.weight": [2048], "fc.weight": [10, 2048], "fc.bias": [10],
    }, ["layer1.1.downsample.0.weight", "conv1.bias", "layer1.0.conv1.bias"]),
    "mobilenet_v3_large": ({
        "features.0.0.weight": [16, 3, 3, 3], "features.0.1.running_mean": [16],
        # The first block expands nothing: depthwise then project.
        "features.1.block.0.0.weight": [16, 1, 3, 3], "features.1.block.1.0.weight": [16, 16, 1, 1],
        "features.2.block.0.0.weight": [64, 16, 1, 1], "features.2.block.1.0.weight": [64, 1, 3, 3],
        # SE squeeze: make_divisible(72 // 4) = 24, make_divisible(120 // 4) = 32.
        "features.4.block.2.fc1.weight": [24, 72, 1, 1], "features.4.block.2.fc1.bias": [24],
        "features.4.block.2.fc2.weight": [72, 24, 1, 1], "features.4.block.3.1.weight": [40],
        "features.5.block.2.fc1.weight": [32, 120, 1, 1],
        "features.15.block.1.0.weight": [960, 1, 5, 5],
        "features.15.block.2.fc1.weight": [240, 960, 1, 1],
        "features.15.block.3.0.weight": [160, 960, 1, 1],
        "features.16.0.weight": [960, 160, 1, 1], "features.16.1.num_batches_tracked": [],
        "classifier.0.weight": [1280, 960], "classifier.0.bias": [1280],
        "classifier.3.weight": [10, 1280],
    }, ["features.1.block.2.0.weight", "features.7.block.2.fc1.weight", "features.17.0.weight",
        "classifier.1.weight"]),
    "efficientnet_v2_s": ({
        "features.0.0.weight": [24, 3, 3, 3],
        # Fused, expand 1: one 3x3 conv, bn, silu.
        "features.1.0.block.0.0.weight": [24, 24, 3, 3], "features.1.1.block.0.1.bias": [24],
        # Fused, expand 4: 3x3 to 96 with the stride, then 1x1 project.
        "features.2.0.block.0.0.weight": [96, 24, 3, 3],
        "features.2.0.block.1.0.weight": [48, 96, 1, 1], "features.2.3.block.1.1.weight": [48],
        "features.3.3.block.0.0.weight": [256, 64, 3, 3],
        # MBConv: expand, depthwise, SE (squeeze max(1, in // 4)), project.
        "features.4.0.block.0.0.weight": [256, 64, 1, 1],
        "features.4.0.block.1.0.weight": [256, 1, 3, 3],
        "features.4.0.block.2.fc1.weight": [16, 256, 1, 1],
        "features.4.0.block.2.fc2.bias": [256], "features.4.0.block.3.0.weight": [128, 256, 1, 1],
        "features.4.1.block.2.fc1.weight": [32, 512, 1, 1],
        "features.5.0.block.0.0.weight": [768, 128, 1, 1],
        "features.6.0.block.2.fc1.weight": [40, 960, 1, 1],
        "features.6.14.block.2.fc1.weight": [64, 1536, 1, 1],
        "features.6.14.block.3.1.running_var": [256],
        "features.7.0.weight": [1280, 256, 1, 1], "features.7.1.weight": [1280],
        "classifier.1.weight": [10, 1280], "classifier.1.bias": [10],
    }, ["features.1.0.block.1.0.weight", "features.6.15.block.0.0.weight", "features.8.0.weight",
        "classifier.0.weight"]),
    "mobilenet_v4_conv_small": ({
        "conv_stem.weight": [32, 3, 3, 3], "bn1.weight": [32], "bn1.num_batches_tracked": [],
        "blocks.0.0.conv.weight": [32, 32, 3, 3], "blocks.0.0.bn1.running_var": [32],
        "blocks.0.1.conv.weight": [32, 32, 1, 1], "blocks.1.0.conv.weight": [96, 32, 3, 3],
        "blocks.1.1.conv.weight": [64, 96, 1, 1],
        # ExtraDW: dw_start 5x5, pw_exp to 64 * 3, dw_mid 5x5 (the stride), pw_proj.
        "blocks.2.0.dw_start.conv.weight": [64, 1, 5, 5], "blocks.2.0.dw_start.bn.bias": [64],
        "blocks.2.0.pw_exp.conv.weight": [192, 64, 1, 1],
        "blocks.2.0.dw_mid.conv.weight": [192, 1, 5, 5],
        "blocks.2.0.pw_proj.conv.weight": [96, 192, 1, 1],
        "blocks.2.0.pw_proj.bn.num_batches_tracked": [],
        # IR: no dw_start.
        "blocks.2.4.dw_mid.conv.weight": [192, 1, 3, 3],
        # ConvNeXt-like: dw_start 3x3, no dw_mid.
        "blocks.2.5.dw_start.conv.weight": [96, 1, 3, 3],
        "blocks.2.5.pw_exp.conv.weight": [384, 96, 1, 1],
        "blocks.3.0.pw_exp.conv.weight": [576, 96, 1, 1],
        "blocks.3.3.pw_exp.conv.weight": [384, 128, 1, 1],
        "blocks.3.5.dw_mid.conv.weight": [512, 1, 3, 3],
        "blocks.4.0.conv.weight": [960, 128, 1, 1], "blocks.4.0.bn1.running_mean": [960],
        "conv_head.weight": [1280, 960, 1, 1], "norm_head.weight": [1280],
        "norm_head.num_batches_tracked": [], "classifier.weight": [10, 1280],
        "classifier.bias": [10],
    }, ["conv_head.bias", "blocks.2.1.dw_start.conv.weight", "blocks.2.5.dw_mid.conv.weight",
        "blocks.2.1.layer_scale.gamma", "blocks.0.0.bn.weight", "blocks.2.0.se.conv_reduce.weight",
        "blocks.5.0.conv.weight"]),
}

#: The batch-norm eps each reference uses: torchvision's MobileNetV3 and EfficientNetV2
#: pass 1e-3, ResNet and timm's MobileNetV4 keep PyTorch's default.
EPS = {"resnet50": 1e-5, "mobilenet_v3_large": 1e-3, "efficientnet_v2_s": 1e-3,
       "mobilenet_v4_conv_small": 1e-5}

#: timm's _gen_mobilenet_v4 arch_def for the conv 'small' variant, as its source spells it.
MOBILENET_V4_CONV_SMALL_ARCH = [
    ["cn_r1_k3_s2_e1_c32", "cn_r1_k1_s1_e1_c32"],
    ["cn_r1_k3_s2_e1_c96", "cn_r1_k1_s1_e1_c64"],
    ["uir_r1_a5_k5_s2_e3_c96", "uir_r4_a0_k3_s1_e2_c96", "uir_r1_a3_k0_s1_e4_c96"],
    ["uir_r1_a3_k3_s2_e6_c128", "uir_r1_a5_k5_s1_e4_c128", "uir_r1_a0_k5_s1_e4_c128",
     "uir_r1_a0_k5_s1_e3_c128", "uir_r2_a0_k3_s1_e4_c128"],
    ["cn_r1_k1_s1_c960"],
]


@pytest.fixture(scope="module", params=sorted(zoo.NETWORKS))
def name(request):
    return request.param


def test_parameter_counts_are_the_references(name):
    at_10, at_1000 = COUNTS[name]
    for classes, count in [(10, at_10), (1000, at_1000)]:
        model = zoo.NETWORKS[name](classes)
        params = sum(p.numel() for p in model.parameters())
        if count is None:
            assert round(params / 1e6, 2) == 3.77, params
        else:
            assert params == count, (classes, params)


def test_keys_and_shapes_are_the_references(name):
    state = zoo.NETWORKS[name](10).state_dict()
    present, absent = KEYS[name]
    assert {k: list(state[k].shape) for k in present if k in state} == present
    assert not [k for k in absent if k in state]


def test_batch_norm_eps(name):
    norms = [m for m in zoo.NETWORKS[name](10).modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and {m.eps for m in norms} == {EPS[name]}


def test_eval_forward_gives_logits(name):
    torch.manual_seed(0)
    model = zoo.NETWORKS[name](10).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (2, 10) and torch.isfinite(out).all()
        assert torch.equal(out, model(x))     # dropout is an identity in eval


def test_resnet50_strides_on_the_3x3():
    """torchvision's "v1.5": a stage's first bottleneck strides its 3x3 (and the
    downsample), not its first 1x1."""
    model = zoo.ResNet50()
    assert model.layer2[0].conv1.stride == (1, 1) and model.layer2[0].conv2.stride == (2, 2)
    assert model.layer2[0].downsample[0].stride == (2, 2)
    assert model.layer1[0].conv2.stride == (1, 1) and model.layer1[0].downsample is not None


def test_mobilenet_v3_table_chains_torchvisions_rows():
    """torchvision's bneck_conf rows (input, kernel, expanded, out, SE, activation,
    stride) for the large model: each row's input is the previous row's output."""
    rows = [(16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
            (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
            (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
            (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
            (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
            (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
            (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
            (160, 5, 960, 160, True, "HS", 1)]
    acts = {"RE": "relu", "HS": "hardswish"}
    assert zoo.MOBILENET_V3_LARGE_BLOCKS == [
        zoo.MobileNetV3Block(k, e, o, se, acts[a], s) for _, k, e, o, se, a, s in rows]
    ins = [zoo.MOBILENET_V3_LARGE_STEM] + [b.out for b in zoo.MOBILENET_V3_LARGE_BLOCKS[:-1]]
    assert ins == [row[0] for row in rows]
    assert zoo.make_divisible(72 // 4) == 24 and zoo.make_divisible(120 // 4) == 32


def decode_timm(arch):
    """timm's block strings, decoded as its _decode_block_str and builder do: repeats
    unrolled, a stage's stride on its first block only."""
    stages = []
    for strings in arch:
        blocks = []
        for text in strings:
            kind, *ops = text.split("_")
            opt = {m[1]: m[2] for m in (re.fullmatch(r"([a-z]+)(\d.*)", op) for op in ops)}
            for _ in range(int(opt["r"])):
                stride = int(opt["s"]) if not blocks else 1
                if kind == "cn":
                    blocks.append(zoo.MobileNetV4Block("conv", int(opt["c"]), stride,
                                                       kernel=int(opt["k"])))
                else:
                    blocks.append(zoo.MobileNetV4Block(
                        "uir", int(opt["c"]), stride, start_kernel=int(opt.get("a", 0)),
                        mid_kernel=int(opt["k"]), expand=float(opt["e"])))
        stages.append(blocks)
    return stages


def test_mobilenet_v4_table_is_timms_block_strings():
    assert zoo.MOBILENET_V4_CONV_SMALL_BLOCKS == decode_timm(MOBILENET_V4_CONV_SMALL_ARCH)
    model = zoo.MobileNetV4ConvSmall()
    # The stride sits on dw_mid where there is one (blocks.2.0, 3.0), and the blocks that
    # keep shape and stride add their input.
    assert model.blocks[2][0].dw_mid.conv.stride == (2, 2)
    assert model.blocks[2][0].dw_start.conv.stride == (1, 1)
    assert [(s, b) for s, stage in enumerate(model.blocks) for b, block in enumerate(stage)
            if getattr(block, "residual", False)] == [
        (2, 1), (2, 2), (2, 3), (2, 4), (2, 5), (3, 1), (3, 2), (3, 3), (3, 4), (3, 5)]


def test_efficientnet_v2_s_table_is_torchvisions():
    """torchvision's _efficientnet_conf("efficientnet_v2_s") rows (expand, kernel,
    stride, in, out, layers), FusedMBConv for the first three."""
    rows = [(1, 3, 1, 24, 24, 2), (4, 3, 2, 24, 48, 4), (4, 3, 2, 48, 64, 4),
            (4, 3, 2, 64, 128, 6), (6, 3, 1, 128, 160, 9), (6, 3, 2, 160, 256, 15)]
    assert zoo.EFFICIENTNET_V2_S_STAGES == [
        zoo.EfficientNetV2Stage("fused" if i < 3 else "mbconv", *row)
        for i, row in enumerate(rows)]
    features = zoo.EfficientNetV2S().features
    assert [len(stage) for stage in features[1:7]] == [row[-1] for row in rows]
