"""Explaining a network: its graph, its derived backward pass, and each layer's kernels and time.

    lean-mlir explain cnn -o explain/cnn          # or path/to/file.py:NAME
    report = lm.explain(lm.mnist_cnn(), "explain/cnn")

writes one self-contained page, ``index.html`` (inline SVG and CSS; it opens
from disk), ``report.json`` with the same facts for programs, the graphs as
``.dot`` and ``.svg``, and the IR at each stage: ``netspec.mlir``,
``stablehlo.mlir`` (with the locations the lowering attaches) and
``dispatches.mlir`` (the executables IREE built, with theirs).

Every lowered op carries ``loc("<part>"(<layer>))`` (``LayerLowering::part``
in the C++ lowering): the layer, or parameter, or the network's output it
belongs to, and the part of the program: forward, layout, loss, backward,
input / weight / bias gradient, optimizer. The derived function's graph
groups the ops by (layer, part). IREE keeps those locations on the ops it
fuses into each dispatch, so the dispatch table says which layers and parts
each dispatch holds, and its time, measured by IREE's own profiler
(``iree-benchmark-module`` with host-execution profiling, ``iree-profile``),
is charged to them; time in dispatches that hold no located op is shown as
unattributed.
"""

from __future__ import annotations

import html
import json
import subprocess
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lean_mlir import _dot
from lean_mlir._files import atomic_write
from lean_mlir._host import cpu_name, gemm_peak_gflops
from lean_mlir._native import dot_path, iree_tool_path
from lean_mlir.compiler import FUNCTIONS, Lowered, compile_stablehlo, example_arguments, lower
from lean_mlir.pipeline import run_pipeline
from lean_mlir.recipes import TrainConfig
from lean_mlir.recipes import get as get_recipe
from lean_mlir.signature import Signature
from lean_mlir.spec import NetSpec

__all__ = ["PARTS", "VJP_RULES", "Dispatch", "ExplainError", "explain", "profile_dispatches"]

#: The parts of a derived function, in the order a train step runs them.
PARTS = ("forward", "layout", "loss", "backward", "input gradient", "weight gradient",
         "bias gradient", "optimizer")

#: Each layer kind's VJP rule (``lm.LAYERS``), as the backward clusters are titled.
VJP_RULES = {
    "conv2d": "dx = conv(g dilated by the stride, w reversed in space, channels swapped); "
              "dw = conv(x, g); db = sum over N, H, W of g",
    "max_pool2d": "each window's g to its first maximum (row-major)",
    "avg_pool2d": "each window's g / k^2 to every input it averaged (overlaps add)",
    "flatten": "dx = reshape(g) to the input's shape",
    "dense": "dx = g w^T; dw = x^T g; db = sum over N of g",
    "relu": "dx = g where y > 0, else 0",
    "batch_norm": "dx = a (g - mean(g) - x^ mean(g x^)), a = scale / sqrt(var + eps); "
                  "dscale = sum g x^; dshift = sum g (through the batch statistics)",
    "conv_bn": "batch norm's VJP, then the convolution's (no bias)",
    "global_avg_pool": "dx = g / (H W), spread over each channel",
    "residual_block": "both paths' cotangents summed at x; each convBn's VJP; relu masks",
    "layer_norm": "dx = inv (gh - mean_c(gh) - x^ mean_c(gh x^)), gh = weight g; "
                  "dweight = sum g x^; dbias = sum g",
    "layer_scale": "dx = g gamma; dgamma = sum over N, H, W of g x",
    "convnext_block": "g to x and through layer scale's, the pointwise convolutions' "
                      "(gelu from its kept input), layer norm's and the depthwise VJPs",
    "squeeze_excite": "the product rule at y = x gate: dx = g gate + the mean's VJP of "
                      "fc1's of the activation's of fc2's of sigmoid's of sum_hw g x",
    "mbconv": "project's, squeeze-excitation's (product rule), depthwise's and expand's "
              "VJPs, silu's from its kept input; g added at x when x is added back",
    "inverted_residual": "project's, depthwise's (per-channel taps) and expand's convBn VJPs, "
                         "relu6 masks; g added at x when x is added back",
    "residual": "g to the shortcut (or x) and back through the body's VJPs; summed at x",
    "patch_embed": "the tokens' g reshaped to NCHW, then the strided convolution's VJP",
    "class_token": "dx = g without token 0; dtoken = sum over N of token 0's g",
    "position_embedding": "dx = g; dembedding = sum over N of g",
    "attention": "dv = P^T dO; dP = dO v^T; dS = P (dP - rowsum(dP P)) (softmax's rule); "
                 "dq = s dS k; dk = s dS^T q; then qkv's and proj's dense VJPs",
    "take_token": "g at the token taken, zeros at the others",
    "vit_block": "the MLP residual's VJP (dense, gelu, layer norm), then the attention "
                 "residual's; g summed at each skip",
    "bottleneck": "relu's mask, then g to the shortcut (or x) and through conv3's, conv2's "
                  "and conv1's convBn VJPs; summed at x",
    "mobilenet_v3_block": "project's, squeeze-excitation's (hardsigmoid gate), depthwise's and "
                          "expand's VJPs, hardswish or relu; g added at x when x is added back",
    "fused_mbconv": "project's and the expanding full convolution's convBn VJPs (silu); g "
                    "added at x when x is added back",
    "uib": "pw_proj's, dw_mid's, pw_exp's and dw_start's convBn VJPs, the ones it has; g "
           "added at x when x is added back",
}

