"""dynsearch.signals: every signal against a numpy reference, per unit and member, plus the registry."""

from __future__ import annotations

import numpy as np
import pytest
import tolerances as tol
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from dynsearch.activations import family_names, get_family
from dynsearch.signals import (
    REDUCTIONS,
    PearsonStats,
    Signal,
    copy_state_,
    derivative,
    get_signal_class,
    make_signal,
    register_signal,
    signal_from_config,
    signal_names,
)
from dynsearch.signals._base import _REGISTRY

pytestmark = pytest.mark.numerics


def np_r(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, np.float64).ravel(), np.asarray(y, np.float64).ravel()
    return float(np.corrcoef(x, y)[0, 1])


def feed(signal: Signal, pairs, **kw):
    state = None
    for a, b in pairs:
        state = signal.update(state, a, b, **kw)
    return state


def batches(t: torch.Tensor, sizes: list[int]) -> list[torch.Tensor]:
    return list(torch.split(t, sizes))


# --- io: pooled and per unit, with offsets, CNN layouts and members --------------------------------------


@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_io_pooled_and_unit_mean_match_numpy(offset: float, dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(0)
    z = (torch.randn(203, 6, generator=g) * torch.linspace(0.5, 3, 6) + offset).to(dtype)
    fz = torch.tanh(z - offset) * 2 + offset + 0.01 * torch.randn(203, 6, generator=g).to(dtype)
    sizes = [1, 64, 64, 64, 10]  # a single-sample batch first: its mean becomes the shift
    pairs = list(zip(batches(z, sizes), batches(fz, sizes)))
    zn, fn = z.double().numpy(), fz.double().numpy()
    pooled = feed(make_signal("io"), pairs)
    value, n, degenerate = make_signal("io").value(pooled).item()
    # float32 values are widened before any product, so both dtypes pay only float64 sums.
    bound = tol.pearson(203 * 6)
    assert value == pytest.approx(np_r(zn, fn), abs=bound)
    assert (n, degenerate) == (203 * 6, False)
    unit = make_signal("io", reduction="unit_mean")
    per_unit = np.mean([np_r(zn[:, j], fn[:, j]) for j in range(6)])
    assert unit.value(feed(unit, pairs)).item()[0] == pytest.approx(per_unit, abs=bound)
    # The same state serves both reductions.
    assert unit.value(pooled).item()[0] == pytest.approx(per_unit, abs=bound)


def test_io_pooled_equals_the_existing_pearson_stats() -> None:
    g = torch.Generator().manual_seed(1)
    z = torch.randn(300, 8, generator=g) + 0.5
    io, stats, state = make_signal("io"), PearsonStats(), None
    for zb in z.split(50):
        state = io.update(state, zb, torch.relu(zb))
        stats.update(zb, torch.relu(zb))
    # Both sum float64 products (per unit here, over all elements there).
    assert io.value(state).item()[0] == pytest.approx(stats.compute().r, abs=tol.pearson(z.numel()))
    assert io.value(state).item()[0] == pytest.approx(np_r(z.double(), torch.relu(z.double())), abs=tol.pearson(z.numel()))


def test_io_units_of_a_convolution_are_its_channels() -> None:
    g = torch.Generator().manual_seed(2)
    z = torch.randn(20, 3, 4, 5, generator=g) * torch.tensor([1.0, 2.0, 0.5]).view(1, 3, 1, 1)
    fz = torch.nn.functional.elu(z)
    unit = make_signal("io", reduction="unit_mean")
    state = feed(unit, zip(z.split(7), fz.split(7)))
    assert state["n"].shape == (1, 3) and state["n"][0, 0].item() == 20 * 4 * 5
    per_channel = [np_r(z[:, c].numpy(), fz[:, c].numpy()) for c in range(3)]
    assert unit.value(state).item()[0] == pytest.approx(np.mean(per_channel), abs=tol.pearson(z.numel()))
    assert make_signal("io").value(state).item()[0] == pytest.approx(np_r(z.numpy(), fz.numpy()), abs=tol.pearson(z.numel()))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_a_leading_member_dimension_equals_each_member_alone(reduction: str) -> None:
    g = torch.Generator().manual_seed(3)
    z = torch.randn(4, 90, 5, generator=g) * torch.arange(1, 5).view(4, 1, 1)
    slopes = torch.tensor([0.0, 0.1, 0.3, 1.0]).view(4, 1, 1)
    fz = torch.where(z > 0, z, slopes * z)
    io = make_signal("io", reduction=reduction)
    packed = feed(io, zip(z.split(30, dim=1), fz.split(30, dim=1)), members=True)
    values = io.value(packed).value
    for m in range(4):
        alone = feed(io, zip(z[m].split(30), fz[m].split(30)))
        assert values[m].item() == pytest.approx(io.value(alone).item()[0], abs=tol.pearson(90 * 5))
    assert values[3].item() == pytest.approx(1.0)  # slope 1: the identity


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_several_states_pool_their_units_like_a_global_scope(reduction: str) -> None:
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(100, 3, generator=g), torch.randn(100, 5, generator=g) * 3 + 1
    io = make_signal("io", reduction=reduction)
    s1, s2 = io.update(None, z1, torch.sigmoid(z1)), io.update(None, z2, torch.relu(z2))
    value = io.value([s1, s2]).item()[0]
    if reduction == "pooled":
        expected = np_r(np.concatenate([z1.numpy().ravel(), z2.numpy().ravel()]),
                        np.concatenate([torch.sigmoid(z1).numpy().ravel(), torch.relu(z2).numpy().ravel()]))  # fmt: skip
    else:
        expected = np.mean([np_r(z1[:, j], torch.sigmoid(z1[:, j])) for j in range(3)]
                           + [np_r(z2[:, j], torch.relu(z2[:, j])) for j in range(5)])  # fmt: skip
    assert value == pytest.approx(expected, abs=tol.pearson(800))


def test_zero_spread_is_zero_and_flagged_and_unit_mean_skips_such_units() -> None:
    io = make_signal("io")
    z = torch.full((50, 2), 3.0)
    assert io.value(io.update(None, z, torch.relu(z))).item() == (0.0, 100, True)
    assert io.value(io.update(None, z[:0], z[:0])).item() == (0.0, 0, True)  # nothing seen
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(5))
    z[:, 1] = -1.0  # a dead relu unit: f(z) = 0 everywhere, no spread
    unit = make_signal("io", reduction="unit_mean")
    value = unit.value(unit.update(None, z, torch.relu(z))).item()
    assert value[0] == pytest.approx(np_r(z[:, 0], torch.relu(z[:, 0])), abs=tol.pearson(50)) and value[2] is False


