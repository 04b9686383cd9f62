"""The one step loop: batches, named terms, the non-finite check, resuming the batch stream."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from kdnas.distill.loop import NonFiniteLoss, StepLoop, random_batches, shuffled_batches
from kdnas.errors import TrialFailure


def _loop(x: torch.Tensor, y: torch.Tensor, *, check_every: int = 100, gen_seed: int = 0) -> tuple[StepLoop, nn.Linear]:
    torch.manual_seed(0)
    model = nn.Linear(x.shape[1], 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)

    def loss(idx: torch.Tensor, _step: int) -> dict[str, torch.Tensor]:
        err = model(x[idx]).squeeze(1) - y[idx]
        return {"mse": err.pow(2).mean(), "l1": 0.1 * err.abs().mean()}

    gen = torch.Generator().manual_seed(gen_seed)
    return StepLoop(loss, shuffled_batches(len(x), 8, gen), opt, sched, check_every=check_every), model


def _problem() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(32, 3, generator=g)
    return x, x @ torch.tensor([1.0, -2.0, 0.5])


def test_shuffled_batches_cover_each_epoch_once_and_leave_out_the_tail() -> None:
    batches = shuffled_batches(10, 4, torch.Generator().manual_seed(0))
    epoch = [next(batches) for _ in range(2)]  # 10 // 4 batches per permutation
    assert len(torch.cat(epoch).unique()) == 8
    assert all(len(b) == 4 for b in epoch)
    assert next(shuffled_batches(3, 8, torch.Generator())).tolist() != []  # batch larger than the data: all of it


def test_the_stream_is_drawn_lazily_so_a_saved_generator_resumes_it() -> None:
    """A training state saved at an epoch boundary holds the generator before the next epoch's draw."""
    stream = shuffled_batches(12, 4, torch.Generator().manual_seed(3))
    ref = [next(stream).tolist() for _ in range(6)]
    gen = torch.Generator().manual_seed(3)
    first = shuffled_batches(12, 4, gen)
    assert [next(first).tolist() for _ in range(3)] == ref[:3]  # one epoch: the next permutation not drawn yet
    resumed = torch.Generator()
    resumed.set_state(gen.get_state())
    again = shuffled_batches(12, 4, resumed)
    assert [next(again).tolist() for _ in range(3)] == ref[3:]


def test_random_batches_draw_with_replacement() -> None:
    draws = torch.cat([next(random_batches(4, 4, torch.Generator().manual_seed(s))) for s in range(20)])
    assert draws.max() < 4 and len(draws) == 80
    assert any(len(next(random_batches(4, 4, torch.Generator().manual_seed(s))).unique()) < 4 for s in range(20))


def test_run_returns_every_step_loss_and_term_and_learns() -> None:
    x, y = _problem()
    loop, _ = _loop(x, y)
    first = loop.run(5)
    later = loop.run(40)
    assert loop.step == 45 and len(first.losses) == 5 and set(first.terms) == {"mse", "l1"}
    for i, total in enumerate(first.losses):  # the loss is the sum of its terms
        assert total == pytest.approx(first.terms["mse"][i] + first.terms["l1"][i], rel=1e-6)
    assert later.losses[-1] < 0.01 * first.losses[0]


@pytest.mark.parametrize("check_every", [1, 3, 100])
def test_a_non_finite_loss_names_its_step_whenever_it_is_checked(check_every: int) -> None:
    x, y = _problem()
    loop, model = _loop(x, y, check_every=check_every)
    loop.run(4)
    with torch.no_grad():
        model.weight.fill_(float("nan"))  # from step 4 on every loss is NaN
    with pytest.raises(NonFiniteLoss, match=r"non-finite loss \(nan\) at step 4") as err:
        loop.run(5)
    assert err.value.step == 4 and isinstance(err.value, TrialFailure)
