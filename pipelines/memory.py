"""How much memory a build's DuckDB connection may use before it spills to disk
(docs/operations.md#disk-and-memory): `--memory-limit` of `ingest` and `rebuild`."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pipelines.errors import LoadError

UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
# Below this the models cannot run at all, spilling or not (the 2,000-client sample fails at 20 MB
# and builds at 50 MB: DuckDB keeps a few blocks per thread in memory whatever it spills).
MINIMUM = 64 * 2**20
# The default: half the memory, at most DEFAULT_CAP. DuckDB uses what it is allowed (its own default
# is 80 %), so a share alone would let a load's memory grow with its rows; with the cap it stays
# near 1.5 GiB at any size, and a ten-million-row build spills a little (bench/RESULTS.md). A server
# with memory to spare can give more with --memory-limit.
DEFAULT_SHARE = 50
DEFAULT_CAP = 2**30
CGROUP_LIMIT = Path("/sys/fs/cgroup/memory.max")
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(%|[kmgt]i?b|b)\s*", re.IGNORECASE)


def available_memory() -> int:
    """The memory this process can have: the machine's, or its container's limit when lower."""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = CGROUP_LIMIT.read_text(encoding="ascii").strip()
    except OSError:
        return physical
    return min(physical, int(limit)) if limit.isdigit() else physical


def default_memory_limit() -> int:
    return max(MINIMUM, min(DEFAULT_CAP, available_memory() * DEFAULT_SHARE // 100))


def human_size(size: int) -> str:
    """A size in the largest binary unit that keeps it at 1 or more: 512 MiB, 11.7 GiB."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        scale = UNITS[unit.lower()]
        if size >= scale:
            value = size / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{size} B"


def parse_memory_limit(text: str) -> int:
    """`--memory-limit` in bytes: a size with its unit (4GiB, 2000MB) or a share of the memory this
    process can have (50%). One line names what is wrong with any other value."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise LoadError(f"--memory-limit '{text}': give a size with its unit, such as 4GiB or 2000MB, or a share "
                        "of this machine's memory, such as 50%")
    number, unit = float(match.group(1)), match.group(2).lower()
    available = available_memory()
    if unit == "%":
        if not 0 < number <= 100:
            raise LoadError(f"--memory-limit '{text}': a share of this machine's memory is more than 0% and at most "
                            "100%")
        size = int(available * number / 100)
    else:
        size = int(number * UNITS[unit])
    if size < MINIMUM:
        raise LoadError(f"--memory-limit '{text}': {human_size(size)} is less than the {human_size(MINIMUM)} a build "
                        "needs at the least")
    if size > available:
        raise LoadError(f"--memory-limit '{text}': more than the {human_size(available)} of memory this machine "
                        "has; give a share such as 50%")
    return size


def hold_to(con, memory_limit: int, spill: Path) -> None:
    """Hold a DuckDB connection to `memory_limit` bytes, spilling what does not fit into the folder
    `spill`."""
    con.execute(f"SET memory_limit = '{int(memory_limit)}B'")
    con.execute("SET temp_directory = '" + str(spill).replace("'", "''") + "'")