def test_a_state_copies_into_buffers_in_place() -> None:
    io = make_signal("io")
    z = torch.randn(40, 3)
    first = io.update(None, z, torch.tanh(z))
    buffers = {k: v.clone() for k, v in first.items()}
    ids = {k: id(v) for k, v in buffers.items()}
    copy_state_(buffers, io.update(buffers, z, torch.tanh(z)))
    assert {k: id(v) for k, v in buffers.items()} == ids
    assert buffers["n"][0, 0].item() == 80 and io.value(buffers).item()[0] == pytest.approx(io.value(first).item()[0])


def test_mismatched_batches_and_states_are_errors() -> None:
    io = make_signal("io")
    with pytest.raises(ValueError, match=r"pair x and y element-wise; got shapes \(1, 4, 3\) and \(1, 4, 2\)"):
        io.update(None, torch.zeros(4, 3), torch.zeros(4, 2))
    state = io.update(None, torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match=r"holds \(1, 3\) \(members, units\); the batch has \(1, 5\)"):
        io.update(state, torch.randn(4, 5), torch.randn(4, 5))
    with pytest.raises(ValueError, match="Unknown reduction 'mean'; allowed: pooled, unit_mean"):
        from dynsearch.signals import pearson_value

        pearson_value(state, "mean")


