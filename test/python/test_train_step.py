"""The fused train step against NumPy implementations of the update rules."""

import lean_mlir as lm
import numpy as np
import pytest


@pytest.fixture(scope="module")
def small():
    spec = lm.NetSpec("small", (1, 6, 6), [
        lm.conv2d(1, 3, 3, activation="relu"), lm.max_pool(2, 2), lm.flatten(),
        lm.dense(27, 8, activation="relu"), lm.dense(8, 4)])
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 1, 6, 6)).astype(np.float32)
    y = rng.integers(0, 4, 8)
    return spec, x, y


def numpy_update(cfg, p, g, state, lr, step):
    """The documented rules, independently: returns (new p, new state list)."""
    p, g = p.astype(np.float64), g.astype(np.float64)
    if not cfg.use_adam:
        g = g + cfg.weight_decay * p
        if cfg.momentum:
            v = cfg.momentum * state[0] + g
            return p - lr * v, [v]
        return p - lr * g, []
    m = 0.9 * state[0] + 0.1 * g
    v = 0.999 * state[1] + 0.001 * g * g
    t = step + 1
    update = m / (1 - 0.9 ** t) / (np.sqrt(v / (1 - 0.999 ** t)) + 1e-8) + cfg.weight_decay * p
    return p - lr * update, [m, v]