#: What each activation adds to a rule's VJP, as the clusters say it (z: the
#: value before the activation, y: after it).
ACTIVATION_VJPS = {
    "relu": "relu: g masked where y <= 0",
    "relu6": "relu6: g masked where y <= 0 or y >= 6",
    "sigmoid": "sigmoid: g y (1 - y)",
    "tanh": "tanh: g (1 - y^2)",
    "silu": "silu: g s (1 + z (1 - s)), s = sigmoid(z), z kept from the forward pass",
    "gelu": "gelu: g (Phi(z) + z phi(z)), z kept from the forward pass",
    "gelu_tanh": "gelu_tanh: g ((1 + t) / 2 + z (1 - t^2) u' / 2), t = tanh(u), "
                 "z kept from the forward pass",
    "hardswish": "hardswish: 0 below z = -3, g (z / 3 + 1/2) up to 3, g above; z kept",
    "hardsigmoid": "hardsigmoid: g / 6 where 0 < y < 1, else 0",
}

PART_COLOURS = {"forward": "#dbe8fb", "layout": "#eeeeee", "loss": "#fde2c8",
                "backward": "#f9d6d5", "input gradient": "#f9d6d5",
                "weight gradient": "#f4c2c0", "bias gradient": "#f7dcdb",
                "optimizer": "#d9f0d3"}


class ExplainError(ValueError):
    """A tool explain runs (IREE's compiler, its profiler) failed; says which and why."""


@dataclass
class Op:
    """One op of a lowered function: what it is, whose it is, what it reads."""

    index: int
    name: str
    owner: str          # a layer's name, or the network's (loss, step scalars)
    part: str           # one of PARTS, or "" (the function's own: return)
    results: list[str]
    operands: list[tuple]


@dataclass
class Dispatch:
    """One dispatch IREE built: its time per call and whose ops it holds."""

    name: str
    ms: float
    count: int
    owners: list[tuple[str, str]] = field(default_factory=list)   # (owner, part)
    ops: list[str] = field(default_factory=list)                  # op kinds inside
    #: Its milliseconds charged to each (owner, part): split evenly over the
    #: places it is dispatched from, and within a place over the pairs there.
    charges: dict[tuple[str, str], float] = field(default_factory=dict)


def _owner_and_part(chains: list[list[str]], names: set[str], network: str) -> tuple[str, str]:
    """(owner, part) from an op's location chains: loc("part"("layer"(...)))."""
    for chain in chains:
        if len(chain) >= 2 and chain[0] in PARTS:
            owner = chain[1]
            return (owner if owner in names else network), chain[0]
    for chain in chains:
        if chain and chain[0] in names:
            return chain[0], ""
    return network, ""


def derived_ops(module, function: str, spec: NetSpec) -> list[Op]:
    """The ops of ``function`` in the lowered ``module``, each with its owner and part."""
    funcs = [op for op in module.operation.walk() if op.name == "func.func"
             and op.attributes.get("sym_name") == function]
    if not funcs:
        raise ValueError(f"no function @{function} in the lowered module")
    names = set(spec.layer_names)
    ops = []
    for i, entry in enumerate(funcs[0].block_ops()):
        owner, part = _owner_and_part(entry["locations"], names, spec.name)
        ops.append(Op(i, entry["name"], owner, part, entry["results"], entry["operands"]))
    return ops


def _dims(type_text: str) -> str:
    """``tensor<128x32xf32>`` -> ``128x32``; a scalar tensor -> ``scalar``."""
    inner = type_text.removeprefix("tensor<").removesuffix(">")
    dims = inner.split("x")[:-1]
    return "x".join(dims) if dims else "scalar"


#: How the derived graph names each argument role.
_ROLE_NAMES = {"param": "parameters", "state": "optimizer state", "images": "x",
               "labels": "y", "learning_rate": "lr, step", "step": "lr, step"}


def _argument_names(signature: Signature) -> list[str]:
    """What each argument of the function is, in its order, read from its roles."""
    return [_ROLE_NAMES[a.role.kind] for a in signature.args]


#: The arguments drawn as nodes of the derived graph: the batch and the step's
#: scalars. The parameters and the optimizer state feed nearly every group, and
#: their edges would hide the graph's shape.
_DRAWN_ARGUMENTS = ("x", "y", "lr, step")