# --- dead and saturation ------------------------------------------------------------------------------------


def np_derivative(z: np.ndarray, family: str, a: float) -> np.ndarray:
    sig = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    return {
        "relu": lambda: np.where(z > 0, 1.0, a),
        "tanh": lambda: a * (1 - np.tanh(a * z) ** 2),
        "sigmoid": lambda: a * sig(a * z) * (1 - sig(a * z)),
        "silu": lambda: sig(a * z) + a * z * sig(a * z) * (1 - sig(a * z)),
        "elu": lambda: np.where(z > 0, 1.0, a * np.exp(np.minimum(z, 0))),
    }[family]()


@pytest.mark.parametrize(("family", "alpha"), [("relu", 0.0), ("relu", 0.1), ("elu", 1.0), ("sigmoid", 1.0)])
def test_dead_is_the_share_with_zero_slope(family: str, alpha: float) -> None:
    g = torch.Generator().manual_seed(6)
    z = torch.randn(120, 4, generator=g) * 3 - 1
    z[:5, 0] = 0.0  # relu's slope at 0 is 0, as F.relu's gradient
    z[5:8, 1] = -200.0  # sigmoid's slope underflows to exactly 0 here: no gradient flows
    dead = make_signal("dead")
    state = feed(dead, [(zb, zb) for zb in z.split(40)], family=family, alpha=alpha)
    expected = np_derivative(z.numpy().astype(np.float64), family, alpha)
    slopes = derivative(z, family, alpha).numpy()
    assert dead.value(state).item()[0] == pytest.approx(float((slopes == 0).mean()))
    if family == "relu" and alpha == 0.0:
        assert dead.value(state).item()[0] == pytest.approx(float((z.numpy() <= 0).mean()))
    elif family == "relu":
        assert dead.value(state).item()[0] == 0.0  # a leaky slope never stops the gradient
    else:  # elu's and sigmoid's tails underflow to a zero slope at -200 (3 of 120 rows of one unit)
        assert dead.value(state).item()[0] == pytest.approx(3 / 480)
    unit = make_signal("dead", reduction="unit_mean")
    per_unit = np.mean([(slopes[:, j] == 0).mean() for j in range(4)])
    assert unit.value(state).item()[0] == pytest.approx(per_unit)
    assert np.allclose(slopes, expected, rtol=tol.closed_form(6, torch.float32), atol=tol.closed_form(6, torch.float32))


@pytest.mark.parametrize(("family", "alpha"), [("tanh", 1.0), ("tanh", 2.5), ("sigmoid", 0.5), ("silu", 1.0), ("relu", 0.01)])
@pytest.mark.parametrize("eps", [0.01, 0.05, 0.2])
def test_saturation_is_the_share_of_small_slopes_against_numpy(family: str, alpha: float, eps: float) -> None:
    z = torch.randn(500, 3, generator=torch.Generator().manual_seed(7)) * 3
    sat = make_signal("saturation", eps=eps)
    state = feed(sat, [(zb, zb) for zb in z.split(128)], family=family, alpha=alpha)
    expected = np.abs(np_derivative(z.numpy().astype(np.float64), family, alpha)) < eps
    assert sat.value(state).item()[0] == pytest.approx(float(expected.mean()), abs=2 / z.numel())  # not rounding: two of the float32 slopes may land on the other side of eps


def test_share_signals_need_the_family_and_take_one_alpha_per_member() -> None:
    z = torch.randn(2, 64, 3, generator=torch.Generator().manual_seed(8))
    dead = make_signal("dead")
    with pytest.raises(ValueError, match="needs the site's family"):
        dead.update(None, z[0], z[0])
    alphas = torch.tensor([0.0, 0.2]).view(2, 1, 1)
    values = dead.value(dead.update(None, z, z, members=True, family="relu", alpha=alphas)).value
    assert values[0].item() == pytest.approx(float((z[0] <= 0).double().mean())) and values[1].item() == 0.0


