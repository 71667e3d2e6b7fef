"""Attention, the user-level residual and the vision transformers.

The registry test checks every new kind's forward pass and gradient on small
random networks; here: softmax with logits far past where exp overflows
float32 (a row's maximum is subtracted first), a whole small ViT's gradient
against finite differences and PyTorch on every target's forms, the residual
as a user writes it (a ResNet block written with ``lm.residual`` computes what
``lm.residual_block`` computes, and its mistakes name the sub-layer), and
ViT-Tiny's size and shapes (timm's ``vit_tiny_patch16_224``).
"""

import lean_mlir as lm
import numpy as np
import pytest
import reference
from test_gradients import assert_matches_float64_and_pytorch

TARGETS = ["generic", "cpu", "gpu"]


def small_vit(activation="gelu") -> lm.NetSpec:
    """Two blocks on 8x8 images in 4x4 patches: 5 tokens of 6 channels, 2 heads."""
    return lm.NetSpec("vit-8", (2, 8, 8), [
        lm.patch_embed(2, 6, 4), lm.class_token(6), lm.position_embedding(5, 6),
        lm.vit_block(6, 2, 8, activation=activation), lm.vit_block(6, 2, 8),
        lm.layer_norm(6, 1e-6), lm.take_token(), lm.dense(6, 3)])


def perturbed(spec, seed, scale=0.3):
    """Fresh parameters with every entry moved (non-zero biases, non-unit norms)."""
    rng = np.random.default_rng(seed)
    return {k: (v + rng.normal(0, scale, v.shape)).astype(np.float32)
            for k, v in spec.init_params(seed).items()}


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
def test_small_vit_gradient_matches_finite_differences_and_pytorch(activation, target):
    spec = small_vit(activation)
    params = perturbed(spec, 1)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 2, 8, 8)).astype(np.float32)
    y = rng.integers(0, 3, 3).astype(np.int32)
    assert_matches_float64_and_pytorch(spec, params, x, y, target)


def large_logit_network():
    """One attention layer on 3 tokens of 4 channels (1 head) after a position
    embedding, so the attention's logits are set by the parameters alone."""
    return lm.NetSpec("big-logits", (1, 6, 2), [
        lm.patch_embed(1, 4, 2), lm.position_embedding(3, 4), lm.attention(4, 1),
        lm.take_token(1), lm.dense(4, 3)])


def attention_logits(spec, params, x):
    """Every attention logit ([N, T, T]), from the float64 reference."""
    h = reference.FORWARD["patch_embed"](x.astype(np.float64), spec.layers[0], params,
                                         "patch_embed_0.", False, None)
    h = h + params["position_embedding_0.embedding"]
    qkv = h @ params["attention_0.qkv.weight"] + params["attention_0.qkv.bias"]
    q, k = qkv[..., :4], qkv[..., 4:8]
    return np.einsum("ntd,nsd->nts", q, k) / 2


@pytest.mark.parametrize("target", TARGETS)
def test_softmax_is_stable_for_logits_past_float32s_exp_range(target):
    """Logits from 61 to 124, around 80 and past 88.7, where exp overflows float32: softmax
    subtracts each row's maximum first, so the loss and gradients stay finite and
    equal the float64 reference's and PyTorch's."""
    spec = large_logit_network()
    params = perturbed(spec, 3, scale=0.01)
    # q = k = each token's embedding, 6.4 (1 + t / 10) in every channel: the logits
    # q_t k_s / 2 run from about 80 to 120 (the patches move them a little).
    params["position_embedding_0.embedding"] = np.repeat(
        6.4 * (1 + np.arange(3) / 10)[None, :, None], 4, axis=2).astype(np.float32)
    eye = np.eye(4, dtype=np.float32)
    params["attention_0.qkv.weight"][:, :8] = np.concatenate([eye, eye], axis=1)
    x = np.random.default_rng(4).standard_normal((2, 1, 6, 2)).astype(np.float32)
    logits = attention_logits(spec, params, x)
    assert logits.min() < 80 and logits.max() > 110, (logits.min(), logits.max())
    y = np.array([0, 2], np.int32)
    assert_matches_float64_and_pytorch(spec, params, x, y, target)