def derived_dot(spec: NetSpec, function: str, ops: list[Op], signature: Signature) -> str:
    """The derived function as a Graphviz graph: a node per (owner, part) group of ops,
    one cluster per layer's forward and one per layer's backward (titled with its VJP
    rule), the loss and the optimizer; edges labelled with the shape that crosses."""
    # The optimizer's per-parameter updates are one node: drawn apart they made a
    # row as wide as the parameters, and the page scaled every label down.
    group_of = {op.index: ("optimizer", "optimizer") if op.part == "optimizer"
                else (op.owner, op.part or "forward") for op in ops
                if op.name != "func.return"}
    members: dict[tuple[str, str], Counter] = defaultdict(Counter)
    for op in ops:
        if op.index in group_of:
            members[group_of[op.index]][op.name.removeprefix("stablehlo.")] += 1
    ids = {key: f"g{i}" for i, key in enumerate(members)}
    arguments = _argument_names(signature)
    lines = [f"digraph {_dot.quote(f'{spec.name} {function}')} {{",
             (f"  graph [rankdir=TB, {_dot.FONT}, fontsize=11, labelloc=t, newrank=true, "
              f"label={_dot.quote(f'{spec.name}: the derived {function}')}];"),
             f'  node [shape=box, style="rounded,filled", {_dot.FONT}, fontsize=9];',
             f"  edge [{_dot.FONT}, fontsize=8, color=\"#666666\"];"]
    for name in dict.fromkeys(arguments):
        if name in _DRAWN_ARGUMENTS:
            lines.append(f'  "{name}" [shape=ellipse, fillcolor="#ffffff"];')
    lines.append('  results [shape=ellipse, fillcolor="#ffffff"];')
    lines += _clusters(spec, members, ids)
    for (a, b), shape in _edges(ops, group_of, ids, arguments).items():
        lines.append(f"  {a} -> {b}" + (f" [label={_dot.quote(shape)}];" if shape else ";"))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edges(ops: list[Op], group_of: dict, ids: dict, arguments: list[str]) -> dict:
    """(from node, to node) -> the shape of the first value that crosses, between the
    groups of ops (and from the drawn arguments, and to the results)."""
    edges: dict[tuple[str, str], str] = {}
    for op in ops:
        target = "results" if op.name == "func.return" else ids[group_of[op.index]]
        for source in op.operands:
            if source[0] == "arg":
                name = arguments[source[1]] if source[1] < len(arguments) else "workspace"
                if name in _DRAWN_ARGUMENTS:
                    edges.setdefault((f'"{name}"', target), "")
            elif source[0] == "op" and source[1] in group_of:
                origin = ids[group_of[source[1]]]
                if origin != target:
                    edges.setdefault((origin, target), _dims(ops[source[1]].results[source[2]]))
    return edges


