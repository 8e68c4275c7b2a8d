"""Optimizer step inside backward: each parameter is updated, and its gradient freed, as
soon as its gradient is complete (`register_post_accumulate_grad_hook`), so the full set
of gradients never exists at once.

What it cannot do (validated in the config layer, as torchtune does): gradient
accumulation (there is no moment when the accumulated gradient is complete) and
clipping by the global gradient norm (the norm is known only after every gradient
exists).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch


class OptimizerInBackward:
    def __init__(
        self,
        parameters: Iterable[torch.nn.Parameter],
        make_optimizer: Callable[[list[torch.nn.Parameter]], torch.optim.Optimizer],
    ) -> None:
        self.params = [p for p in parameters if p.requires_grad]
        self.optimizers = {p: make_optimizer([p]) for p in self.params}
        self.handles = [p.register_post_accumulate_grad_hook(self._step) for p in self.params]
        self.observers: list[Callable[[torch.nn.Parameter], None]] = []

    def _step(self, param: torch.nn.Parameter) -> None:
        for observe in self.observers:
            observe(param)
        self.optimizers[param].step()
        param.grad = None  # freed now, not at the end of backward

    def state_dict(self) -> dict[str, Any]:
        return {str(i): self.optimizers[p].state_dict() for i, p in enumerate(self.params)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {str(i) for i in range(len(self.params))}:
            raise ValueError("optimizer-in-backward state does not match these parameters")
        for i, p in enumerate(self.params):
            self.optimizers[p].load_state_dict(state[str(i)])

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()