CONFIGS = {
    "sgd": lm.TrainConfig(learning_rate=0.1),
    "sgd-weight-decay": lm.TrainConfig(learning_rate=0.1, weight_decay=0.05),
    "sgd-momentum": lm.TrainConfig(learning_rate=0.1, momentum=0.9),
    "sgd-momentum-weight-decay": lm.TrainConfig(learning_rate=0.1, momentum=0.9,
                                                weight_decay=0.05),
    "adam": lm.TrainConfig(learning_rate=0.01, use_adam=True),
    "adamw-label-smoothing": lm.TrainConfig(learning_rate=0.01, use_adam=True,
                                            weight_decay=0.05, label_smoothing=0.1),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_train_steps_match_numpy(small, name):
    spec, x, y = small
    cfg = CONFIGS[name]
    params = spec.init_params(1)
    state = lm.init_optimizer_state(spec, params, cfg)
    assert sorted(state) == sorted(f"{p.name}.{s}" for p in spec.params
                                   for s in cfg.state_suffixes())
    for step, scale in enumerate([1.0, 0.5, 0.25]):   # a schedule: lr is an input
        lr = cfg.learning_rate * scale
        loss, grads = lm.value_and_grad(spec, params, x, y,
                                        label_smoothing=cfg.label_smoothing)
        new_params, new_state, step_loss = lm.train_step(spec, params, state, x, y, cfg,
                                                         lr=lr, step=step)
        assert step_loss == pytest.approx(loss, rel=1e-6)
        for p in spec.params:
            old = [state[f"{p.name}.{s}"] for s in cfg.state_suffixes()]
            want_p, want_state = numpy_update(cfg, params[p.name], grads[p.name], old, lr,
                                              step)
            np.testing.assert_allclose(new_params[p.name], want_p, rtol=2e-5, atol=1e-6,
                                       err_msg=f"{name} step {step} {p.name}")
            for s, want in zip(cfg.state_suffixes(), want_state, strict=True):
                np.testing.assert_allclose(new_state[f"{p.name}.{s}"], want, rtol=2e-5,
                                           atol=1e-7, err_msg=f"{p.name}.{s}")
        params, state = new_params, new_state


def test_train_steps_lower_the_loss(small):
    spec, x, y = small
    cfg = lm.TrainConfig(learning_rate=0.1, momentum=0.9)
    params = spec.init_params(2)
    state = lm.init_optimizer_state(spec, params, cfg)
    losses = []
    for step in range(20):
        params, state, loss = lm.train_step(spec, params, state, x, y, cfg, lr=0.1, step=step)
        losses.append(loss)
    assert losses[-1] < 0.5 * losses[0], losses


def test_state_must_match_the_config(small):
    spec, x, y = small
    params = spec.init_params(0)
    sgd_state = lm.init_optimizer_state(spec, params, lm.TrainConfig(momentum=0.9))
    with pytest.raises(ValueError, match="optimizer state does not match"):
        lm.train_step(spec, params, sgd_state, x, y, lm.TrainConfig(use_adam=True),
                      lr=0.1, step=0)
    with pytest.raises(ValueError, match="label_smoothing must be in"):
        lm.TrainConfig(label_smoothing=1.0)


@pytest.mark.parametrize("cfg", [lm.TrainConfig(batch_size=4, momentum=0.9, weight_decay=1e-3),
                                 lm.TrainConfig(batch_size=4, use_adam=True, learning_rate=1e-3)],
                         ids=["momentum", "adam"])
def test_device_resident_steps_are_bit_identical_to_numpy_steps(cfg):
    spec = lm.NetSpec("resident", (2, 6, 6), [
        lm.conv2d(2, 3, 3, padding="same", activation="relu"), lm.max_pool(2, 2),
        lm.flatten(), lm.dense(27, 4)])
    params = spec.init_params(1)
    state = lm.init_optimizer_state(spec, params, cfg)
    stepper = lm.TrainStepper(spec, params, state, cfg)
    rng = np.random.default_rng(0)
    for step in range(3):
        x = rng.standard_normal((4, 2, 6, 6)).astype(np.float32)
        y = rng.integers(0, 4, 4)
        lr = 0.05 * (step + 1)
        params, state, loss = lm.train_step(spec, params, state, x, y, cfg, lr=lr, step=step)
        assert stepper.step(x, y, lr=lr, step=step) == loss
    for name, value in stepper.params().items():
        assert np.array_equal(value, params[name]), name
    for name, value in stepper.opt_state().items():
        assert np.array_equal(value, state[name]), name
    with pytest.raises(ValueError, match="takes 4"):
        stepper.step(x[:2], y[:2], lr=0.1, step=3)


def test_nesterov_momentum_matches_pytorch_over_steps():
    """Three steps of SGD with Nesterov momentum and weight decay, against
    torch.optim.SGD(nesterov=True) in float64 from the same weights."""
    torch = pytest.importorskip("torch")
    from lean_mlir.bench import torch_model

    spec = lm.NetSpec("nest", (1, 6, 6), [lm.conv2d(1, 3, 3, stride=2, activation="relu"),
                                          lm.flatten(), lm.dense(27, 4)])
    cfg = lm.recipes.get("s4tf-momentum", momentum=0.9, nesterov=True, weight_decay=1e-3)
    params = spec.init_params(2)
    state = lm.init_optimizer_state(spec, params, cfg)
    rng = np.random.default_rng(3)
    batches = [(rng.standard_normal((4, 1, 6, 6)).astype(np.float32),
                rng.integers(0, 4, 4).astype(np.int32)) for _ in range(3)]
    net = torch_model(spec, params, exact_padding=True).double()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=1e-3)
    for step, (x, y) in enumerate(batches):
        params, state, _ = lm.train_step(spec, params, state, x, y, cfg, 0.05, step)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(torch.from_numpy(x).double()),
                                          torch.from_numpy(y.astype(np.int64))).backward()
        opt.step()
    theirs = {k.replace(".0.", "."): v.detach().numpy() for k, v in net.state_dict().items()}
    for name, value in params.items():
        want = theirs[name].T if value.ndim == 2 else theirs[name]
        np.testing.assert_allclose(value, want, rtol=1e-5, atol=1e-6, err_msg=name)


def test_nesterov_needs_sgd_with_momentum():
    with pytest.raises(ValueError, match="nesterov needs SGD with momentum > 0"):
        lm.recipes.get("s4tf-baseline", nesterov=True)