def _clusters(spec: NetSpec, members: dict, ids: dict) -> list[str]:
    """The groups' nodes, in a cluster per layer's forward, per layer's backward (titled
    with its VJP rule), the loss and the optimizer."""
    layers = dict(zip(spec.layer_names, spec.layers, strict=True))
    clusters: dict[str, list[str]] = defaultdict(list)
    for (owner, part), counts in members.items():
        top = ", ".join(f"{n} {k}" for k, n in counts.most_common(3))
        more = sum(counts.values()) - sum(n for _, n in counts.most_common(3))
        node = (f"  {ids[(owner, part)]} "
                f"[fillcolor={_dot.quote(PART_COLOURS.get(part, '#ffffff'))}, "
                f"label={_dot.label(part, top + (f', +{more}' if more else ''))}];")
        if part in ("loss", "optimizer"):
            clusters[part].append(node)
        elif part in ("forward", "layout"):
            clusters[f"forward {owner}"].append(node)
        else:
            clusters[f"backward {owner}"].append(node)
    lines = []
    for i, (title, nodes) in enumerate(clusters.items()):
        phase, _, owner = title.partition(" ")
        layer = layers.get(owner)
        if phase == "backward" and layer is not None:
            first = owner == spec.layer_names[0]
            label = _dot.label(f"{owner} ({layer.kind}) VJP",
                               *_wrap(_vjp_rule(layer, first), 60))
        elif phase == "forward" and layer is not None:
            label = _dot.label(f"{owner} ({layer.kind})")
        else:
            label = _dot.label(phase)
        lines.append(f"  subgraph cluster_{i} {{ label={label}; style=rounded; "
                     f'color="#999999"; fontsize=9;')
        lines += ["  " + node for node in nodes]
        lines.append("  }")
    return lines


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most about ``width`` characters."""
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*lines, line] if line else lines


# -- dispatches: which layers' ops each one holds, and its time --------------------------

#: Ops inside an executable whose locations say nothing about what it computes:
#: IREE gives interface ops the function's location, and CSE'd empties,
#: constants and zero fills keep the location of the first of their kind.
_UNINFORMATIVE = {"arith.constant", "tensor.empty", "func.return", "func.func",
                  "hal.interface.binding.subspan", "hal.interface.constant.load",
                  "hal.interface.workgroup.id", "hal.interface.workgroup.count",
                  "util.assume.int", "arith.index_castui", "arith.index_cast", "linalg.fill"}


def _name_chains(loc, out: set) -> set:
    """Adds every NameLoc chain of ``loc`` (an ``iree.compiler.ir`` location) to
    ``out``, outermost name first; a call site's callee is the inlined op's own."""
    from iree.compiler import ir

    if isinstance(loc, ir.CallSiteLoc):
        _name_chains(loc.callee, out)
    elif isinstance(loc, ir.FusedLoc):
        for inner in loc.locations:
            _name_chains(inner, out)
    elif isinstance(loc, ir.NameLoc):
        chain = []
        while isinstance(loc, ir.NameLoc):
            chain.append(loc.name_str)
            loc = loc.child_loc
        out.add(tuple(chain))
    return out


def _walk(op, visit) -> None:
    visit(op)
    for region in op.regions:
        for block in region.blocks:
            for inner in block.operations:
                _walk(inner.operation, visit)


def _owners(chains: set, spec: NetSpec) -> list[tuple[str, str]]:
    """(owner, part) pairs of a set of location chains, in layer order."""
    names = set(spec.layer_names)
    found = {_owner_and_part([list(chain)], names, spec.name) for chain in chains}
    # An op with no part outside any layer (the function's own) says nothing.
    found = {(owner, part) for owner, part in found if part or owner in names}
    order = {name: i for i, name in enumerate(spec.layer_names)}
    return sorted(found, key=lambda op: (order.get(op[0], len(order)), op[1]))


def _executables(sources: str, spec: NetSpec) -> dict[str, dict]:
    """For each export of the ``hal.executable`` ops in ``sources`` (the
    executable-sources phase, with locations): the (owner, part) pairs of the ops
    in its body, its op kinds, and the (owner, part) pairs of each place the host
    program dispatches it (``stream.cmd.dispatch``). One executable may serve
    several places (IREE keeps one copy of identical kernels); its body then
    shows one place's locations, and only the places say whose work it is."""
    from iree.compiler import ir

    exports: dict[str, dict] = {}
    sites: dict[str, list] = defaultdict(list)
    with ir.Context() as ctx:
        ctx.allow_unregistered_dialects = True
        module = ir.Module.parse(sources)

        def visit(op):
            if op.name == "stream.cmd.dispatch":
                entry = str(ir.ArrayAttr(op.attributes["entry_points"])[0])
                sites[entry.rsplit("::@", 1)[-1]].append(
                    _owners(_name_chains(op.location, set()), spec))
            elif op.name == "hal.executable":
                functions = {}
                _walk(op, lambda inner: functions.__setitem__(
                    ir.StringAttr(inner.attributes["sym_name"]).value, inner)
                    if inner.name == "func.func" else None)
                for name, func in functions.items():
                    chains, kinds = set(), Counter()

                    def collect(inner, chains=chains, kinds=kinds):
                        if inner.name not in _UNINFORMATIVE:
                            _name_chains(inner.location, chains)
                            if inner.name.split(".")[0] in ("linalg", "iree_linalg_ext",
                                                            "iree_encoding"):
                                kinds[inner.name] += 1
                    _walk(func, collect)
                    exports[name] = {"owners": _owners(chains, spec), "ops": kinds}
        _walk(module.operation, visit)
    for name, info in exports.items():
        info["sites"] = sites.get(name, [])
    return exports


def _profile(vmfb: bytes, text: str, function: str, inputs: list[np.ndarray], calls: int,
             work: Path) -> tuple[list[dict], float]:
    """Runs ``function`` ``calls`` times under IREE's host-execution profiler; returns
    the per-function rows of ``iree-profile statistics`` and the wall ms per call."""
    from lean_mlir.compiler import CompiledModule

    (work / "module.vmfb").write_bytes(vmfb)
    flags = []
    for i, value in enumerate(inputs):
        np.save(work / f"in{i}.npy", value)
        flags.append(f"--input=@{work / f'in{i}.npy'}")
    module = CompiledModule(vmfb, "llvm-cpu", text)._module()
    size_query = f"{function}_transients_size"
    if size_query in module.vm_module.function_names:
        flags.append(f"--input={int(module[size_query](*inputs, np.zeros(1, np.uint8)))}xi8")
    trace = work / "run.ireeprof"
    bench = subprocess.run(
        [str(iree_tool_path("iree-benchmark-module")), f"--module={work / 'module.vmfb'}",
         f"--function={function}", "--device=local-task", *flags,
         "--benchmark_repetitions=1", f"--benchmark_min_time={calls}x",
         "--benchmark_format=json", "--device_profiling_mode=host-execution",
         f"--device_profiling_output={trace}"],
        capture_output=True, text=True, check=False, timeout=1800)
    if bench.returncode != 0:
        raise RuntimeError(f"iree-benchmark-module failed: {bench.stderr.strip()[-500:]}")
    wall = json.loads(bench.stdout)["benchmarks"][0]
    unit = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[wall.get("time_unit", "ns")]
    stats = subprocess.run([str(iree_tool_path("iree-profile")), "statistics",
                            "--format=jsonl", str(trace)],
                           capture_output=True, text=True, check=True, timeout=600).stdout
    rows = [json.loads(line) for line in stats.splitlines() if line.strip()]
    return ([r for r in rows if r.get("row_type") == "host_execution_function"],
            wall["real_time"] * unit)


