"""Message memories and SIMs: stored records, "SM"/"ME"/"SR" memories, "MT" as their union."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field

from hwsim.identity import SimIdentity
from hwsim.ussd import UssdService

SIM_CAPACITY = 20


@dataclass
class Stored:
    index: int
    stat: int
    pdu: str


@dataclass
class Memory:
    """A message memory ("SM" on a SIM, "ME" in the modem, "SR" for status reports)."""

    name: str
    capacity: int
    slots: MutableMapping[int, Stored] = field(default_factory=dict)

    @property
    def used(self) -> int:
        return len(self.slots)

    def free_index(self) -> int | None:
        return next((i for i in range(1, self.capacity + 1) if i not in self.slots), None)


class _UnionSlots(MutableMapping[int, Stored]):
    """The slots of several memories numbered one after the other: indexes 1..n1 are the first memory's,
    n1+1..n1+n2 the second's, and so on."""

    def __init__(self, parts: list[Memory]) -> None:
        self._parts = parts

    def _locate(self, index: int) -> tuple[Memory, int]:
        offset = 0
        for part in self._parts:
            if offset < index <= offset + part.capacity:
                return part, index - offset
            offset += part.capacity
        raise KeyError(index)

    def __getitem__(self, index: int) -> Stored:
        part, local = self._locate(index)
        return part.slots[local]

    def __setitem__(self, index: int, stored: Stored) -> None:
        part, local = self._locate(index)
        part.slots[local] = Stored(local, stored.stat, stored.pdu)

    def __delitem__(self, index: int) -> None:
        part, local = self._locate(index)
        del part.slots[local]

    def __iter__(self) -> Iterator[int]:
        offset = 0
        for part in self._parts:
            yield from sorted(offset + i for i in part.slots)
            offset += part.capacity

    def __len__(self) -> int:
        return sum(len(part.slots) for part in self._parts)


def union_memory(name: str, parts: list[Memory]) -> Memory:
    """A memory made of `parts` ("MT" = "SM" then "ME"): filled in that order, indexes one range after another,
    as Siemens TC35i and L55 manuals number their "MT" (the sum of "ME" and "SM")."""
    return Memory(name, sum(p.capacity for p in parts), _UnionSlots(parts))


@dataclass
class Sim:
    identity: SimIdentity
    sm: Memory
    # messages the network holds for this SIM until it can take them, and how many it dropped unclaimed
    network: deque[str] = field(default_factory=deque)
    # what the network's USSD service answers this SIM, by code ("*": any other code)
    ussd: dict[str, UssdService] = field(default_factory=dict)
    expired: int = 0
