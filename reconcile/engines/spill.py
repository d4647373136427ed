"""退避ファイル / frames handed to tasks through Arrow IPC files instead of pickles.

A partition's frames (and the residents, once) are written uncompressed to Arrow IPC
("Feather v2") files under one temporary folder; a task gets a small :class:`Spilled` handle
and reads them memory-mapped. Every pandas dtype the canonical frames use (Arrow-backed
``string``, ``Int64``, ``Float64``, ``boolean``, ``datetime64[ns]``) comes back the same
(``tests/dask``: frames equal, dtypes included).

Two uses:

- the Dask engine on a cluster of this machine (``--workers N``): writing a file is a copy in
  the page cache and reading it is a mapping, where scattering pickles every column, sends it
  over loopback and unpickles it (100k: 3.3 s of the scan; the workers wait for it);
- the local engine's partitioned scan (feeds above ``RECONCILE_PARTITION_MEMBERS``): every
  partition's member-keyed frames are written once, the feed's own copies released, and each
  partition read back when it runs — only one partition's rows are in memory at a time.

Only canonical frames are written (keyed number hashes and last four digits, never a full
number: :func:`reconcile.engines.partition.check_no_full_numbers` runs first). The folder is
removed when the scan ends (:meth:`FrameFiles.close`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import pandas as pd

#: Where the folders are made (``RECONCILE_SPILL_DIR``; default the system temporary folder).
SPILL_DIR_ENV = "RECONCILE_SPILL_DIR"


@dataclass(frozen=True)
class Spilled:
    """A picklable handle on frames written by :class:`FrameFiles`; calling it reads them."""

    paths: dict[str, str | None]                       # frame name → file (None: the frame was None)
    passed: dict[str, object] = field(default_factory=dict)   # small values handed over as they are

    def __call__(self) -> dict[str, pd.DataFrame | None]:
        import pyarrow.feather as feather

        out: dict[str, pd.DataFrame | None] = {}
        for name, path in self.paths.items():
            out[name] = None if path is None else feather.read_feather(path, memory_map=True)
        out.update(self.passed)
        return out

    def join(self, other: "Spilled") -> "Spilled":
        """Both handles' frames in one (``other``'s win on equal names)."""
        return Spilled({**self.paths, **other.paths}, {**self.passed, **other.passed})

    def frame(self, name: str) -> pd.DataFrame | None:
        import pyarrow.feather as feather

        path = self.paths[name]
        return None if path is None else feather.read_feather(path, memory_map=True)


@dataclass(frozen=True)
class SpilledFrame:
    """A picklable handle on one frame written by :meth:`FrameFiles.put`; calling it reads it."""

    path: str

    def __call__(self) -> pd.DataFrame:
        import pyarrow.feather as feather

        return feather.read_feather(self.path, memory_map=True)


def value(obj):
    """``obj`` itself, or what a spill handle reads (tasks accept either)."""
    return obj() if isinstance(obj, (Spilled, SpilledFrame)) else obj


class FrameFiles:
    """One temporary folder of Arrow IPC files for one scan."""

    def __init__(self, root: str | os.PathLike | None = None):
        base = root or os.environ.get(SPILL_DIR_ENV) or None
        self.folder = Path(tempfile.mkdtemp(prefix="reconcile-spill-", dir=base))
        self.bytes_written = 0

    def write(self, frames: Mapping[str, object], label: str | None = None) -> Spilled:
        """Write every DataFrame of ``frames`` (None stays None; other values are passed as they
        are) and return the handle that reads them back."""
        import pyarrow.feather as feather

        label = label or uuid.uuid4().hex[:8]
        paths: dict[str, str | None] = {}
        passed: dict[str, object] = {}
        for name, frame in frames.items():
            if frame is None:
                paths[name] = None
            elif isinstance(frame, pd.DataFrame):
                path = self.folder / f"{_safe(label)}.{_safe(name)}.arrow"
                # A RangeIndex is kept as metadata only; the frames handed to rules have one.
                feather.write_feather(frame.reset_index(drop=True), path, compression="uncompressed")
                self.bytes_written += path.stat().st_size
                paths[name] = str(path)
            else:
                passed[name] = frame
        return Spilled(paths, passed)

    def put(self, frame: pd.DataFrame, label: str | None = None) -> SpilledFrame:
        """Write one frame; the handle reads it back."""
        return SpilledFrame(self.write({"frame": frame}, label).paths["frame"])

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(text))[:80]
