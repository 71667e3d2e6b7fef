"""PyTorch weights in and out: a torchvision or timm ``state_dict`` as a network's parameters.

    spec = lm.resnet34(padding="torch")               # torchvision's padding
    params = lm.from_torch(spec, "resnet34.safetensors")   # or .pt/.pth, or a dict
    state_dict = lm.to_torch(spec, params)            # NumPy arrays, torchvision's keys
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict.items()})

A network's mapping lives in one place, :data:`TORCH_MAPPINGS`: the spec's name
(``"ResNet-34"``) to a function that yields, for every tensor, ``(our parameter
name, PyTorch key, layout)``; :data:`LAYOUTS` says how each layout turns one side
into the other. Adding a network is one decorated function:

    @torch_mapping("ViT-Tiny")
    def _vit_tiny(spec):
        yield "class_token_0.token", "cls_token", "identity"
        yield "patch_embed_0.proj.weight", "patch_embed.proj.weight", "identity"
        yield "dense_0.weight", "head.weight", "linear"     # Linear is [out, in]
        ...

The mapping must name every parameter of the spec; a key the file holds that the
mapping does not name, a key it lacks, or a tensor of another shape is one
:class:`WeightsError` naming the key and both shapes. Conversions refuse a network
whose 'same' convolutions pad a strided window as XLA does (the odd pixel after):
PyTorch pads both sides alike, so the same weights would compute another
function there; build it with ``padding="torch"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lean_mlir.spec import NetSpec

__all__ = ["LAYOUTS", "TORCH_MAPPINGS", "Layout", "WeightsError", "from_torch",
           "read_state_dict", "to_torch", "torch_mapping"]


class WeightsError(ValueError):
    """A weights file or state_dict that does not fit the network (a missing,
    unexpected or misshapen key, an unreadable file), or a network without a
    PyTorch mapping or with XLA's padding; one line saying which."""


@dataclass(frozen=True)
class Layout:
    """How a tensor is laid out in PyTorch against here: ``to_torch`` and
    ``from_torch`` convert the array, ``torch_shape`` the shape (of ours)."""

    to_torch: Callable[[np.ndarray], np.ndarray]
    from_torch: Callable[[np.ndarray], np.ndarray]
    torch_shape: Callable[[tuple], tuple]


def _same(x):
    return x


#: The layouts a mapping may name. ``counter``: a key only PyTorch has (a batch
#: norm's ``num_batches_tracked``, an int64 scalar): optional and ignored on the
#: way in, zero on the way out; its triple names no parameter of ours (None).
LAYOUTS: dict[str, Layout] = {
    "identity": Layout(_same, _same, _same),
    # dense [in, out] here, torch.nn.Linear [out, in].
    "linear": Layout(lambda w: w.T, lambda w: w.T, lambda s: tuple(reversed(s))),
    # a 1x1 convolution [out, in, 1, 1] here, a torch.nn.Linear [out, in] there
    # (ConvNeXt's pointwise layers).
    "pointwise": Layout(lambda w: w.reshape(w.shape[:2]), lambda w: w.reshape(*w.shape, 1, 1),
                        lambda s: tuple(s[:2])),
    # a dense [in, out] here, a 1x1 convolution [out, in, 1, 1] there (MobileNetV4's
    # conv_head, which runs on the pooled features).
    "conv_linear": Layout(lambda w: w.T.reshape(*w.T.shape, 1, 1),
                          lambda w: w.reshape(w.shape[:2]).T,
                          lambda s: (s[1], s[0], 1, 1)),
    "counter": Layout(lambda _: np.zeros((), np.int64), _same, lambda _: ()),
}

#: One mapping entry: our parameter name (None for a PyTorch-only key), the
#: PyTorch key, the layout (a key of LAYOUTS).
Entry = tuple[str | None, str, str]
#: Networks by ``NetSpec.name``: what yields their entries.
TORCH_MAPPINGS: dict[str, Callable[[NetSpec], Iterable[Entry]]] = {}


def torch_mapping(name: str):
    """Registers the decorated ``function(spec) -> entries`` as the mapping of the
    networks named ``name`` (see the module docstring)."""
    def register(function):
        TORCH_MAPPINGS[name] = function
        return function
    return register