def _dispatches(rows: list[dict], exports: dict[str, dict], calls: int) -> list[Dispatch]:
    """The profiled dispatches, largest first, each with whose ops it holds: the
    places it is dispatched from where the host program names them, else its body."""
    out = []
    for row in rows:
        info = exports.get(row["function_name"], {"owners": [], "ops": Counter(), "sites": []})
        ms = row["total_duration_ns"] / 1e6 / calls
        places = [site for site in info["sites"] if site] or (
            [info["owners"]] if info["owners"] else [])
        charges: dict[tuple[str, str], float] = defaultdict(float)
        for place in places:
            for pair in place:
                charges[pair] += ms / len(places) / len(place)
        out.append(Dispatch(row["function_name"], ms, round(row["sample_count"] / calls),
                            list(charges), [k for k, _ in info["ops"].most_common()],
                            dict(charges)))
    return sorted(out, key=lambda d: -d.ms)


def _compile_with_sources(text: str, flags: list[str], work: Path) -> tuple[bytes, str]:
    """The ``.vmfb`` and, from the same compile, the executable-sources phase with the
    ops' locations (the executables in it are the ones in the ``.vmfb``, by name)."""
    phases = work / "phases"
    vmfb = compile_stablehlo(text, "llvm-cpu", flags, extra_flags=(
        f"--dump-compilation-phases-to={phases}", "--mlir-print-debuginfo"))
    found = sorted(phases.glob("*.executable-sources.mlir"))
    if not found:
        raise RuntimeError(f"iree-compile wrote no executable-sources phase into {phases}")
    return vmfb, found[0].read_text()


# -- the report ---------------------------------------------------------------------------

def _layer_flops(spec: NetSpec) -> list[int]:
    """Forward FLOPs per sample of each layer, as ``netspec-model-summary`` counts them:
    the sum over the netspec ops the layer built (a conv_bn is a conv2d and a
    batch_norm), which carry the layer's name as their location."""
    module = spec.to_mlir()
    run_pipeline(module, "builtin.module(netspec-model-summary)", "model summary")
    model = next(op for op in module.operation.walk() if op.name == "netspec.model")
    flops: Counter = Counter()
    for op in model.block_ops():
        if "netspec.flops_per_sample" in op["attributes"]:
            flops[op["locations"][0][0]] += op["attributes"]["netspec.flops_per_sample"]
    unknown = set(flops) - set(spec.layer_names)
    if unknown:
        raise ValueError(f"{spec.name}: netspec ops located at no layer: {sorted(unknown)}")
    return [flops[name] for name in spec.layer_names]


def _vjp_rule(layer, first: bool = False) -> str:
    """The layer's VJP rule, with the activation's mask where it has one. The first
    layer reads the model's input, which needs no gradient: its rule leaves ``dx`` out."""
    rule = VJP_RULES[layer.kind]
    if first:
        kept = [c for c in rule.split("; ") if not c.startswith("dx =")]
        rule = ("; ".join(kept) + " (no input gradient: it reads the model's input)"
                if kept else "nothing: it reads the model's input, which needs no gradient")
    activation = str(getattr(layer, "activation", "identity"))
    if activation in ACTIVATION_VJPS:
        rule = f"{ACTIVATION_VJPS[activation]}; then {rule}"
    return rule


def _layers(spec: NetSpec, function: str, batch: int, ops: list[Op],
            dispatches: list[Dispatch] | None, total_ms: float, peak: float) -> list[dict]:
    """One row per layer: shapes, parameters, FLOPs, its ops by part, its dispatches and
    time. Backward FLOPs are the usual estimate: a layer with weights computes its
    input gradient (not the first layer's) and its weight gradient, each about its
    forward's FLOPs; one without weights about its forward's."""
    flops = _layer_flops(spec)
    backward = function in ("train_step", "value_and_grad")
    rows = []
    for i, (layer, name) in enumerate(zip(spec.layers, spec.layer_names, strict=True)):
        params = sum(p.size for p in spec.params if p.layer_index == i and p.trainable)
        forward = flops[i] * batch
        if not backward:
            back = 0
        elif params:
            back = forward * (1 if i == 0 else 2)
        else:
            back = forward if i else 0
        by_part: dict[str, Counter] = defaultdict(Counter)
        for op in ops:
            if op.owner == name:
                by_part[op.part or "forward"][op.name.removeprefix("stablehlo.")] += 1
        row = {"index": i, "name": name, "kind": layer.kind,
               "output_shape": list(spec.layer_output_shapes[i]), "params": params,
               "forward_flops": forward, "backward_flops": back,
               "vjp": _vjp_rule(layer, i == 0) if backward else None,
               "ops": {part: dict(c.most_common()) for part, c in by_part.items()}}
        if dispatches is not None:
            charged = defaultdict(float)
            for d in dispatches:
                for (owner, part), ms in d.charges.items():
                    if owner == name:
                        charged[part] += ms
            ms = sum(charged.values())
            row |= {"dispatches": [d.name for d in dispatches
                                   if any(owner == name for owner, _ in d.charges)],
                    "ms": ms, "ms_by_part": dict(charged),
                    "share": ms / total_ms if total_ms else 0.0,
                    "gflops": (forward + back) / ms / 1e6 if ms else None,
                    "peak_fraction": (forward + back) / ms / 1e6 / peak if ms else None}
        rows.append(row)
    return rows


