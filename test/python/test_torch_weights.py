"""PyTorch weights: torchvision's and timm's state_dicts of the Imagenette networks in and out.

torchvision itself does not import here (its wheel fails registering its
operators beside the CPU torch), so the networks are written below in
plain torch.nn with torchvision's module structure, hence its exact state_dict
keys (checked against torchvision's resnet.py, mobilenetv2.py, efficientnet.py
and convnext.py, and by torchvision's parameter counts at 10 classes); ViT-Tiny
likewise after timm's vision_transformer.py (timm imports torchvision). Each gets
random weights and batch-norm statistics; our network built with
``padding="torch"`` takes them (``lm.from_torch``) and computes what the torch
model computes, gives them back bit for bit (``lm.to_torch``), and
``lean-mlir train MODEL --init-from FILE`` fine-tunes from a file of them.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import lean_mlir as lm
import numpy as np
import pytest
import torch_zoo
from lean_mlir.weights import TORCH_MAPPINGS, WeightsError

torch = pytest.importorskip("torch")
nn, F = torch.nn, torch.nn.functional

LEAN_MLIR = str(Path(sys.executable).with_name("lean-mlir"))


# -- torchvision's four networks, its module structure in plain torch.nn ---------------

def cna(cin, cout, k, stride=1, groups=1, act=nn.ReLU, norm=None, bias=False, padding=None):
    """torchvision.ops.Conv2dNormActivation: an nn.Sequential of conv (``.0``), norm
    (``.1``) and activation; padding ``(k - 1) // 2`` unless given."""
    pad = (k - 1) // 2 if padding is None else padding
    layers = [nn.Conv2d(cin, cout, k, stride, pad, groups=groups, bias=bias),
              norm(cout) if norm else nn.BatchNorm2d(cout)]
    return nn.Sequential(*layers, *([act()] if act else []))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                         nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class ResNet34(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for i, (width, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], 1):
            stage = []
            for j in range(blocks):
                stage.append(BasicBlock(cin, width, 2 if i > 1 and j == 0 else 1))
                cin = width
            setattr(self, f"layer{i}", nn.Sequential(*stage))
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = [cna(cin, hidden, 1, act=nn.ReLU6)] if t != 1 else []
        self.conv = nn.Sequential(*layers, cna(hidden, hidden, 3, stride, hidden, nn.ReLU6),
                                  nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.conv(x) if self.residual else self.conv(x)


class MobileNetV2(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        features, cin = [cna(3, 32, 3, 2, act=nn.ReLU6)], 32
        for t, c, n, s in lm.zoo.MOBILENET_V2_STAGES:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*features, cna(cin, 1280, 1, act=nn.ReLU6))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        scale = self.fc2(F.silu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        return x * torch.sigmoid(scale)


class MBConv(nn.Module):
    def __init__(self, cin, cout, k, stride, t):
        super().__init__()
        hidden = cin * t
        layers = [cna(cin, hidden, 1, act=nn.SiLU)] if t != 1 else []
        self.block = nn.Sequential(*layers, cna(hidden, hidden, k, stride, hidden, nn.SiLU),
                                   SqueezeExcitation(hidden, max(1, cin // 4)),
                                   cna(hidden, cout, 1, act=None))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.block(x) if self.residual else self.block(x)


class EfficientNetB0(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        features, cin = [cna(3, 32, 3, 2, act=nn.SiLU)], 32
        for t, k, s, c, n in lm.zoo.EFFICIENTNET_B0_STAGES:
            stage = []
            for i in range(n):
                stage.append(MBConv(cin, c, k, s if i == 0 else 1, t))
                cin = c
            features.append(nn.Sequential(*stage))
        self.features = nn.Sequential(*features, cna(cin, 1280, 1, act=nn.SiLU))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return self.classifier(torch.flatten(x, 1))


class LayerNorm2d(nn.LayerNorm):
    def forward(self, x):
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


class Permute(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.dims = dims

    def forward(self, x):
        return x.permute(*self.dims)


class CNBlock(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim), Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6), nn.Linear(dim, 4 * dim), nn.GELU(),
            nn.Linear(4 * dim, dim), Permute([0, 3, 1, 2]))
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * 1e-6)

    def forward(self, x):
        return x + self.layer_scale * self.block(x)


class ConvNeXtTiny(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        def norm(c):
            return LayerNorm2d(c, eps=1e-6)
        widths, depths = (96, 192, 384, 768), (3, 3, 9, 3)
        features = [cna(3, 96, 4, 4, act=None, norm=norm, bias=True, padding=0)]
        for i, (width, depth) in enumerate(zip(widths, depths, strict=True)):
            features.append(nn.Sequential(*[CNBlock(width) for _ in range(depth)]))
            if i < 3:
                features.append(nn.Sequential(norm(width), nn.Conv2d(width, widths[i + 1], 2, 2)))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(norm(768), nn.Flatten(1), nn.Linear(768, num_classes))

    def forward(self, x):
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1))


class ViTBlock(nn.Module):
    """timm's vision_transformer.Block: norm1, attn (qkv, proj), norm2, mlp (fc1, fc2)."""

    def __init__(self, dim=192, heads=3, mlp=768):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn = nn.Module()
        self.attn.qkv, self.attn.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Module()
        self.mlp.fc1, self.mlp.fc2 = nn.Linear(dim, mlp), nn.Linear(mlp, dim)

    def attention(self, x):
        n, t, c = x.shape
        qkv = self.attn.qkv(x).reshape(n, t, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) / (c // self.heads) ** 0.5).softmax(dim=-1)
        return self.attn.proj((weights @ v).transpose(1, 2).reshape(n, t, c))

    def forward(self, x):
        x = x + self.attention(self.norm1(x))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class ViTTiny(nn.Module):
    """timm's VisionTransformer as vit_tiny_patch16_224 builds it (class-token pooling,
    the final norm, no fc_norm): its keys are cls_token, pos_embed, patch_embed.proj.*,
    blocks.N.*, norm.*, head.*."""

    def __init__(self, num_classes=10, size=224):
        super().__init__()
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(3, 192, 16, 16)
        self.cls_token = nn.Parameter(0.02 * torch.randn(1, 1, 192))
        self.pos_embed = nn.Parameter(0.02 * torch.randn(1, (size // 16) ** 2 + 1, 192))
        self.blocks = nn.Sequential(*[ViTBlock() for _ in range(12)])
        self.norm = nn.LayerNorm(192, eps=1e-6)
        self.head = nn.Linear(192, num_classes)

    def forward(self, x):
        x = self.patch_embed.proj(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(x), -1, -1), x], dim=1) + self.pos_embed
        return self.head(self.norm(self.blocks(x))[:, 0])


#: Our network (built with PyTorch's padding), the torch model, torchvision's
#: (timm's for ViT-Tiny) parameter count at 10 classes, the input the test runs at.
NETWORKS = {
    "resnet34": (lm.resnet34, ResNet34, 21_289_802, (3, 32, 32)),
    "mobilenet_v2": (lm.mobilenet_v2, MobileNetV2, 2_236_682, (3, 64, 64)),
    "efficientnet_b0": (lm.efficientnet_b0, EfficientNetB0, 4_020_358, (3, 32, 32)),
    "convnext_tiny": (lm.convnext_tiny, ConvNeXtTiny, 27_827_818, (3, 32, 32)),
    # Its patches take no padding; at 224, its own size (the position embedding's).
    "vit_tiny": (lambda input_shape, padding: lm.vit_tiny(input_shape=input_shape), ViTTiny,
                 5_526_346, (3, 224, 224)),
    # The rest of the book's Imagenette table, their torch definitions in torch_zoo.py.
    "resnet50": (lm.resnet50, torch_zoo.ResNet50, 23_528_522, (3, 32, 32)),
    "mobilenet_v3_large": (lm.mobilenet_v3_large, torch_zoo.MobileNetV3Large, 4_214_842,
                           (3, 64, 64)),
    "efficientnet_v2_s": (lm.efficientnet_v2_s, torch_zoo.EfficientNetV2S, 20_190_298,
                          (3, 32, 32)),
    "mobilenet_v4_conv_small": (lm.mobilenet_v4_conv_small, torch_zoo.MobileNetV4ConvSmall,
                                2_505_834, (3, 64, 64)),
}


def randomized(model: nn.Module, seed: int = 0) -> nn.Module:
    """``model`` with random weights, norms and batch-norm statistics (the statistics
    of a random batch, then perturbed, so activations keep their scale), in eval mode,
    ``num_batches_tracked`` left at zero."""
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None   # the cumulative average: one batch sets the statistics
    model.train()
    with torch.no_grad():
        if any(isinstance(m, nn.BatchNorm2d) for m in model.modules()):
            model(torch.randn(8, 3, 64, 64))
        for name, tensor in model.state_dict().items():
            leaf = name.rsplit(".", 1)[-1]
            if leaf == "num_batches_tracked":
                tensor.zero_()
            elif leaf == "running_var" or (leaf == "weight" and tensor.ndim == 1):
                tensor.mul_(torch.empty_like(tensor).uniform_(0.8, 1.25))
            elif leaf in ("running_mean", "bias"):
                tensor.add_(0.1 * torch.randn_like(tensor))
            elif leaf == "layer_scale":
                tensor.uniform_(0.2, 1.0)
    return model.eval()


def numpy_state(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module", params=sorted(NETWORKS))
def network(request):
    """(our spec, the torch model, its state_dict as NumPy) of one network."""
    build, torch_model, count, shape = NETWORKS[request.param]
    model = randomized(torch_model(10))
    assert sum(p.numel() for p in model.parameters()) == count
    spec = build(input_shape=shape, padding="torch")
    assert spec.param_count() == count
    return spec, model, numpy_state(model)


# -- the weights, both ways ------------------------------------------------------------

def test_the_torch_definitions_have_torchvisions_keys():
    """Spot checks of each network's keys against torchvision's sources."""
    keys = {name: set(NETWORKS[name][1](10).state_dict()) for name in NETWORKS}
    assert {"conv1.weight", "bn1.num_batches_tracked", "layer2.0.downsample.0.weight",
            "layer2.0.downsample.1.running_var", "layer4.2.bn2.bias", "fc.weight"} <= keys[
        "resnet34"]
    assert {"features.0.0.weight", "features.1.conv.0.0.weight", "features.1.conv.1.weight",
            "features.1.conv.2.running_mean", "features.2.conv.3.weight",
            "features.17.conv.1.1.bias", "features.18.1.weight", "classifier.1.weight"} <= keys[
        "mobilenet_v2"]
    assert {"features.1.0.block.1.fc1.weight", "features.1.0.block.2.1.weight",
            "features.2.0.block.0.0.weight", "features.2.0.block.2.fc2.bias",
            "features.7.0.block.3.1.running_var", "features.8.0.weight",
            "classifier.1.bias"} <= keys["efficientnet_b0"]
    assert {"features.0.0.bias", "features.0.1.weight", "features.1.2.layer_scale",
            "features.1.0.block.3.weight", "features.2.0.weight", "features.2.1.weight",
            "features.5.8.block.5.bias", "features.7.2.block.2.bias", "classifier.0.weight",
            "classifier.2.weight"} <= keys["convnext_tiny"]
    assert not any("features.8" in k for k in keys["convnext_tiny"])
    assert {"cls_token", "pos_embed", "patch_embed.proj.weight", "blocks.11.attn.qkv.bias",
            "blocks.0.mlp.fc2.weight", "norm.weight", "head.weight"} <= keys["vit_tiny"]
    assert len(keys["vit_tiny"]) == 152     # 4 + 12 blocks x 12 + norm and head's 4
    assert sorted(TORCH_MAPPINGS) == [
        "ConvNeXt-T", "EfficientNet-B0", "EfficientNetV2-S", "MobileNetV2", "MobileNetV3-Large",
        "MobileNetV4-Conv-S", "ResNet-34", "ResNet-50", "ViT-Tiny"]


def test_round_trip_is_bit_identical_and_torch_loads_it_strictly(network):
    spec, model, state = network
    params = lm.from_torch(spec, state)
    assert list(params) == [p.name for p in spec.params]
    assert all(v.dtype == np.float32 and v.shape == p.shape
               for v, p in zip(params.values(), spec.params, strict=True))
    back = lm.to_torch(spec, params)
    assert set(back) == set(state)
    for key, value in state.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
        assert back[key].tobytes() == value.tobytes(), key
    fresh = type(model)(10)
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in back.items()}, strict=True)
    # Torch tensors go in as well as NumPy arrays.
    torch_params = lm.from_torch(spec, model.state_dict())
    assert all(np.array_equal(torch_params[k], params[k]) for k in params)


def test_our_network_computes_what_the_torch_model_computes(network):
    spec, model, state = network
    x = np.random.default_rng(1).standard_normal((3, *spec.input_shape)).astype(np.float32)
    ours = lm.predict(spec, lm.from_torch(spec, state), x)
    with torch.no_grad():
        theirs = model(torch.from_numpy(x)).numpy()
    assert np.abs(theirs).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())


@pytest.fixture(scope="module")
def resnet():
    model = randomized(ResNet34(10))
    return lm.resnet34(input_shape=(3, 32, 32), padding="torch"), model, numpy_state(model)


@pytest.mark.parametrize("change, said", [
    (lambda s: s.pop("layer3.0.downsample.1.running_var"),
     "ResNet-34: missing key 'layer3.0.downsample.1.running_var' (expected shape [256])"),
    (lambda s: s.update({"fc.weight": np.zeros((1000, 512), np.float32),
                         "fc.bias": np.zeros(1000, np.float32)}),
     "ResNet-34: key 'fc.weight': expected shape [10, 512], found [1000, 512] (and 1 more)"),
    (lambda s: s.update({"layer5.0.conv1.weight": np.zeros((3, 3), np.float32)}),
     "ResNet-34: unexpected key 'layer5.0.conv1.weight' (shape [3, 3])"),
    (lambda s: s.update({"layer1.0.conv1.weight": s["layer1.0.conv1.weight"][:, :, :1, :1]}),
     "key 'layer1.0.conv1.weight': expected shape [64, 64, 3, 3], found [64, 64, 1, 1]"),
])
def test_a_key_that_does_not_fit_is_one_error_naming_it(resnet, change, said):
    spec, _, state = resnet
    state = dict(state)
    change(state)
    with pytest.raises(WeightsError) as info:
        lm.from_torch(spec, state)
    assert said in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_num_batches_tracked_is_optional_on_the_way_in(resnet):
    spec, _, state = resnet
    without = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert len(without) < len(state)
    assert all(np.array_equal(a, b) for a, b in zip(
        lm.from_torch(spec, without).values(), lm.from_torch(spec, state).values(),
        strict=True))


def test_safetensors_and_pt_files_load(resnet, tmp_path):
    from safetensors.numpy import save_file

    spec, model, state = resnet
    save_file(state, tmp_path / "w.safetensors")
    torch.save(model.state_dict(), tmp_path / "w.pt")
    expected = lm.from_torch(spec, state)
    for name in ("w.safetensors", "w.pt"):
        loaded = lm.from_torch(spec, tmp_path / name)
        assert all(np.array_equal(loaded[k], expected[k]) for k in expected), name
    torch.save({"model": model.state_dict(), "epoch": 3}, tmp_path / "checkpoint.pth")
    for name, said in [("checkpoint.pth", ("holds a dict with keys ['epoch', 'model'], not a "
                                          "state_dict of tensors")),
                       ("absent.safetensors", "no such file"),
                       ("w.txt", "expected a .safetensors, .pt or .pth file")]:
        (tmp_path / "w.txt").write_text("")
        with pytest.raises(WeightsError, match=re.escape(said)):
            lm.from_torch(spec, tmp_path / name)
    (tmp_path / "cut.safetensors").write_bytes((tmp_path / "w.safetensors").read_bytes()[:99])
    with pytest.raises(WeightsError, match="cut.safetensors: not a readable safetensors file"):
        lm.from_torch(spec, tmp_path / "cut.safetensors")


def test_xla_padding_is_refused_where_the_windows_would_differ(resnet):
    _, _, state = resnet
    book = lm.resnet34(input_shape=(3, 32, 32))
    with pytest.raises(WeightsError, match=r"ResNet-34: conv_bn_0, residual_block_3, "
                                           r"residual_block_7 \.\.\. pad 'same' as XLA does.*"
                                           r"padding=\"torch\""):
        lm.from_torch(book, state)
    with pytest.raises(WeightsError, match="padding=\"torch\""):
        lm.to_torch(book, book.init_params())
    # ConvNeXt's strided convolutions are its patchify and downsampling ones: at sizes
    # their strides divide, 'same' pads nothing, as torchvision's.
    convnext = lm.convnext_tiny(input_shape=(3, 32, 32))
    assert len(lm.to_torch(convnext, convnext.init_params())) == 182
    with pytest.raises(WeightsError, match="no PyTorch mapping for network 'MNIST-CNN-noBN'"):
        lm.from_torch(lm.mnist_cnn(), state)
    # The name alone does not make a network torchvision's.
    impostor = lm.NetSpec("ResNet-34", (3, 32, 32), [
        lm.conv_bn(3, 64, 7, stride=2, padding=3), lm.global_avg_pool(),
        lm.dense(64, 64), lm.dense(64, 10)])
    with pytest.raises(WeightsError, match="ResNet-34: the network is not the one its PyTorch "
                                           "mapping describes \\(parameter 'dense_1\\."):
        lm.from_torch(impostor, state)


def test_padding_is_recorded_in_the_spec():
    for build in (lm.resnet34, lm.mobilenet_v2, lm.efficientnet_b0, lm.convnext_tiny):
        same, torch_padded = build(), build(padding="torch")
        assert same.name == torch_padded.name
        assert [(p.name, p.shape) for p in same.params] == [
            (p.name, p.shape) for p in torch_padded.params]
        assert same.fingerprint() != torch_padded.fingerprint()
        layers = torch_padded.to_dict()["layers"]
        assert lm.NetSpec.from_dict(torch_padded.to_dict()).fingerprint() == \
            torch_padded.fingerprint()
        assert "same" not in json.dumps(layers[0]) and "same" in json.dumps(same.to_dict())
        with pytest.raises(ValueError, match="padding must be one of 'same', 'torch'"):
            build(padding="valid")
    stem = lm.resnet34(padding="torch").to_dict()["layers"]
    assert stem[0]["padding"] == [3, 3, 3, 3] and stem[2]["padding"] == "torch"
    assert lm.zoo.resolve("resnet34", padding="torch").layers[2].padding == "torch"
    assert lm.zoo.resolve("cnn", padding="torch").name == "MNIST-CNN-noBN"


# -- lean-mlir train --init-from -------------------------------------------------------

def cli(*args, cwd, home, timeout=600):
    """``lean-mlir ARGS`` in ``cwd`` with ``home`` as its HOME (its data caches there),
    the compiled modules still cached where they are."""
    compiled = os.environ.get("LEAN_MLIR_COMPILE_CACHE") or str(
        Path.home() / ".cache" / "lean-mlir" / "compiled")
    env = {**os.environ, "HOME": str(home), "LEAN_MLIR_COMPILE_CACHE": compiled}
    return subprocess.run([LEAN_MLIR, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def mobilenet_file(tmp_path_factory):
    """MobileNetV2's random torch weights in a .safetensors file."""
    from safetensors.numpy import save_file

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.safetensors"
    save_file(numpy_state(randomized(MobileNetV2(10))), path)
    return path


def test_train_init_from_fine_tunes_and_records_the_file(mobilenet_file, tmp_path):
    """``lean-mlir train mobilenet-v2 --init-from FILE`` on a tiny Imagenette (one
    epoch of one batch of 4 at 224x224, a small learning rate): it builds the network
    with PyTorch's padding, starts from the file's weights and says so."""
    from safetensors.numpy import load_file
    from test_imagenette import write_set

    write_set(tmp_path / "data", per_class=(2, 1))
    proc = cli("train", "mobilenet-v2", "--init-from", mobilenet_file, "--dataset",
               "imagenette", "--data-dir", "data", "--epochs", "1", "--batch-size", "4",
               "--train-limit", "4", "--lr", "1e-6", "--run-dir", "run", "--no-progress-bar",
               cwd=tmp_path, home=tmp_path / "home")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith(f"initial weights: {mobilenet_file} (a PyTorch state_dict)")
    config = json.loads((tmp_path / "run/config.json").read_text())
    assert config["init_from"] == str(mobilenet_file) and config["model"] == "mobilenet-v2"
    assert len(config["init_from_sha256"]) == 64
    spec = lm.mobilenet_v2(padding="torch")
    assert lm.NetSpec.from_dict(config["network"]).fingerprint() == spec.fingerprint()
    start = lm.from_torch(spec, mobilenet_file)
    trained = load_file(tmp_path / "run/checkpoint.safetensors")
    name = "inverted_residual_5.depthwise.conv.weight"
    np.testing.assert_allclose(trained[name], start[name], atol=1e-4)
    assert not np.allclose(trained[name], spec.init_params(0)[name], atol=1e-2)


@pytest.mark.parametrize("case", ["missing key", "classifier", "no file", "no mapping",
                                  "resume"])
def test_a_bad_init_from_is_one_error_line_and_writes_nothing(mobilenet_file, tmp_path, case):
    from safetensors.numpy import load_file, save_file

    state = load_file(mobilenet_file)
    state.pop("features.4.conv.1.1.running_mean")
    save_file(state, tmp_path / "missing.safetensors")
    state = load_file(mobilenet_file)
    state["classifier.1.weight"] = np.zeros((1000, 1280), np.float32)
    state["classifier.1.bias"] = np.zeros(1000, np.float32)
    save_file(state, tmp_path / "imagenet.safetensors")
    args, said = {
        "missing key": (["mobilenet-v2", "--init-from", "missing.safetensors"],
                        ("error: --init-from: missing.safetensors: MobileNetV2: missing key "
                        "'features.4.conv.1.1.running_mean' (expected shape [144])")),
        "classifier": (["mobilenet-v2", "--init-from", "imagenet.safetensors"],
                       ("key 'classifier.1.weight': expected shape [10, 1280], found "
                       "[1000, 1280] (and 1 more)")),
        "no file": (["resnet34", "--init-from", "resnet34.pth"], "resnet34.pth: no such file"),
        "no mapping": (["cnn", "--init-from", "missing.safetensors"],
                       "no PyTorch mapping for network 'MNIST-CNN-noBN'"),
        "resume": (["--resume", "run", "--init-from", "missing.safetensors"], "--init-from: "),
    }[case]
    before = sorted(tmp_path.iterdir())
    proc = cli("train", *args, "--run-dir", "run", cwd=tmp_path, home=tmp_path)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and said in lines[0], lines
    assert sorted(tmp_path.iterdir()) == before
