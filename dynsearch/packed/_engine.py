"""The packed engine: K members of one shape trained as one vectorized model.

Every member keeps what ``train()`` gives it alone: the same initial weights (each is built by
``train.build`` with its own seed, then stacked), its own data order (its seed's generator), its
own optimizer state and settings, its own family and α per site decided by the trainer's own
``adjust_sites`` on host-side views, its own Pearson sums (one ``shifted_gram`` per site for all
members, no host sync per step), and its own early stopping, best weights and divergence.
A member that leaves (pruned, stopped, diverged) takes its rows with it: the pack compacts.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from ..adjustment import adjust_sites
from ..data import DatasetSplits, iter_batches
from ..sites import meter_signal, needs_target_signal, sites
from ..train import TrainingInterrupted, split_metrics
from ._members import MemberSite, MemberStats
from ._net import Op, packed_forward
from ._optim import PackedOptimizer
from ._plans import SitePlan, site_plan
from ._recording import PackRecorder
from ._signals import PackSignals, Tap
from ._step import PackedStep

__all__ = ["PackEngine"]

# Rows (members x samples) evaluated per forward pass: bounds a large pack's evaluation memory.
_EVAL_ROWS = 1 << 14


def _epoch_order(n: int, generator: torch.Generator) -> Tensor:
    """The permutation ``iter_batches`` draws from this generator for one epoch."""
    index = torch.arange(n)
    return next(iter_batches(index, index, n, generator=generator))[0]


class PackEngine:
    """One pack's training state and its per-epoch steps (``train_engine`` drives it).

    Rows are members in the order ``members`` gives (their original indices); ``views`` and
    ``targets`` hold each row's host-side site and target-signal state.
    """

    def __init__(self, splits: DatasetSplits, strategies: Sequence[Any], configs: Sequence[Any], models: Sequence[Any],
                 plan: list[Op], params: list[Tensor], members: Sequence[int],
                 record: Sequence[Sequence[Any]] | None = None) -> None:
        self.splits, self.plan, self.configs = splits, plan, list(configs)
        self.device = splits.x_train.device
        self.members: list[int | None] = list(members)  # each row's original index (None: it left)
        self.site_names = [name for name, _ in sites(models[0])]
        self.views = [[MemberSite(site, s) for _, site in sites(m)] for m, s in zip(models, strategies)]
        # Signals other than io/target pooled: meters over all members (rows), read through per-member views.
        meter_signals = [meter_signal(s) for s in strategies]
        self.signals = PackSignals(self.views, meter_signals, splits.x_train.device)
        self.signals.plan(self.views)
        # Signals recorded per epoch (``train(record_signals=...)``), every batch, apart from what strategies read.
        self.recorder = PackRecorder(len(self.site_names), record or [[] for _ in configs], splits.x_train.device)
        self.recorder.plan(self.views)
        self.targets = [MemberStats(needs_target_signal(m) and sig is None) for m, sig in zip(models, meter_signals)]
        self.generators = [torch.Generator().manual_seed(c.seed) for c in configs]
        k, n_sites = len(configs), len(self.site_names)
        self.measure_io = any(v.stats.measured for row in self.views for v in row)
        self.measure_target = any(t.measured for t in self.targets)
        self.learns_alpha = any(v.learned for row in self.views for v in row)
        self.params = [p.requires_grad_() for p in params]
        self.alphas = [self._alpha_tensor(s).requires_grad_(self.learns_alpha) for s in range(n_sites)]
        self.grams = [torch.zeros(k, 3, 3, dtype=torch.float64, device=self.device) for _ in range(n_sites + 1)]
        self.shifts = [torch.zeros(k, 3, 1, device=self.device) for _ in range(n_sites + 1)]
        as_tensor = lambda values: torch.tensor(values, dtype=torch.float32, device=self.device)  # noqa: E731
        self.optimizer = PackedOptimizer(
            configs[0].optimizer,
            self._trainable(),
            lr=as_tensor([c.lr for c in configs]),
            weight_decay=as_tensor([c.weight_decay for c in configs]),
            momentum=as_tensor([c.momentum for c in configs]),
            decays=[True] * len(self.params) + [False] * (n_sites if self.learns_alpha else 0),
            lr_masks=[None] * len(self.params)
            + ([as_tensor([float(row[s].learned) for row in self.views]) for s in range(n_sites)] if self.learns_alpha else []),
        )
        self.step = PackedStep(plan, splits.task)
        # Compiled, a site computes every family it has ever needed, so plans change rarely.
        self.family_unions: list[list[str]] = [[] for _ in range(n_sites)]
        self.site_plans = self._site_plans()

    # --- state helpers ---------------------------------------------------------------------

    def _alpha_tensor(self, s: int) -> Tensor:
        return torch.tensor([row[s].alpha for row in self.views], dtype=torch.float32, device=self.device)

    def _trainable(self) -> list[Tensor]:
        return self.params + (self.alphas if self.learns_alpha else [])

    def _site_plans(self) -> list[SitePlan]:
        plans = []
        for s, union in enumerate(self.family_unions):
            families = [row[s].family for row in self.views]
            union.extend(f for f in dict.fromkeys(families) if f not in union)
            alphas, learned = [row[s].alpha for row in self.views], [row[s].learned for row in self.views]
            plans.append(site_plan(families, alphas, learned, self.device, union if self.step.compiled else None))
        return plans

    def live(self) -> list[int]:
        """Positions of the members still training (compiled packs keep rows of those that left)."""
        return [pos for pos, index in enumerate(self.members) if index is not None]

    def shape_key(self) -> tuple[Any, ...]:
        x, batch = self.splits.x_train, self.configs[0].batch_size
        shape = (len(self.members), min(batch, x.shape[0]), *x.shape[1:])
        return (tuple(self.plan), self.splits.task, self.optimizer.kind, shape)

    def try_compile(self) -> bool:
        """Compile the step (dry run on the first batch); False if compilation failed."""
        x, y, batch = self.splits.x_train, self.splits.y_train, self.configs[0].batch_size
        k = len(self.members)
        if self.signals.active or self.recorder.active:
            return False  # the meters' updates and gradient hooks run eagerly only
        # Batches are slices of each member's shuffled split: the dry run's have the same strides.
        xb = x.expand(k, *x.shape).contiguous()[:, :batch]
        yb = y.expand(k, *y.shape).contiguous()[:, :batch]
        self.step.compiled = True  # plans with every family seen, as the compiled step will get them
        ok = self.step.try_compile(self.optimizer, self._trainable(), self.params, self.alphas, self._site_plans(),
                                   xb, yb, self.grams, self.shifts, self.measure_io, self.measure_target)
        self.step.compiled = ok
        self.site_plans = self._site_plans()
        return ok

    def _fresh(self) -> list[Tensor]:
        rows = [[row[s].stats.fresh for row in self.views] for s in range(len(self.site_names))]
        rows.append([t.fresh for t in self.targets])
        return [torch.tensor(r, device=self.device).view(-1, 1, 1) for r in rows]

    # --- one epoch --------------------------------------------------------------------------

    def train_epoch(self, epoch: int, should_stop: Callable[[], bool] | None) -> list[float]:
        x, y = self.splits.x_train, self.splits.y_train
        n, batch = x.shape[0], self.configs[0].batch_size
        order = torch.stack([_epoch_order(n, g) for g in self.generators]).to(self.device)
        xs, ys = x[order], y[order]
        loss_sum = torch.zeros(len(self.members), dtype=torch.float64, device=self.device)
        fresh = self._fresh() if self.measure_io or self.measure_target else None
        n_batches = 0
        observers = [m for m in (self.signals, self.recorder) if m.active]
        recorded = self.recorder.site_taps(self.alphas) if self.recorder.active else None
        for b, start in enumerate(range(0, n, batch)):
            if should_stop is not None and should_stop():
                raise TrainingInterrupted(f"stopped during epoch {epoch}")
            measured = b % self.configs[0].measure_every == 0
            loss = self.step(
                self.params, self.alphas, self.site_plans, self.optimizer, self._trainable(),
                xs[:, start : start + batch], ys[:, start : start + batch],
                sums=self.grams, shifts=self.shifts, fresh=fresh if b == 0 else None,
                io=self.measure_io and measured, target=self.measure_target,
                taps=_merged(self.signals.site_taps(self.alphas) if self.signals.active and measured else None, recorded),
                observers=observers,
            )
            loss_sum += loss
            n_batches += 1
        for row in self.views:
            for view in row:
                view.stats.fresh = False
        for t in self.targets:
            t.fresh = False
        return (loss_sum / max(n_batches, 1)).tolist()

    def _read_state(self) -> None:
        """One host copy per epoch of every member's sums (and learned α) into its views."""
        grams = torch.stack(self.grams).tolist()
        shifts = torch.stack(self.shifts)[..., :2, 0].double().tolist()
        alphas = torch.stack([a.detach() for a in self.alphas]).tolist() if self.learns_alpha else None
        for k, row in enumerate(self.views):
            for s, view in enumerate(row):
                view.stats.gram, view.stats.shift = grams[s][k], tuple(shifts[s][k])
                if view.learned and alphas is not None:
                    view.alpha = alphas[s][k]
            self.targets[k].gram, self.targets[k].shift = grams[-1][k], tuple(shifts[-1][k])

    @torch.no_grad()
    def _write_state(self) -> None:
        """After the adjustment: zero the sums that were reset, write α and the family plans."""
        columns = [[row[s].stats for row in self.views] for s in range(len(self.site_names))] + [self.targets]
        for gram, column in zip(self.grams, columns):
            if any(st.reset_requested for st in column):
                keep = torch.tensor([not st.reset_requested for st in column], device=self.device)
                gram.mul_(keep.view(-1, 1, 1))
                for st in column:
                    st.fresh, st.reset_requested = st.fresh or st.reset_requested, False
        for s, alpha in enumerate(self.alphas):
            if any(row[s].changed for row in self.views):
                alpha.copy_(self._alpha_tensor(s))
                for row in self.views:
                    row[s].changed = False
        self.signals.apply_resets(self.views)
        self.signals.plan(self.views)
        self.recorder.plan(self.views)  # families may have changed: f′-signals group rows by family
        self.site_plans = self._site_plans()

    def recorded(self) -> list[dict[str, dict[str, float]]]:
        """Per row, this epoch's recorded signals (empty for members that record none); then afresh."""
        if not self.recorder.active:
            return [{} for _ in self.members]
        return self.recorder.epoch_values(self.site_names)

    def adjust(self, epoch: int) -> list[list[dict[str, Any]]]:
        self._read_state()
        records = [
            adjust_sites(list(zip(self.site_names, row)), target if meter is None else meter, epoch)
            if index is not None else []
            for row, target, meter, index in zip(self.views, self.targets, self.signals.network_views, self.members)
        ]
        self._write_state()
        return records

    # --- evaluation -------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self, x: Tensor, y: Tensor, params: Sequence[Tensor], alphas: Sequence[Tensor],
                 plans: Sequence[SitePlan]) -> tuple[list[float], list[float]]:
        """(loss, metric) per member on a split, as ``train.evaluate`` computes them."""
        k, n = params[0].shape[0], x.shape[0]
        chunk = max(1, min(n, _EVAL_ROWS // k))
        out = torch.cat([
            packed_forward(self.plan, params, alphas, plans, x[i : i + chunk].expand(k, *x[i : i + chunk].shape))[0]
            for i in range(0, n, chunk)
        ], dim=1)
        return split_metrics(out, y, self.splits.task)

    # --- compaction -------------------------------------------------------------------------

    @torch.no_grad()
    def compact(self, leaving: set[int]) -> None:
        """Drop the rows of the members at positions ``leaving``.

        A compiled pack keeps them (a new pack size means a new compilation) until at most half
        its rows are live; then every row that left goes at once.
        """
        for pos in leaving:
            self.members[pos] = None
        live = self.live()
        if self.step.compiled and 2 * len(live) > len(self.members):
            return
        kept = live
        keep = torch.tensor(kept, dtype=torch.long, device=self.device)
        self.params = [p[keep].detach().requires_grad_() for p in self.params]
        self.alphas = [a[keep].detach().requires_grad_(self.learns_alpha) for a in self.alphas]
        self.grams = [g[keep] for g in self.grams]
        self.shifts = [s[keep] for s in self.shifts]
        self.optimizer.select(keep)
        for name in ("members", "views", "targets", "generators"):
            setattr(self, name, [getattr(self, name)[i] for i in kept])
        self.signals.compact(kept, self.views)
        self.recorder.compact(kept)
        self.recorder.plan(self.views)
        self.site_plans = self._site_plans()

    def snapshot(self, position: int) -> tuple[list[Tensor], list[Tensor], list[str]]:
        """A member's weights, α and families (its best state, for the test split)."""
        return (
            [p[position].detach().clone() for p in self.params],
            [a[position].detach().clone() for a in self.alphas],
            [view.family for view in self.views[position]],
        )

    @torch.no_grad()
    def evaluate_snapshots(self, x: Tensor, y: Tensor, snaps: Sequence[tuple[list[Tensor], list[Tensor], list[str]]]
                           ) -> tuple[list[float], list[float]]:
        params = [torch.stack(rows) for rows in zip(*(s[0] for s in snaps))]
        alphas = [torch.stack(rows) for rows in zip(*(s[1] for s in snaps))]
        plans = [site_plan(list(fams), None, None, self.device) for fams in zip(*(s[2] for s in snaps))]
        return self.evaluate(x, y, params, alphas, plans)


def _merged(first: Sequence[Tap | None] | None, second: Sequence[Tap | None] | None) -> list[Tap | None] | None:
    """One tap per site calling both lists' taps (either may be None, or hold None for a site)."""
    if first is None:
        return None if second is None else list(second)
    if second is None:
        return list(first)
    return [_both(a, b) if a is not None and b is not None else a or b for a, b in zip(first, second)]


def _both(a: Tap, b: Tap) -> Tap:
    def tap(z: Tensor, y: Tensor) -> None:
        a(z, y)
        b(z, y)

    return tap