def _profiled(report: dict, files: dict, spec: NetSpec, lowered: Lowered, cfg: TrainConfig,
              calls: int, log) -> tuple[list[Dispatch], float, float]:
    """Profiles what ``lowered`` compiles to and times it without the profiler; adds
    the figures to ``report`` and the dispatches' sources to ``files``. Returns the
    dispatches, their ms a call and the GEMM peak."""
    function, batch_size = lowered.function, lowered.batch_size
    try:
        dispatches, wall_ms, sources = _measure(spec, lowered, cfg, calls, log)
    except Exception as e:   # IREE's compiler or profiler: one line saying which, why
        lines = str(e).strip().splitlines() or [type(e).__name__]
        what = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
        raise ExplainError(f"profiling {spec.name} {function} failed: {what[:400]}") from e
    files["dispatches.mlir"] = sources
    total_ms = sum(d.ms for d in dispatches)
    attributed = sum(sum(d.charges.values()) for d in dispatches)
    names = set(spec.layer_names)
    in_layers = sum(ms for d in dispatches for (owner, _), ms in d.charges.items()
                    if owner in names)
    peak = gemm_peak_gflops()
    plain = _unprofiled_ms(lowered, example_arguments(spec, function, batch_size, cfg,
                                                      lowered.signature), calls)
    report |= {"calls": calls, "wall_ms": wall_ms, "unprofiled_ms": plain,
               "dispatch_ms": total_ms, "attributed_ms": attributed, "layer_ms": in_layers,
               "attributed_fraction": attributed / total_ms if total_ms else 0.0,
               "gemm_peak_gflops": peak,
               "dispatches": [_dispatch_row(d, total_ms) for d in dispatches]}
    return dispatches, total_ms, peak


def explain(spec: NetSpec, out_dir: Path | str, *, function: str = "train_step",
            batch_size: int = 128, recipe: str = "s4tf-baseline", backend: str = "llvm-cpu",
            profile: bool = True, calls: int = 10, log=print) -> dict:
    """Writes the explanation of ``function`` of ``spec`` into ``out_dir`` (see the
    module docstring) and returns the report (``report.json``'s contents).

    ``recipe`` gives the train step's optimizer; ``profile=False`` runs nothing
    (IR and graphs only); profiling runs ``calls`` calls on this machine's CPU.
    Everything is computed first and written at the end: a failure writes nothing.
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}; expected one of {FUNCTIONS}")
    if profile and backend != "llvm-cpu":
        raise ValueError(f"profiling runs on this machine's CPU; for {backend} use --no-profile")
    dot_path()   # the graphs need Graphviz: say so before anything is compiled
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise ValueError(f"{out_dir}: exists and is not a directory")
    cfg = get_recipe(recipe, batch_size=batch_size, backend=backend)
    # What the trainer compiles: the same pipeline, tune's choices included.
    lowered = lower(spec, function, batch_size, backend, cfg.function_options(function))
    log(f"lowering {spec.name} {function} (batch {batch_size}, {backend})...")
    ops = derived_ops(lowered.module, function, spec)
    files = {"netspec.mlir": spec.to_mlir().operation.get_asm(enable_debug_info=True),
             "stablehlo.mlir": lowered.as_text(debug_info=True),
             "network.dot": spec.to_dot(),
             "derived.dot": derived_dot(spec, function, ops, lowered.signature)}
    report = {"network": spec.name, "function": function, "batch_size": batch_size,
              "backend": backend,
              "recipe": recipe if function in ("train_step", "value_and_grad") else None,
              "pipeline": lowered.pipeline, "compile_flags": lowered.flags,
              "tuned": lowered.tuned.get("candidate", "tuned") if lowered.tuned else None,
              "param_count": spec.param_count(), "cpu": cpu_name(), "ops": len(ops)}
    dispatches, total_ms, peak = None, 0.0, 0.0
    if profile:
        dispatches, total_ms, peak = _profiled(report, files, spec, lowered, cfg, calls, log)
    report["layers"] = _layers(spec, function, batch_size, ops, dispatches, total_ms, peak)
    for name in ("network", "derived"):
        files[f"{name}.svg"] = _dot.render_svg(files[f"{name}.dot"])
    report["files"] = sorted([*files, "report.json"])
    files["report.json"] = json.dumps(report, indent=1) + "\n"
    files["index.html"] = _page(report, files["network.svg"], files["derived.svg"])
    _write(Path(out_dir), files)
    return report


#: Every file explain may write; the ones a run does not write are removed, so
#: a directory never mixes two runs.
OUTPUTS = ("index.html", "report.json", "network.dot", "network.svg", "derived.dot",
           "derived.svg", "netspec.mlir", "stablehlo.mlir", "dispatches.mlir")


def _write(out: Path, files: dict[str, str]) -> None:
    """Writes ``files`` into ``out``, each atomically, and removes an earlier run's
    files this run does not write; nothing else in ``out`` is touched."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory")
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        atomic_write(out / name, content.encode())
    for name in OUTPUTS:
        if name not in files:
            (out / name).unlink(missing_ok=True)