def test_a_resnet_block_written_with_residual_is_residual_block():
    """ResNet's basic block as a user writes it with lm.residual (projection shortcut,
    then relu) computes what the built-in block computes on the same weights."""
    built_in = lm.NetSpec("block", (3, 8, 8), [lm.residual_block(3, 5, stride=2),
                                               lm.global_avg_pool(), lm.dense(5, 2)])
    written = lm.NetSpec("block", (3, 8, 8), [
        lm.residual([lm.conv_bn(3, 5, 3, 2, name="c1"),
                     lm.conv_bn(5, 5, 3, activation="identity", name="c2")],
                    shortcut=[lm.conv_bn(3, 5, 1, 2, activation="identity", name="proj")]),
        lm.relu(), lm.global_avg_pool(), lm.dense(5, 2)])
    assert written.param_count() == built_in.param_count()
    params = perturbed(built_in, 5)
    rename = {"conv1.weight": "c1.conv.weight", "bn1.": "c1.bn.", "conv2.weight": "c2.conv.weight",
              "bn2.": "c2.bn.", "proj.weight": "shortcut.proj.conv.weight",
              "proj_bn.": "shortcut.proj.bn."}
    theirs = {}
    for name, value in params.items():
        new = name.replace("residual_block_0.", "residual_0.")
        for old, mine in rename.items():
            new = new.replace("residual_0." + old, "residual_0." + mine)
        theirs[new] = value
    assert set(theirs) == {p.name for p in written.params}
    x = np.random.default_rng(6).standard_normal((4, 3, 8, 8)).astype(np.float32)
    np.testing.assert_allclose(lm.predict(written, theirs, x), lm.predict(built_in, params, x),
                               rtol=1e-5, atol=1e-5)
    again = lm.NetSpec.from_dict(written.to_dict())
    assert again.fingerprint() == written.fingerprint()


def test_residual_mistakes_name_the_sub_layer():
    with pytest.raises(lm.SpecError, match=r"layer 0 \(residual 'residual_0'\): the sum of "
                                           r"body and shortcut: .*same type"):
        lm.NetSpec("bad", (4,), [lm.residual([lm.dense(4, 5)]), lm.dense(5, 2)])
    with pytest.raises(lm.SpecError, match=r"body\[1\] \(dense 'dense_1'\): input has 5 "
                                           r"features but the weight expects 4"):
        lm.NetSpec("bad", (4,), [lm.residual([lm.dense(4, 5), lm.dense(4, 4)]),
                                 lm.dense(4, 2)])
    with pytest.raises(lm.SpecError, match=r"body\[1\] is named 'd' like body\[0\]"):
        lm.NetSpec("bad", (4,), [lm.residual([lm.dense(4, 4, name="d"),
                                              lm.dense(4, 4, name="d")]), lm.dense(4, 2)])
    with pytest.raises(ValueError, match="list of layers"):
        lm.residual(lm.dense(4, 4))
    with pytest.raises(lm.SpecError, match="at least one body layer"):
        lm.NetSpec("bad", (4,), [lm.residual([]), lm.dense(4, 2)])


def test_attention_mistakes_are_one_line():
    with pytest.raises(lm.SpecError, match="heads=4 must divide dim=6"):
        lm.NetSpec("bad", (1, 8, 8), [lm.patch_embed(1, 6, 4), lm.attention(6, 4),
                                      lm.take_token(), lm.dense(6, 2)])
    with pytest.raises(lm.SpecError, match="index 9 is not a token of the 4-token sequence"):
        lm.NetSpec("bad", (1, 8, 8), [lm.patch_embed(1, 6, 4), lm.take_token(9),
                                      lm.dense(6, 2)])
    with pytest.raises(lm.SpecError, match=r"embedding must be 'tensor<1x4x6xf32>'"):
        lm.NetSpec("bad", (1, 8, 8), [lm.patch_embed(1, 6, 4), lm.position_embedding(5, 6),
                                      lm.take_token(), lm.dense(6, 2)])


def test_vit_tiny_has_timms_parameter_count_and_shapes():
    spec = lm.vit_tiny()
    # timm's vit_tiny_patch16_224 (DeiT-Ti): 5,717,416 at 1000 classes; its head is
    # 192 x classes + classes.
    assert spec.param_count() == 5_717_416 - 193 * 1000 + 193 * 10 == 5_526_346
    assert spec.output_shape == (10,)
    assert sum(layer.kind == "vit_block" for layer in spec.layers) == 12
    assert {p.name: p.shape for p in spec.params}["position_embedding_0.embedding"] == \
        (1, 197, 192)
    # Any input size the patch divides; the position embedding sized to it.
    small = lm.vit_tiny(num_classes=3, input_shape=(3, 64, 96))
    assert small.layer_output_shapes[2] == (4 * 6 + 1, 192)
    with pytest.raises(ValueError, match="patch 16 does not divide"):
        lm.vit_tiny(input_shape=(3, 100, 100))


def test_vit_tiny_builds_verifies_and_lowers_for_the_cpu():
    """The whole train step at 224x224 lowers to StableHLO (its compile is the slow
    test in test_book_networks.py)."""
    text = lm.lower(lm.vit_tiny(), "train_step", 2).text
    assert text.count("stablehlo.exponential") >= 12      # a softmax per block