# --- gradient: through a real backward hook ------------------------------------------------------------------


def test_gradient_signal_from_a_backward_hook_matches_numpy() -> None:
    torch.manual_seed(0)
    first, second = nn.Linear(5, 16), nn.Linear(16, 3)
    grad_signal = make_signal("gradient")
    state, seen_z, seen_g = None, [], []
    for _ in range(3):
        x, y = torch.randn(32, 5), torch.randint(0, 3, (32,))
        z = first(x)

        def hook(grad: torch.Tensor, z: torch.Tensor = z) -> None:
            nonlocal state
            state = grad_signal.update(state, z, grad)
            seen_z.append(z.detach().clone())
            seen_g.append(grad.detach().clone())

        z.register_hook(hook)
        loss = nn.functional.cross_entropy(second(torch.tanh(z)), y)
        loss.backward()
    expected = np_r(torch.cat(seen_z).numpy(), torch.cat(seen_g).numpy())
    assert grad_signal.value(state).item()[0] == pytest.approx(expected, abs=tol.pearson(3 * 32 * 16))
    assert len(seen_z) == 3 and state["n"].sum().item() == 3 * 32 * 16


# --- target ---------------------------------------------------------------------------------------------------


def test_target_signal_classification_and_regression_match_numpy() -> None:
    g = torch.Generator().manual_seed(9)
    out, y = torch.randn(90, 4, generator=g), torch.randint(0, 4, (90,), generator=g)
    target = make_signal("target")
    state = feed(target, zip(out.split(30), y.split(30)))
    probs, onehot = torch.softmax(out, 1).numpy(), np.eye(4)[y.numpy()]
    assert target.value(state).item()[0] == pytest.approx(np_r(probs, onehot), abs=tol.pearson(90 * 4))
    per_class = np.mean([np_r(probs[:, c], onehot[:, c]) for c in range(4)])
    assert make_signal("target", reduction="unit_mean").value(state).item()[0] == pytest.approx(per_class, abs=tol.pearson(90 * 4))
    pred, yr = torch.randn(60, 1, generator=g), torch.randn(60, generator=g)
    reg = feed(target, zip(pred.split(20), (yr + pred[:, 0]).split(20)))
    assert target.value(reg).item()[0] == pytest.approx(np_r(pred.numpy(), (yr + pred[:, 0]).numpy()), abs=tol.pearson(60))


def test_target_signal_members_share_one_target() -> None:
    g = torch.Generator().manual_seed(10)
    out, y = torch.randn(3, 40, 5, generator=g), torch.randint(0, 5, (40,), generator=g)
    target = make_signal("target")
    values = target.value(target.update(None, out, y, members=True)).value
    for m in range(3):
        assert values[m].item() == pytest.approx(target.value(target.update(None, out[m], y)).item()[0], abs=tol.pearson(40 * 5))


# --- data: the write-up's r(x, y), a per-dataset constant --------------------------------------------------------


def test_data_signal_is_the_literal_r_of_inputs_and_labels() -> None:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(150, 4, generator=g) * torch.tensor([1.0, 2.0, 0.5, 1.0]) + 2
    y = (x[:, 0] - x[:, 1] + 0.5 * torch.randn(150, generator=g) > 0).long()  # class indices, as the data holds them
    data = make_signal("data")
    state = feed(data, zip(x.split(40), y.split(40)))
    xn, yn = x.double().numpy(), y.double().numpy()
    # Every input value paired with its sample's label, as the write-up pairs x and y.
    assert data.value(state).item()[0] == pytest.approx(np_r(xn, np.repeat(yn[:, None], 4, axis=1)), abs=tol.pearson(150 * 4))
    per_feature = np.mean([np_r(xn[:, f], yn) for f in range(4)])
    assert make_signal("data", reduction="unit_mean").value(state).item()[0] == pytest.approx(per_feature, abs=tol.pearson(150 * 4))
    # A constant of the dataset: another batch order gives the same value.
    perm = torch.randperm(150, generator=g)
    again = feed(data, zip(x[perm].split(25), y[perm].split(25)))
    assert data.value(again).item()[0] == pytest.approx(data.value(state).item()[0], abs=tol.pearson(150 * 4))