def profile_dispatches(spec: NetSpec, function: str = "train_step", batch_size: int = 128,
                       options: dict | None = None, flags: list[str] | None = None,
                       calls: int = 10, recipe: str = "s4tf-baseline", log=print
                       ) -> tuple[list[Dispatch], float]:
    """Where ``function``'s time goes on this CPU: its dispatches, largest first, each
    with its ms per call and whose ops it holds, and the wall ms per call.
    ``options`` are netspec-to-stablehlo's but the optimizer's (default: the CPU's
    target; ``recipe`` gives the optimizer); ``flags`` replace
    :func:`~lean_mlir.compiler.compile_flags`."""
    if set(options or {}) & {"optimizer", "momentum", "nesterov", "weight_decay",
                             "label_smoothing"}:
        raise ValueError("profile_dispatches: the recipe gives the optimizer, not options")
    cfg = get_recipe(recipe, batch_size=batch_size)
    lowered = lower(spec, function, batch_size, "llvm-cpu",
                    {**cfg.function_options(function), **(options or {})}, flags=flags)
    dispatches, wall_ms, _ = _measure(spec, lowered, cfg, calls, log)
    return dispatches, wall_ms


def _measure(spec: NetSpec, lowered: Lowered, cfg: TrainConfig, calls: int, log):
    """Compiles what ``lowered`` compiles to (the same stages and flags, the ops'
    locations and the executables' sources kept), profiles ``calls`` calls; returns
    the dispatches (largest first), the wall ms per call and the sources."""
    text, _ = lowered.backend_input(debug_info=True)
    with tempfile.TemporaryDirectory(prefix="lean-mlir-explain-") as tmp:
        work = Path(tmp)
        log("compiling with IREE (the executables' sources kept)...")
        vmfb, sources = _compile_with_sources(text, lowered.flags, work)
        exports = _executables(sources, spec)
        log(f"profiling {calls} calls (IREE's host-execution profiler)...")
        inputs = example_arguments(spec, lowered.function, cfg.batch_size, cfg,
                                   lowered.signature)
        rows, wall_ms = _profile(vmfb, text, lowered.function, inputs, calls, work)
    return _dispatches(rows, exports, calls), wall_ms, sources


def _unprofiled_ms(lowered: Lowered, inputs: list, calls: int) -> float:
    """Median ms a call of the module the trainer runs, its inputs resident, with no
    profiler: what the profiled figures are compared with (the profiler's own
    bookkeeping makes every dispatch, and so the call, slower)."""
    import statistics
    import time

    module = lowered.compile()
    function = module.function(lowered.function)
    resident = module.to_device(inputs)
    function(*resident)
    times = []
    for _ in range(max(calls, 3)):
        start = time.perf_counter()
        function(*resident)
        times.append(1e3 * (time.perf_counter() - start))
    return statistics.median(times)


def _dispatch_row(d: Dispatch, total_ms: float) -> dict:
    return {"name": d.name, "ms": d.ms, "share": d.ms / total_ms if total_ms else 0.0,
            "count": d.count, "attributed": bool(d.charges),
            "owners": [{"layer": owner, "part": part, "ms": d.charges[(owner, part)]}
                       for owner, part in d.owners],
            "ops": d.ops}


# -- the page -----------------------------------------------------------------------------

_CSS = """
body { font: 14px/1.45 Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 2em; }
.facts { color: #555; } .graph { overflow: auto; border: 1px solid #ddd; padding: 0.5em; }
.graph svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid #e4e4e4; padding: 3px 6px; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.bar { background: #7aa6e8; height: 8px; display: inline-block; }
code { font-size: 11px; } details summary { cursor: pointer; color: #245; }
.unattributed { color: #a33; }
"""


def _svg(text: str) -> str:
    """dot's SVG without its XML prolog, to sit inline in the page."""
    return text[text.find("<svg"):]


