"""The PWC network, its cost volume and warping, and the inference backend."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vo_app.errors import UserError
from vo_app.geometry._reference.flow_masks import occlusion_mask
from vo_app.geometry.warp import backward_warp, occlusion_from_backward, resize_flow
from vo_app.models.pwc import PWCArch, PWCFlow, PWCNet, cost_volume

TINY = PWCArch(pyramid=(4, 4, 6, 6, 8, 8), estimator=(8, 8), context=(8, 8))


@pytest.mark.parametrize("normalize", [False, True])
def test_cost_volume_peaks_at_the_shift(normalize):
    torch.manual_seed(0)
    f2 = torch.randn(1, 16, 20, 30)
    f1 = torch.roll(f2, shifts=(1, -2), dims=(2, 3))  # f1(x, y) = f2(x + 2, y - 1)
    c = cost_volume(f1, f2, 4, normalize)
    assert c.shape == (1, 81, 20, 30)
    k = int(c[0, :, 10, 15].argmax())
    assert (k % 9 - 4, k // 9 - 4) == (2, -1)


def test_backward_warp_and_inside_mask():
    img = torch.rand(2, 3, 12, 16)
    flow = torch.zeros(2, 2, 12, 16)
    flow[:, 0] = 3.0  # sample 3 px to the right
    out, inside = backward_warp(img, flow)
    assert torch.allclose(out[..., :, :-3], img[..., :, 3:], atol=1e-5)
    assert inside[..., :, :-3].all() and not inside[..., :, -3:].any()


def test_resize_flow_scales_values():
    f = torch.ones(1, 2, 8, 8)
    r = resize_flow(f, (16, 32))
    assert r.shape == (1, 2, 16, 32) and torch.allclose(r[:, 0], torch.full((1, 16, 32), 4.0))
    assert torch.allclose(r[:, 1], torch.full((1, 16, 32), 2.0))


def test_occlusion_matches_the_numpy_runtime_mask():
    rng = np.random.default_rng(1)
    flow = (rng.normal(0, 3, (24, 32, 2))).astype(np.float32)
    flow[5:10, 5:15] = [6.0, -2.0]
    ref = occlusion_mask(flow)
    got = occlusion_from_backward(torch.from_numpy(flow).permute(2, 0, 1)[None])[0, 0].numpy()
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_network_shapes_and_levels():
    net = PWCNet(TINY)
    out = net(torch.rand(2, 3, 64, 128), torch.rand(2, 3, 64, 128))
    assert [tuple(f.shape) for f in out["flows"]] == [(2, 2, 64 >> l, 128 >> l) for l in (6, 5, 4, 3, 2)]
    assert out["flow"].shape == (2, 2, 64, 128)
    with pytest.raises(ValueError, match="multiple of 64"):
        net(torch.rand(1, 3, 60, 128), torch.rand(1, 3, 60, 128))


def test_default_arch_is_pwc_sized():
    arch = PWCArch()
    assert arch.levels == [6, 5, 4, 3, 2] and arch.corr_channels == 81
    n = sum(p.numel() for p in PWCNet(arch).parameters())
    assert 7e6 < n < 1.2e7  # PWC-Net has 8.75 M parameters; this variant about 10 M


def test_backend_one_batched_pass_gives_forward_and_backward():
    torch.manual_seed(0)
    net = PWCNet(TINY)
    be = PWCFlow(net, "cpu")
    rng = np.random.default_rng(0)
    a = rng.random((50, 70)).astype(np.float32)  # gray, not a multiple of 64
    b = rng.random((50, 70, 3)).astype(np.float32)  # colour
    fwd, bwd = be(a, b)
    assert fwd.shape == bwd.shape == (50, 70, 2) and fwd.dtype == np.float32
    fwd2, _ = be(a, b)
    np.testing.assert_array_equal(fwd, fwd2)
    bwd_alone, _ = be(b, a)
    np.testing.assert_allclose(bwd, bwd_alone, atol=1e-4)
    pairs = be.batch([a, b], [b, a])
    np.testing.assert_allclose(pairs[0][0], fwd, atol=1e-4)
    np.testing.assert_allclose(pairs[1][0], bwd, atol=1e-4)


def test_arch_from_dict_errors_are_one_line():
    with pytest.raises(UserError, match="unknown hyper-parameter"):
        PWCArch.from_dict({"pyramid": [1] * 6, "widths": 3})
    with pytest.raises(UserError, match="pyramid needs 6"):
        PWCArch.from_dict({"pyramid": [8, 8]})
    assert PWCArch.from_dict(TINY.to_dict()) == TINY


def test_make_flow_backend_pwc_needs_weights():
    from vo_app.models import make_flow_backend

    with pytest.raises(UserError, match="--weights"):
        make_flow_backend("pwc")
