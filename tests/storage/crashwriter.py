"""A writer process for the durability test: writes until it is killed.

Usage: python -m tests.storage.crashwriter URL PREFIX FIRST
Prints ``start <revision>`` once the store is open, then ``ack <n> <revision>``
after each acknowledged create of PREFIX<n> (8 concurrent writers, so group
commit is exercised). Values are self-describing so that a half-applied
write would be seen.
"""

from __future__ import annotations

import asyncio
import sys

from kybernetes import storage


def value_for(n: int) -> bytes:
    return (f"value-{n}:" + "x" * (n % 97)).encode()


async def main(url: str, prefix: str, first: int) -> None:
    store = storage.open_store(url)
    await store.start()
    print("start", await store.current_revision(), flush=True)
    counter = iter(range(first, 1 << 40))

    async def worker():
        for n in counter:
            kv = await store.create(f"{prefix}{n:09d}", value_for(n))
            sys.stdout.write(f"ack {n} {kv.mod_revision}\n")
            sys.stdout.flush()

    await asyncio.gather(*(worker() for _ in range(8)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
