"""Every registered surrogate: the closed-form gradients the kernel uses equal autograd through the
smooth count, gradcheck confirms them numerically, and α is learnable in three modes."""

import pytest
import torch

from cfsnn_cli.neurons import CFNeuron
from cfsnn_cli.surrogates import SURROGATES, build_surrogate

KINDS = SURROGATES.kinds()


def _away_from_kinks(kind, h, threshold, alpha, levels):
    """Triangle and rectangle are piecewise: keep every crossing clear of their corners so that
    finite differences are meaningful."""
    if kind not in ("triangle", "rectangle"):
        return True
    corners = (0.0, 0.5, 1.0)
    for k in range(1, levels + 1):
        for u in (h - k * threshold, -h - k * threshold):
            z = (alpha * u).abs()
            if any(((z - c).abs() < 1e-3).any() for c in corners):
                return False
    return True


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("levels,bipolar", [(1, False), (1, True), (3, True), (3, False)])
def test_closed_form_gradients_equal_autograd_on_the_smooth_count(kind, levels, bipolar):
    surrogate = build_surrogate(kind)
    h = (torch.randn(200, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 2).requires_grad_()
    threshold = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    alpha = torch.tensor(1.3, dtype=torch.float64, requires_grad=True)
    smooth = surrogate.smooth_count(h, threshold, alpha, levels, bipolar)
    weights = torch.linspace(-1, 1, 200, dtype=torch.float64)
    want_h, want_threshold, want_alpha = torch.autograd.grad((smooth * weights).sum(), (h, threshold, alpha))
    got_h, got_threshold, got_alpha = surrogate.count_vjp(
        weights, h.detach(), threshold.detach(), alpha.detach(), levels, bipolar, True, True
    )
    assert torch.allclose(got_h, want_h, atol=1e-12)
    assert torch.allclose(got_threshold, want_threshold, atol=1e-12)
    assert torch.allclose(got_alpha, want_alpha, atol=1e-12)
    assert want_alpha.abs() > 0


class _SmoothCountWithClosedForm(torch.autograd.Function):
    """Forward: the smooth count. Backward: the kernel's closed forms. gradcheck compares the
    latter with finite differences of the former."""

    @staticmethod
    def forward(ctx, h, threshold, alpha, surrogate, levels, bipolar):
        ctx.save_for_backward(h, threshold, alpha)
        ctx.options = surrogate, levels, bipolar
        return surrogate.smooth_count(h, threshold, alpha, levels, bipolar)

    @staticmethod
    def backward(ctx, grad):
        h, threshold, alpha = ctx.saved_tensors
        surrogate, levels, bipolar = ctx.options
        return (*surrogate.count_vjp(grad, h, threshold, alpha, levels, bipolar, True, True), None, None, None)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("levels,bipolar", [(1, True), (3, True), (2, False)])
def test_gradcheck_on_the_alpha_path(kind, levels, bipolar):
    surrogate = build_surrogate(kind)
    generator = torch.Generator().manual_seed(5)
    for _ in range(20):  # draw inputs until none sits on a corner of a piecewise primitive
        h = torch.randn(30, dtype=torch.float64, generator=generator) * 1.5
        threshold = torch.tensor(0.6, dtype=torch.float64)
        alpha = torch.tensor(1.7, dtype=torch.float64)
        if _away_from_kinks(kind, h, threshold, alpha, levels):
            break
    inputs = (h.requires_grad_(), threshold.requires_grad_(), alpha.requires_grad_(), surrogate, levels, bipolar)
    assert torch.autograd.gradcheck(_SmoothCountWithClosedForm.apply, inputs, eps=1e-6, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_primitive_rises_from_zero_to_one_and_sharpens_with_alpha(kind):
    surrogate = build_surrogate(kind)
    u = torch.linspace(-50, 50, 2001, dtype=torch.float64)
    f = surrogate.primitive(u)
    assert f[0] < 0.02 and f[-1] > 0.98 and torch.all(f[1:] >= f[:-1])
    zero = torch.tensor(0.0, dtype=torch.float64)
    # larger α = taller, narrower window: the slope of F(α·u) at u = 0 grows with α
    assert 4.0 * surrogate.derivative(4.0 * zero) > 1.0 * surrogate.derivative(1.0 * zero)


@pytest.mark.parametrize("mode,shape", [("none", None), ("layer", (1,)), ("timestep", (6,))])
def test_learnable_modes_hold_the_right_parameters_and_start_at_alpha(mode, shape):
    surrogate = build_surrogate("sigmoid", alpha=3.0, alpha_min=0.5, learnable=mode, timesteps=6)
    params = dict(surrogate.named_parameters())
    if shape is None:
        assert params == {}
    else:
        assert params["raw_alpha"].shape == shape
    assert torch.allclose(surrogate.alpha_values(), torch.tensor(3.0))


def test_per_step_alpha_learns_per_step():
    neuron = CFNeuron(levels=2, surrogate=build_surrogate("atan", learnable="timestep", timesteps=4))
    x = torch.rand(4, 8, 10) * 3
    (neuron(x) * torch.randn(4, 8, 10)).sum().backward()
    grad = neuron.surrogate.raw_alpha.grad
    assert grad.shape == (4,)
    assert len(set(grad.tolist())) == 4  # each step got its own gradient


@pytest.mark.parametrize("lr_scale", [0.5, 1.0, 10.0])
def test_lr_scale_starts_at_alpha_and_moves_alpha_that_many_times_faster_under_adam(lr_scale):
    """α = alpha_min + softplus(s·p): the same start whatever s, and Adam, whose step ignores the
    gradient's scale, moves softplus's argument s times as far as with s = 1."""
    from cfsnn_cli.positive import inverse_softplus

    moved = {}
    for scale in (1.0, lr_scale):
        surrogate = build_surrogate("sigmoid", alpha=4.0, learnable="timestep", timesteps=3, lr_scale=scale)
        assert torch.allclose(surrogate.alpha_values(), torch.tensor(4.0))
        optimizer = torch.optim.AdamW(surrogate.parameters(), lr=1e-3, weight_decay=0.0)
        (surrogate.alpha_values() * torch.tensor([1.0, -2.0, 0.5])).sum().backward()
        optimizer.step()
        after = surrogate.alpha_values().detach() - surrogate.alpha_min
        moved[scale] = torch.log(torch.expm1(after)) - inverse_softplus(4.0 - surrogate.alpha_min)
    assert torch.allclose(moved[lr_scale], lr_scale * moved[1.0], rtol=1e-3)
    assert (moved[1.0] != 0).all()


def test_lr_scale_must_be_positive():
    from cfsnn_cli.errors import CfsnnError

    with pytest.raises(CfsnnError, match="lr_scale"):
        build_surrogate("sigmoid", learnable="layer", lr_scale=0.0)