# -- reading ---------------------------------------------------------------------------

def _as_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):   # a torch tensor; bfloat16 and half as float32
        value = value.detach().cpu()
        if value.is_floating_point() and value.dtype.itemsize < 4:
            value = value.float()
        value = value.numpy()
    return np.asarray(value)


def read_state_dict(source) -> dict[str, np.ndarray]:
    """A state_dict as NumPy arrays by key, from a dict (of NumPy arrays or torch
    tensors), a ``.safetensors`` file, or a ``.pt``/``.pth``/``.bin`` file read with
    ``torch.load(weights_only=True)``; WeightsError naming the file otherwise."""
    if isinstance(source, dict):
        return {str(k): _as_numpy(v) for k, v in source.items()}
    path = Path(source)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file")
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        try:
            return load_file(path)
        except Exception as e:   # safetensors raises its own error types
            raise WeightsError(f"{path}: not a readable safetensors file "
                               f"({str(e).splitlines()[0] if str(e) else type(e).__name__})"
                               ) from e
    if path.suffix not in (".pt", ".pth", ".bin"):
        raise WeightsError(f"{path}: expected a .safetensors, .pt or .pth file")
    return _read_torch_file(path)


def _read_torch_file(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError:
        raise WeightsError(f"{path}: reading a PyTorch file needs PyTorch (pip install "
                           "torch); or save the state_dict as .safetensors") from None
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:   # unpickling raises many types
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise WeightsError(f"{path}: torch.load(weights_only=True) failed: {first}") from e
    if not isinstance(loaded, dict) or not all(hasattr(v, "detach") for v in loaded.values()):
        held = f"a dict with keys {sorted(loaded)[:4]}" if isinstance(loaded, dict) else \
            f"a {type(loaded).__name__}"
        raise WeightsError(f"{path}: holds {held}, not a state_dict of tensors")
    return {str(k): _as_numpy(v) for k, v in loaded.items()}


# -- converting ------------------------------------------------------------------------

def _xla_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """What 'same' pads before and after at ``size`` (XLA's: the odd pixel after)."""
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _xla_padded(spec: NetSpec) -> list[str]:
    """The layers whose 'same' padding is uneven at their input size (a strided
    window PyTorch's even padding would place one pixel apart)."""
    shapes = [spec.input_shape, *spec.layer_output_shapes]
    found = []
    for name, layer, shape in zip(spec.layer_names, spec.layers, shapes, strict=False):
        if str(getattr(layer, "padding", "")) != "same" or len(shape) != 3:
            continue
        # The blocks without a kernel_size (residual, inverted residual) stride a 3x3.
        kernel, stride = getattr(layer, "kernel_size", 3), getattr(layer, "stride", 1)
        if any(len(set(_xla_pads(n, kernel, stride))) > 1 for n in shape[1:]):
            found.append(name)
    return found


def _mapping(spec: NetSpec) -> list[Entry]:
    """The spec's entries, checked: a mapping exists, names every parameter once,
    and the spec pads as PyTorch does."""
    if spec.name not in TORCH_MAPPINGS:
        raise WeightsError(f"no PyTorch mapping for network {spec.name!r}; known: "
                           f"{', '.join(TORCH_MAPPINGS)}")
    uneven = _xla_padded(spec)
    if uneven:
        raise WeightsError(
            f"{spec.name}: {', '.join(uneven[:3])}{' ...' if len(uneven) > 3 else ''} pad "
            "'same' as XLA does (the odd pixel after) where PyTorch pads both sides alike; "
            "build it with padding=\"torch\" to use PyTorch weights")
    try:
        entries = list(TORCH_MAPPINGS[spec.name](spec))
    except (IndexError, ValueError, AttributeError):   # a layer it looks for is not there
        entries = []
    named = [ours for ours, _, _ in entries if ours is not None]
    params = {p.name for p in spec.params}
    stray = sorted(set(named) - params) or sorted(params - set(named))
    if stray or len(named) != len(set(named)):
        which = f"parameter {stray[0]!r}" if stray else "a parameter named twice"
        raise WeightsError(f"{spec.name}: the network is not the one its PyTorch mapping "
                           f"describes ({which})")
    return entries


def _shape(shape) -> str:
    return f"[{', '.join(map(str, shape))}]"


def _problems(spec: NetSpec, entries: list[Entry], state: dict) -> list[str]:
    """Each key ``state`` lacks, holds beyond the mapping, or holds in another shape."""
    shapes = {p.name: p.shape for p in spec.params}
    problems, known = [], set()
    for ours, key, layout in entries:
        known.add(key)
        expected = LAYOUTS[layout].torch_shape(shapes.get(ours, ()))
        if key not in state:
            if layout != "counter":
                problems.append(f"missing key {key!r} (expected shape {_shape(expected)})")
        elif tuple(state[key].shape) != tuple(expected):
            problems.append(f"key {key!r}: expected shape {_shape(expected)}, found "
                            f"{_shape(state[key].shape)}")
    problems += [f"unexpected key {key!r} (shape {_shape(np.shape(state[key]))})"
                 for key in state if key not in known]
    return problems


def from_torch(spec: NetSpec, state_dict) -> dict[str, np.ndarray]:
    """The parameters of ``spec`` (float32, by name, in its order) from a PyTorch
    state_dict under the keys of the network's mapping (TORCH_MAPPINGS: torchvision's
    for the Imagenette networks, timm's for ViT-Tiny and MobileNetV4-Conv-S; ``to_torch``
    writes the same): a dict of NumPy arrays or torch
    tensors, or a ``.safetensors``, ``.pt`` or ``.pth`` file. ``num_batches_tracked``
    is accepted and ignored. WeightsError (one line naming the key, the expected and
    the found shape) on any missing, unexpected or misshapen key."""
    entries = _mapping(spec)
    state = read_state_dict(state_dict)
    problems = _problems(spec, entries, state)
    if problems:
        where = "" if isinstance(state_dict, dict) else f"{state_dict}: "
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise WeightsError(f"{where}{spec.name}: {problems[0]}{more}")
    found = {ours: np.array(LAYOUTS[layout].from_torch(state[key]), np.float32, order="C")
             for ours, key, layout in entries if ours is not None}
    return {p.name: found[p.name] for p in spec.params}


def to_torch(spec: NetSpec, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``params`` of ``spec`` as a PyTorch state_dict (NumPy arrays under the
    mapping's keys, in its order), with every batch norm's ``num_batches_tracked``
    (int64 zero), so ``model.load_state_dict(..., strict=True)`` takes it."""
    entries = _mapping(spec)
    missing = [ours for ours, _, _ in entries if ours is not None and ours not in params]
    if missing:
        raise WeightsError(f"{spec.name}: params lack {missing[0]!r}")
    # Copies (np.array), C-ordered for torch.from_numpy and safetensors.
    return {key: np.array(LAYOUTS[layout].to_torch(
                np.asarray(params[ours]) if ours is not None else None), order="C")
            for ours, key, layout in entries}


# -- the mappings ----------------------------------------------------------------------

#: A rename table: (our suffix prefix, PyTorch suffix prefix[, layout]) per entry.
Table = list[tuple]


def _renamed(spec: NetSpec, layer: str, prefix: str, table: Table) -> Iterator[Entry]:
    """The entries of ``layer``'s parameters: each suffix renamed by the first table
    row it starts with, under ``prefix``; a batch norm (its ``running_var``) also
    yields PyTorch's ``num_batches_tracked``. A suffix no row names is left out
    (and the mapping is then refused as incomplete)."""
    index = spec.layer_names.index(layer)
    for p in spec.params:
        if p.layer_index != index:
            continue
        suffix = p.name[len(layer) + 1:]
        row = next((r for r in table if suffix.startswith(r[0])), None)
        if row is None:
            continue
        key = prefix + row[1] + suffix[len(row[0]):]
        yield p.name, key, row[2] if len(row) > 2 else "identity"
        if suffix.endswith("running_var"):
            yield None, key.removesuffix("running_var") + "num_batches_tracked", "counter"


def _kind(spec: NetSpec, kind: str) -> list[str]:
    """The names of the spec's layers of ``kind``, in order."""
    return [n for n, layer in zip(spec.layer_names, spec.layers, strict=True)
            if layer.kind == kind]


def _stages(spec: NetSpec, kind: str, width: str) -> list[tuple[int, int, str]]:
    """(stage, index in it, name) of the blocks of ``kind``, a stage being a run of
    blocks of the same ``width`` (their output channels), as torchvision groups them."""
    out, stage, index, previous = [], -1, 0, None
    for name, layer in zip(spec.layer_names, spec.layers, strict=True):
        if layer.kind != kind:
            continue
        stage, index = (stage + 1, 0) if getattr(layer, width) != previous else (stage, index + 1)
        previous = getattr(layer, width)
        out.append((stage, index, name))
    return out


def _conv_bn(conv: str, bn: str) -> Table:
    return [("conv.", conv), ("bn.", bn)]


def _linear(key: str) -> Table:
    return [("weight", f"{key}.weight", "linear"), ("bias", f"{key}.bias")]


@torch_mapping("ResNet-34")
def _resnet34(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.resnet34: conv1/bn1, layer1..4 of BasicBlocks, fc."""
    yield from _renamed(spec, _kind(spec, "conv_bn")[0], "", _conv_bn("conv1.", "bn1."))
    block = [("conv1.", "conv1."), ("bn1.", "bn1."), ("conv2.", "conv2."), ("bn2.", "bn2."),
             ("proj.", "downsample.0."), ("proj_bn.", "downsample.1.")]
    for stage, index, name in _stages(spec, "residual_block", "out_channels"):
        yield from _renamed(spec, name, f"layer{stage + 1}.{index}.", block)
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("fc"))


def _numbered(layer, parts: list[tuple[str, str]]) -> Table:
    """The rows of a block whose PyTorch modules are an nn.Sequential, numbered in
    order: ``parts`` are (our part, its form) in that order, the form "cna" (a
    Conv2dNormActivation: ``N.0`` conv, ``N.1`` norm), "bare" (a conv at ``N``, its
    norm at ``N + 1``) or "module" (its own keys under ``N``). ``expand`` is absent
    when the block's expansion ratio is 1, and the numbers shift."""
    rows, n = [], 0
    for part, form in parts:
        if part == "expand" and layer.expand_ratio == 1:
            continue
        if form == "cna":
            rows += [(f"{part}.conv.", f"{n}.0."), (f"{part}.bn.", f"{n}.1.")]
        elif form == "bare":
            rows += [(f"{part}.conv.", f"{n}."), (f"{part}.bn.", f"{n + 1}.")]
            n += 1
        else:
            rows.append((f"{part}.", f"{n}."))
        n += 1
    return rows


@torch_mapping("MobileNetV2")
def _mobilenet_v2(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.mobilenet_v2: features.0 (stem), features.1..17 (blocks,
    ``conv.N``), features.18 (the 1x1 to 1280), classifier.1."""
    stem, head = _kind(spec, "conv_bn")[0], _kind(spec, "conv_bn")[-1]
    yield from _renamed(spec, stem, "features.0.", _conv_bn("0.", "1."))
    blocks = _kind(spec, "inverted_residual")
    parts = [("expand", "cna"), ("depthwise", "cna"), ("project", "bare")]
    for i, name in enumerate(blocks, 1):
        rows = _numbered(spec.layers[spec.layer_names.index(name)], parts)
        yield from _renamed(spec, name, f"features.{i}.conv.", rows)
    yield from _renamed(spec, head, f"features.{len(blocks) + 1}.", _conv_bn("0.", "1."))
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("classifier.1"))


@torch_mapping("EfficientNet-B0")
def _efficientnet_b0(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.efficientnet_b0: features.0 (stem), features.1..7 (stages of
    MBConv, ``block.N``), features.8 (the 1x1 to 1280), classifier.1."""
    stem, head = _kind(spec, "conv_bn")[0], _kind(spec, "conv_bn")[-1]
    yield from _renamed(spec, stem, "features.0.", _conv_bn("0.", "1."))
    stages = _stages(spec, "mbconv", "out_channels")
    parts = [("expand", "cna"), ("depthwise", "cna"), ("se", "module"), ("project", "cna")]
    for stage, index, name in stages:
        rows = _numbered(spec.layers[spec.layer_names.index(name)], parts)
        yield from _renamed(spec, name, f"features.{stage + 1}.{index}.block.", rows)
    last = stages[-1][0] + 2 if stages else 1
    yield from _renamed(spec, head, f"features.{last}.", _conv_bn("0.", "1."))
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("classifier.1"))


@torch_mapping("ConvNeXt-T")
def _convnext_tiny(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.convnext_tiny: features.0 (patchify conv, LayerNorm2d),
    features.1, 3, 5, 7 (stages of CNBlock: ``block.0`` depthwise, ``.2`` norm, ``.3``
    and ``.5`` Linear, ``layer_scale``), features.2, 4, 6 (LayerNorm2d, 2x2 conv),
    classifier.0 (LayerNorm2d) and .2 (Linear)."""
    convs, norms = _kind(spec, "conv2d"), _kind(spec, "layer_norm")
    plain = [("weight", "weight"), ("bias", "bias")]
    for i, conv in enumerate(convs):
        yield from _renamed(spec, conv, "features.0.0." if i == 0 else f"features.{2 * i}.1.",
                            plain)
    for i, norm in enumerate(norms):
        prefix = ("features.0.1." if i == 0 else "classifier.0." if i == len(norms) - 1
                  else f"features.{2 * i}.0.")
        yield from _renamed(spec, norm, prefix, plain)
    block = [("dwconv.", "block.0."), ("norm.", "block.2."),
             ("pwconv1.weight", "block.3.weight", "pointwise"), ("pwconv1.bias", "block.3.bias"),
             ("pwconv2.weight", "block.5.weight", "pointwise"), ("pwconv2.bias", "block.5.bias"),
             ("layer_scale", "layer_scale")]
    for stage, index, name in _stages(spec, "convnext_block", "channels"):
        yield from _renamed(spec, name, f"features.{2 * stage + 1}.{index}.", block)
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("classifier.2"))


@torch_mapping("ViT-Tiny")
def _vit_tiny(spec: NetSpec) -> Iterator[Entry]:
    """timm's vit_tiny_patch16_224: patch_embed.proj, cls_token, pos_embed, blocks.N
    (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2: our names), norm, head."""
    yield from _renamed(spec, _kind(spec, "patch_embed")[0], "patch_embed.", [("proj.", "proj.")])
    yield from _renamed(spec, _kind(spec, "class_token")[0], "", [("token", "cls_token")])
    yield from _renamed(spec, _kind(spec, "position_embedding")[0], "",
                        [("embedding", "pos_embed")])
    block = [(f"{part}.weight", f"{part}.weight", "linear")
             for part in ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")]
    block += [("", "")]     # the rest (norms, biases) under their own names
    for i, name in enumerate(_kind(spec, "vit_block")):
        yield from _renamed(spec, name, f"blocks.{i}.", block)
    yield from _renamed(spec, _kind(spec, "layer_norm")[0], "norm.", [("", "")])
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("head"))


def _parts(layer, present: list[tuple[str, bool]], module: str = "se") -> Table:
    """The rows of a torchvision block whose ``block`` is an nn.Sequential of the parts
    that are present, numbered in order: a convBn part as a Conv2dNormActivation
    (``N.0`` conv, ``N.1`` norm), the squeeze-and-excitation (``module``) as its own keys
    under ``N``."""
    rows, n = [], 0
    for part, there in present:
        if not there:
            continue
        rows += ([(f"{part}.", f"{n}.")] if part == module else
                 [(f"{part}.conv.", f"{n}.0."), (f"{part}.bn.", f"{n}.1.")])
        n += 1
    return rows


@torch_mapping("ResNet-50")
def _resnet50(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.resnet50: conv1/bn1, layer1..4 of Bottlenecks, fc."""
    yield from _renamed(spec, _kind(spec, "conv_bn")[0], "", _conv_bn("conv1.", "bn1."))
    block = [(f"conv{i}.conv.", f"conv{i}.") for i in (1, 2, 3)]
    block += [(f"conv{i}.bn.", f"bn{i}.") for i in (1, 2, 3)]
    block += [("shortcut.proj.conv.", "downsample.0."), ("shortcut.proj.bn.", "downsample.1.")]
    for stage, index, name in _stages(spec, "bottleneck", "width"):
        yield from _renamed(spec, name, f"layer{stage + 1}.{index}.", block)
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("fc"))


@torch_mapping("MobileNetV3-Large")
def _mobilenet_v3_large(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.mobilenet_v3_large: features.0 (stem), features.1..15 (blocks,
    ``block.N``: expand, depthwise, SE, project, those present), features.16 (the 1x1 to
    960), classifier.0 and .3 (Linear)."""
    stem, head = _kind(spec, "conv_bn")[0], _kind(spec, "conv_bn")[-1]
    yield from _renamed(spec, stem, "features.0.", _conv_bn("0.", "1."))
    blocks = _kind(spec, "mobilenet_v3_block")
    for i, name in enumerate(blocks, 1):
        layer = spec.layers[spec.layer_names.index(name)]
        rows = _parts(layer, [("expand", layer.expanded != layer.in_channels),
                              ("depthwise", True), ("se", layer.se), ("project", True)])
        yield from _renamed(spec, name, f"features.{i}.block.", rows)
    yield from _renamed(spec, head, f"features.{len(blocks) + 1}.", _conv_bn("0.", "1."))
    hidden, out = _kind(spec, "dense")
    yield from _renamed(spec, hidden, "", _linear("classifier.0"))
    yield from _renamed(spec, out, "", _linear("classifier.3"))


@torch_mapping("EfficientNetV2-S")
def _efficientnet_v2_s(spec: NetSpec) -> Iterator[Entry]:
    """torchvision.models.efficientnet_v2_s: features.0 (stem), features.1..6 (stages of
    FusedMBConv and MBConv, ``block.N``), features.7 (the 1x1 to 1280), classifier.1."""
    stem, head = _kind(spec, "conv_bn")[0], _kind(spec, "conv_bn")[-1]
    yield from _renamed(spec, stem, "features.0.", _conv_bn("0.", "1."))
    stage, index, previous = 0, 0, None
    for name, layer in zip(spec.layer_names, spec.layers, strict=True):
        if layer.kind not in ("fused_mbconv", "mbconv"):
            continue
        key = (layer.kind, layer.out_channels)
        stage, index = (stage + 1, 0) if key != previous else (stage, index + 1)
        previous = key
        if layer.kind == "fused_mbconv":
            rows = _parts(layer, [("expand", True), ("project", layer.expand_ratio != 1)])
        else:
            rows = _parts(layer, [("expand", layer.expand_ratio != 1), ("depthwise", True),
                                  ("se", True), ("project", True)])
        yield from _renamed(spec, name, f"features.{stage}.{index}.block.", rows)
    yield from _renamed(spec, head, f"features.{stage + 1}.", _conv_bn("0.", "1."))
    yield from _renamed(spec, _kind(spec, "dense")[0], "", _linear("classifier.1"))


@torch_mapping("MobileNetV4-Conv-S")
def _mobilenet_v4_conv_small(spec: NetSpec) -> Iterator[Entry]:
    """timm's mobilenetv4_conv_small: conv_stem/bn1, blocks.S.B (ConvBnAct: conv/bn1;
    UniversalInvertedResidual: dw_start, pw_exp, dw_mid, pw_proj, each conv/bn: our
    names), conv_head (a 1x1 convolution: our bias-free dense), norm_head, classifier."""
    convs = _kind(spec, "conv_bn")
    yield from _renamed(spec, convs[0], "", _conv_bn("conv_stem.", "bn1."))
    blocks = [n for n, layer in zip(spec.layer_names, spec.layers, strict=True)
              if layer.kind in ("conv_bn", "uib")][1:]
    stages = [2, 2, 6, 6, 1]          # timm's stages of blocks
    if len(blocks) != sum(stages):
        return                         # not the network the mapping describes (refused)
    first = 0
    for stage, count in enumerate(stages):
        for index, name in enumerate(blocks[first:first + count]):
            rows = _conv_bn("conv.", "bn1.") + [("", "")]
            yield from _renamed(spec, name, f"blocks.{stage}.{index}.", rows)
        first += count
    head, out = _kind(spec, "dense")
    yield from _renamed(spec, head, "", [("weight", "conv_head.weight", "conv_linear")])
    yield from _renamed(spec, _kind(spec, "batch_norm")[0], "norm_head.", [("", "")])
    yield from _renamed(spec, out, "", _linear("classifier"))
