"""The learned convex upsampling of the flow network (vo_app/models/pwc/upsample.py)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from _flowkit import tiny_config, tiny_run
from vo_app.geometry.warp import resize_flow
from vo_app.models.pwc import PWCArch, PWCNet
from vo_app.models.pwc.upsample import ConvexUpsampler, bilinear_taps, convex_upsample
from vo_app.train.flow_stage import FlowTrainer, load_batch
from vo_app.train.data import make_sample

TINY = PWCArch(pyramid=(4, 4, 6, 6, 8, 8), estimator=(8, 8), context=(8, 8), convex_upsample=True)


@pytest.mark.parametrize("factor", [2, 4])
def test_shapes_and_the_constant_flow_identity(factor):
    torch.manual_seed(0)
    up = ConvexUpsampler(16, factor)
    torch.nn.init.normal_(up.logits.weight, std=1.0)  # arbitrary, far from bilinear weights
    flow = torch.empty(2, 2, 5, 7)
    flow[:, 0], flow[:, 1] = 2.5, -1.25
    out = up(flow, torch.randn(2, 16, 5, 7))
    assert out.shape == (2, 2, 5 * factor, 7 * factor)
    torch.testing.assert_close(out[:, 0], torch.full_like(out[:, 0], 2.5 * factor), rtol=0, atol=1e-5)
    torch.testing.assert_close(out[:, 1], torch.full_like(out[:, 1], -1.25 * factor), rtol=0, atol=1e-5)


def test_weights_are_convex_and_start_as_bilinear():
    taps = bilinear_taps(4)
    torch.testing.assert_close(taps.sum(0), torch.ones(4, 4))
    assert taps.min() >= 0
    torch.manual_seed(1)
    flow = torch.randn(1, 2, 6, 9)
    up = ConvexUpsampler(8, 4)
    torch.testing.assert_close(up(flow, torch.randn(1, 8, 6, 9)), resize_flow(flow, (24, 36)), rtol=0, atol=2e-4)


def test_shape_errors_name_the_expected_shape():
    with pytest.raises(ValueError, match=r"\[B,36,5,7\]"):
        convex_upsample(torch.zeros(1, 2, 5, 7), torch.zeros(1, 9, 5, 7), 2)
    with pytest.raises(ValueError, match="power of two"):
        ConvexUpsampler(8, 3)


def test_network_with_convex_upsampling_and_its_training_signal():
    torch.manual_seed(0)
    net = PWCNet(TINY)
    out = net(torch.rand(2, 3, 64, 128), torch.rand(2, 3, 64, 128))
    assert out["flow"].shape == (2, 2, 64, 128) and out["learned_upsampling"]
    plain = PWCNet(dataclasses.replace(TINY, convex_upsample=False))
    assert "learned_upsampling" not in plain(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 64))
    # an old checkpoint's architecture (no such key) still loads as bilinear
    d = TINY.to_dict()
    d.pop("convex_upsample")
    assert PWCArch.from_dict(d).convex_upsample is False


def test_supervised_step_trains_the_upsampler_and_init_from_a_bilinear_checkpoint(tmp_path):
    cfg = tiny_config(lr=1e-3)
    cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, convex_upsample=True))
    tr = FlowTrainer(cfg, tmp_path / "run", progress=False, init=str(tiny_run() / "model.pt"))
    # the shared weights came from the bilinear run, the upsampler starts as bilinear
    from vo_app.models.checkpoint import load_checkpoint

    src = load_checkpoint(str(tiny_run() / "model.pt"))["model"]
    own = tr.model.state_dict()
    assert all(torch.equal(own[k], src[k].to(own[k].dtype)) for k in src)
    before = tr.model.upsampler.logits.weight.detach().clone()
    batch = load_batch([make_sample(cfg.data, i, 128, 64) for i in range(2)])
    tr.train_step(batch, None)
    assert not torch.equal(before, tr.model.upsampler.logits.weight.detach())