def test_data_signal_pairs_every_feature_with_every_target_column() -> None:
    g = torch.Generator().manual_seed(13)
    x = torch.randn(120, 3, generator=g)
    t = torch.stack([x[:, 0] + torch.randn(120, generator=g), -x[:, 2] * 3 + 1], dim=1)  # two regression targets
    data = make_signal("data", reduction="unit_mean")
    state = data.update(None, x, t)
    xn, tn = x.double().numpy(), t.double().numpy()
    assert state["n"].shape == (1, 6)
    expected = np.mean([np_r(xn[:, f], tn[:, c]) for f in range(3) for c in range(2)])
    assert data.value(state).item()[0] == pytest.approx(expected, abs=tol.pearson(120 * 6))
    pairs_x = np.concatenate([np.repeat(xn[:, [f]], 2, axis=1) for f in range(3)], axis=1)
    assert make_signal("data").value(state).item()[0] == pytest.approx(np_r(pairs_x, np.tile(tn, (1, 3))), abs=tol.pearson(120 * 6))


# --- derivatives against autograd ------------------------------------------------------------------------------


@pytest.mark.parametrize("family", family_names())
def test_every_family_derivative_matches_autograd(family: str) -> None:
    fam = get_family(family)
    alphas = [fam.alpha_default] + ([fam.alpha_range[0] + 0.05, fam.alpha_range[1] * 0.7] if fam.has_alpha else [])
    z0 = torch.cat([torch.linspace(-8, 8, 401), torch.tensor([0.0, -0.0, 1e-7, -1e-7, 30.0, -30.0])]).double()
    for alpha in alphas:
        z = z0.clone().requires_grad_(True)
        fam.fn(z, float(alpha)).sum().backward()
        assert torch.allclose(derivative(z0, family, float(alpha)), z.grad, atol=tol.closed_form(20), rtol=tol.closed_form(20)), (family, alpha)
    if fam.has_alpha:  # a tensor α (one per member) gives the same slopes as each float α
        a = torch.tensor(alphas, dtype=torch.float64).view(-1, 1)
        stacked = derivative(z0.expand(len(alphas), -1), family, a)
        for i, alpha in enumerate(alphas):
            assert torch.allclose(stacked[i], derivative(z0, family, float(alpha)), atol=tol.closed_form(20))


# --- the registry and declarations -----------------------------------------------------------------------------


def test_builtin_signals_declare_range_source_and_what_they_measure() -> None:
    assert signal_names()[:6] == ["io", "target", "dead", "saturation", "gradient", "data"]
    ranges = {name: get_signal_class(name).value_range for name in signal_names()[:6]}
    assert ranges == {"io": (-1.0, 1.0), "gradient": (-1.0, 1.0), "dead": (0.0, 1.0), "saturation": (0.0, 1.0),
                      "target": (-1.0, 1.0), "data": (-1.0, 1.0)}  # fmt: skip
    sources = {name: get_signal_class(name).source for name in signal_names()[:6]}
    assert sources == {"io": "site", "gradient": "site_gradient", "dead": "site", "saturation": "site",
                       "target": "network", "data": "input"}  # fmt: skip
    assert {n for n in signal_names()[:6] if get_signal_class(n).per_network} == {"target", "data"}
    assert all(get_signal_class(n).measures for n in signal_names())
    assert make_signal("saturation", eps=0.1).describe()["params"] == {"reduction": "pooled", "eps": 0.1}


