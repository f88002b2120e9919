"""Durability: acknowledged writes survive a writer SIGKILLed mid-load.

The writer is a separate process (crashwriter.py) killed at random moments,
restarted, killed again. After each kill every acknowledged write must be
present with its exact value, nothing half-applied, and the revision must
never go backwards.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

from kybernetes import storage
from tests.storage.crashwriter import value_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_until_killed(url: str, prefix: str, first: int, seconds: float) -> tuple[int, dict[int, int]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.storage.crashwriter", url, prefix, str(first)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    acked: dict[int, int] = {}
    start_revision = -1
    try:
        line = proc.stdout.readline()
        assert line.startswith("start"), line + proc.stderr.read()
        start_revision = int(line.split()[1])
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            _, n, rev = line.split()
            acked[int(n)] = int(rev)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        # Whatever the writer printed before it died was acknowledged too.
        for line in proc.stdout.read().splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "ack":
                acked[int(parts[1])] = int(parts[2])
        proc.wait()
    return start_revision, acked


async def test_sigkilled_writer_loses_no_acknowledged_write(store_url, prefix):
    rng = random.Random(11)
    all_acked: dict[int, int] = {}
    last_revision = 0
    first = 0
    for _round in range(5):
        start_revision, acked = run_until_killed(store_url, prefix, first, rng.uniform(0.3, 1.0))
        assert acked, "the writer acknowledged nothing before it was killed"
        assert start_revision >= last_revision, "revision went backwards after a crash"
        all_acked.update(acked)
        last_revision = max(acked.values())
        first = max(all_acked) + 1000  # never reuse a key a killed writer may have written

        store = storage.open_store(store_url)
        await store.start()
        try:
            assert await store.current_revision() >= last_revision
            listed = await store.list(prefix)
            stored = {int(kv.key[len(prefix):]): kv for kv in listed.kvs}
            for n, revision in all_acked.items():
                assert n in stored, f"acknowledged write {n} lost"
                assert stored[n].mod_revision == revision
            for n, kv in stored.items():
                assert kv.value == value_for(n), f"write {n} half-applied"
        finally:
            await store.close()