def _num(value, digits=2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def _layer_rows(report: dict) -> list[str]:
    esc, rows = html.escape, []
    profiled = "dispatches" in report
    for layer in report["layers"]:
        ops = "".join(f"<li><b>{esc(part)}</b>: "
                      + esc(", ".join(f"{n} {k}" for k, n in counts.items())) + "</li>"
                      for part, counts in layer["ops"].items())
        vjp = f"<br><i>VJP</i>: {esc(layer['vjp'])}" if layer.get("vjp") else ""
        cells = [f"<td class=num>{layer['index']}</td>",
                 (f"<td><b>{esc(layer['name'])}</b><br>{esc(layer['kind'])}{vjp}"
                 f"<details><summary>StableHLO ops</summary><ul>{ops}</ul></details></td>"),
                 f"<td>{esc('x'.join(map(str, layer['output_shape'])))}</td>",
                 f"<td class=num>{_num(layer['params'])}</td>",
                 f"<td class=num>{_num(layer['forward_flops'] / 1e6, 1)}</td>",
                 f"<td class=num>{_num(layer['backward_flops'] / 1e6, 1)}</td>"]
        if profiled:
            parts = ", ".join(f"{p} {ms:.2f}" for p, ms in layer["ms_by_part"].items())
            width = int(300 * layer["share"])
            cells += [f"<td class=num>{_num(layer['ms'])}</td>",
                      (f"<td><span class=bar style='width:{width}px'></span> "
                      f"{100 * layer['share']:.1f}%<br><small>{esc(parts)}</small></td>"),
                      f"<td class=num>{_num(layer['gflops'], 1)}</td>",
                      f"<td class=num>{_num(100 * layer['peak_fraction'], 0) if layer['peak_fraction'] else '-'}%</td>",
                      f"<td><details><summary>{len(layer['dispatches'])}</summary><small>"
                      + "<br>".join(esc(name) for name in layer["dispatches"])
                      + "</small></details></td>"]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return rows


def _dispatch_rows(report: dict) -> list[str]:
    esc, rows = html.escape, []
    for d in report.get("dispatches", []):
        owners = "; ".join(f"{o['layer']}: {o['part']}" for o in d["owners"])
        if not d["attributed"]:
            owners = "<span class=unattributed>unattributed (no located op)</span>"
        else:
            owners = esc(owners)
        rows.append(f"<tr><td class=num>{d['ms']:.3f}</td>"
                    f"<td class=num>{100 * d['share']:.1f}%</td><td class=num>{d['count']}</td>"
                    f"<td><code>{esc(d['name'])}</code></td><td>{owners}</td>"
                    f"<td><small>{esc(', '.join(d['ops'][:4]))}</small></td></tr>")
    return rows


def _page(report: dict, network_svg: str, derived_svg: str) -> str:
    """index.html: the graphs inline, the layer table and the dispatch table."""
    esc = html.escape
    facts = (f"{esc(report['function'])}, batch {report['batch_size']}, backend "
             f"{esc(report['backend'])}, {report['param_count']:,} parameters, "
             f"{report['ops']:,} StableHLO ops; {esc(report['cpu'])}")
    timing = ""
    head = ["#", "layer", "output", "params", "fwd MFLOP", "bwd MFLOP"]
    if "dispatches" in report:
        timing = (f"<p class=facts>{len(report['dispatches'])} dispatches, "
                  f"{report['dispatch_ms']:.2f} ms of dispatch time a call "
                  f"({report['wall_ms']:.2f} ms wall under the profiler; without it the same "
                  f"module runs {report['unprofiled_ms']:.2f} ms a call, what the trainer "
                  f"sees: the profiler's bookkeeping slows every dispatch), "
                  f"{100 * report['attributed_fraction']:.1f}% "
                  f"attributed (to layers {report['layer_ms']:.2f} ms, the rest to the loss "
                  f"and the optimizer's step scalars); float32 GEMM peak "
                  f"{report['gemm_peak_gflops']:.0f} GFLOP/s (NumPy, same run)</p>")
        head += ["ms", "share (by part, ms)", "GFLOP/s", "of peak", "dispatches"]
    layer_table = ("<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"
                   + "".join(_layer_rows(report)) + "</table>")
    dispatch_table = ""
    if "dispatches" in report:
        dispatch_table = ("<h2>Dispatches, largest first</h2><table><tr><th>ms</th>"
                          "<th>share</th><th>per call</th><th>dispatch</th>"
                          "<th>layer: part (whose ops it holds)</th><th>kernels</th></tr>"
                          + "".join(_dispatch_rows(report)) + "</table>")
    links = ", ".join(f'<a href="{name}">{name}</a>' for name in report["files"])
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{esc(report['network'])}: {esc(report['function'])} explained</title>
<style>{_CSS}</style></head><body>
<h1>{esc(report['network'])}: the derived {esc(report['function'])}</h1>
<p class=facts>{facts}</p>{timing}
<h2>The network</h2><div class=graph id=network>{_svg(network_svg)}</div>
<h2>The derived function</h2>
<p class=facts>Each box is the ops of one layer's part (forward, layout, backward, input,
weight and bias gradient, loss, optimizer), as the lowering's locations say; each
backward cluster is titled with its layer's VJP rule; edges carry the shapes between
them (the parameters and optimizer state, read nearly everywhere, are not drawn).</p>
<div class=graph id=derived>{_svg(derived_svg)}</div>
<h2>Layers</h2>{layer_table}
{dispatch_table}
<h2>Files</h2><p class=facts>{links}</p>
</body></html>
"""