@pytest.mark.parametrize("name", ["io", "gradient", "dead", "saturation", "target", "data"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_values_lie_in_the_declared_range(name: str, reduction: str) -> None:
    signal = make_signal(name, reduction=reduction)
    g = torch.Generator().manual_seed(12)
    a = torch.randn(64, 6, generator=g) * 4
    b = {"target": torch.randint(0, 6, (64,), generator=g), "data": torch.randint(0, 3, (64,), generator=g)}.get(name, torch.tanh(a))
    low, high = signal.value_range
    value = signal.value(signal.update(None, a, b, family="tanh", alpha=1.0)).item()[0]
    assert low <= value <= high


def test_config_round_trip_and_errors() -> None:
    sat = make_signal("saturation", eps=0.02, reduction="unit_mean")
    assert signal_from_config(sat.to_config()) == sat and signal_from_config("io") == make_signal("io")
    assert hash(signal_from_config(sat.to_config())) == hash(sat)
    with pytest.raises(ValueError, match="Unknown signal 'ioo'; registered signals: io, target, dead"):
        make_signal("ioo")
    with pytest.raises(ValueError, match="Unknown parameter 'epsilon' for signal 'saturation'; allowed: reduction, eps"):
        make_signal("saturation", epsilon=0.1)
    with pytest.raises(ValueError, match=r"The 'reduction' parameter of IOSignal must be one of pooled, unit_mean\. Got 'max'"):
        make_signal("io", reduction="max")
    with pytest.raises(ValueError, match=r"The 'eps' parameter of SaturationSignal must be a finite number > 0\. Got 0"):
        make_signal("saturation", eps=0)
    with pytest.raises(ValueError, match="Unknown key 'parms' in a signal config; allowed: name, params"):
        signal_from_config({"name": "io", "parms": {}})


@pytest.fixture
def restored_signal_registry():
    """The registry as it was before the test: a signal registered here is gone for the tests after it."""
    before = dict(_REGISTRY)
    yield
    _REGISTRY.clear()
    _REGISTRY.update(before)


def test_registering_checks_duplicates_and_declarations(restored_signal_registry) -> None:
    @register_signal("test_const")
    class Const(Signal):
        measures = "a constant"

    with pytest.raises(ValueError, match="A signal named 'test_const' is already registered"):

        @register_signal("test_const")
        class Other(Signal):
            pass

    with pytest.raises(ValueError, match="declares source 'weights'; allowed: site, site_gradient, network, input"):

        @register_signal("test_bad_source")
        class BadSource(Signal):
            source = "weights"

    with pytest.raises(TypeError, match="decorates Signal subclasses"):
        register_signal("test_not_a_signal")(int)
    assert Const().to_config() == {"name": "test_const", "params": {"reduction": "pooled"}}


# --- streaming: any split into batches gives the same value --------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    cuts=st.lists(st.integers(1, 59), max_size=6, unique=True),
    offset=st.sampled_from([0.0, 3.0, -1e3]),
    scale=st.floats(0.01, 100.0),
    seed=st.integers(0, 2**16),
    reduction=st.sampled_from(REDUCTIONS),
)
def test_any_batch_split_gives_the_value_of_one_batch(cuts, offset, scale, seed, reduction) -> None:
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(60, 3, generator=g, dtype=torch.float64) * scale + offset
    fz = torch.tanh((z - offset) / scale) + 0.1 * torch.randn(60, 3, generator=g, dtype=torch.float64)
    bounds = [0, *sorted(cuts), 60]
    io = make_signal("io", reduction=reduction)
    split = feed(io, [(z[a:b], fz[a:b]) for a, b in zip(bounds, bounds[1:])])
    whole = io.update(None, z, fz)
    assert io.value(split).item()[0] == pytest.approx(io.value(whole).item()[0], abs=tol.pearson(60 * 3))
    dead = make_signal("saturation", eps=0.5, reduction=reduction)
    split = feed(dead, [(z[a:b], z[a:b]) for a, b in zip(bounds, bounds[1:])], family="tanh")
    assert dead.value(split).item()[0] == pytest.approx(dead.value(dead.update(None, z, z, family="tanh")).item()[0])
