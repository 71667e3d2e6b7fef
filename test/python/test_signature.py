"""Every argument and result of every lowered function says what it is (``netspec.role``).

The lowering decides the signatures; Python reads them from the IR
(:mod:`lean_mlir.signature`) and places arguments and reads results by role.
Here every function of every built-in network is lowered and each role is
checked against what the network and the optimizer say it must be.
"""

import lean_mlir as lm
import numpy as np
import pytest
from lean_mlir.compiler import FUNCTIONS, lower
from lean_mlir.signature import Role, Signature, read_signatures
from lean_mlir.zoo import BOOK_NETWORKS, MODELS

BATCH = 2
#: Each optimizer's state slots: none, one, two.
OPTIMIZERS = {"sgd": lm.TrainConfig(batch_size=BATCH),
              "momentum": lm.TrainConfig(batch_size=BATCH, momentum=0.9),
              "adam": lm.TrainConfig(batch_size=BATCH, use_adam=True)}


def expected_roles(spec, function: str, cfg) -> tuple[list[str], list[str]]:
    """The roles the lowering must give, written out from the network and the config."""
    params = [f"param:{p.name}" for p in spec.params]
    state = [f"state:{p.name}:{slot}" for slot in cfg.state_suffixes()
             for p in spec.trainable_params]
    data = ["images"] if function == "predict" else ["images", "labels"]
    args = params + (state if function == "train_step" else []) + data
    if function == "train_step":
        args += ["learning_rate", "step"]
    results = {"predict": ["logits"], "eval": ["loss", "correct", "top5_correct"],
               "value_and_grad": ["loss", *(f"grad:{p.name}" for p in spec.trainable_params)],
               "train_step": [*params, *state, "loss"]}[function]
    return args, results


def check(spec, sig: Signature, function: str, cfg) -> None:
    args, results = expected_roles(spec, function, cfg)
    assert [str(a.role) for a in sig.args] == args
    assert [str(r.role) for r in sig.results] == results
    shapes = {p.name: p.shape for p in spec.params}
    for slot in (*sig.args, *sig.results):
        role = slot.role
        if role.param is not None:
            assert slot.shape == shapes[role.param], (str(role), slot.shape)
        assert Role.parse(str(role)) == role
    images = sig.args[sig.arg_index("images")]
    assert images.shape == (BATCH, *spec.input_shape) and images.dtype == "float32"
    if function != "predict":
        assert sig.args[sig.arg_index("labels")].dtype == "int32"
    if function == "predict":
        assert sig.results[0].shape == (BATCH, *spec.output_shape)
    # A train step's parameters and state come back in place of the arguments.
    donated = sig.donated()
    assert len(donated) == (len(spec.params) + len(cfg.state_shapes(spec))
                            if function == "train_step" else 0)
    assert all(sig.args[a].role == sig.results[r].role for a, r in donated)


NETWORKS = {**{name: make for name, make in MODELS.items()},
            **{name: make for name, make in BOOK_NETWORKS.items()}}


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_argument_and_result_of_every_function_has_its_role(name):
    spec = NETWORKS[name]()
    for function in FUNCTIONS:
        configs = OPTIMIZERS if function == "train_step" else {"sgd": OPTIMIZERS["sgd"]}
        for cfg in configs.values():
            lowered = lower(spec, function, BATCH, "llvm-cpu", cfg.function_options(function))
            check(spec, lowered.signature, function, cfg)
            # The module holds exactly the function asked for, and says so.
            assert list(read_signatures(lowered.module)) == [function]


def test_roles_are_read_from_the_ir_not_from_positions():
    """The role table is what places arguments: a call built from it by name runs."""
    spec = lm.mnist_mlp()
    cfg = lm.TrainConfig(batch_size=BATCH, use_adam=True)
    module = lower(spec, "train_step", BATCH, "llvm-cpu", cfg.lowering_options()).compile()
    sig = module.signature
    params = spec.init_params(0)
    state = lm.init_optimizer_state(spec, params, cfg)
    x = np.zeros((BATCH, 1, 28, 28), np.float32)
    y = np.zeros(BATCH, np.int32)
    out = sig.name_results(module.call("train_step", *sig.arguments(
        params=params, state=state, images=x, labels=y, learning_rate=np.float32(0.1),
        step=np.int32(0))))
    assert set(out) == {str(r.role) for r in sig.results}
    assert np.isfinite(out["loss"]) and out["state:dense_0.weight:v"].shape == (784, 512)
    with pytest.raises(KeyError, match="needs state:dense_0.weight:m"):
        sig.arguments(params=params, state={}, images=x, labels=y,
                      learning_rate=np.float32(0.1), step=np.int32(0))
    with pytest.raises(ValueError, match="takes no"):
        lower(spec, "predict", BATCH).signature.arguments(params=params, images=x, labels=y)


@pytest.mark.parametrize("text", ["", "param", "param:", "state:w", "state::m", "weights:w",
                                  "loss:x"])
def test_malformed_roles_are_refused(text):
    with pytest.raises(ValueError, match="not a netspec.role"):
        Role.parse(text)
