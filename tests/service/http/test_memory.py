"""The decode budget: concurrent decodes hold what they cost, and never more than the budget."""

from __future__ import annotations

import asyncio

from service.http import memory
from service.http.memory import MIB, DecodeBudget, budget_bytes


def test_decodes_wait_for_their_share_of_the_budget(monkeypatch):
    trims = []
    monkeypatch.setattr(memory, "trim", lambda: trims.append(1))
    budget = DecodeBudget(100)
    running, most = 0, 0

    async def decode(cost: int) -> None:
        nonlocal running, most
        held = min(cost, budget.total)  # a decode over the whole budget holds all of it
        async with budget.reserve(cost):
            running += held
            most = max(most, running)
            await asyncio.sleep(0.01)
            running -= held

    async def burst() -> None:
        await asyncio.gather(*(decode(c) for c in (60, 60, 30, 500, 10, 40)))

    asyncio.run(burst())
    assert most == 100  # full, never over
    assert budget.free == 100 and budget.waiting == 0
    assert trims  # the heaps are trimmed once the burst is over


def test_the_budget_is_sized_from_memory(monkeypatch):
    assert budget_bytes(300) == 300 * MIB
    monkeypatch.setattr(memory, "available_memory", lambda: 16 * 1024 * MIB)
    assert budget_bytes(0) == 1024 * MIB
    monkeypatch.setattr(memory, "available_memory", lambda: 200 * MIB)
    assert budget_bytes(0) == 128 * MIB
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    assert budget_bytes(0) == 512 * MIB
