"""A prefecture's month: several insurers' members in one members.csv, residents of several
municipalities — built from ``reconcile generate`` feeds of distinct seeds (the generator itself
makes one municipality's 国保).

Each seed's feed becomes one insurer (insurer number rewritten) in one municipality (resident
municipality codes rewritten); household numbers are made insurer-unique (世帯番号 are per insurer).
On top, cross-insurer cases the single generator cannot make:

- ``overlaps``: persons of insurer A also active as a member of insurer B (an old qualification
  left valid) — QUAL_OVERLAP across insurers, on both records;
- ``shared``: a member of insurer B holding the individual number of a member of insurer A who
  is a different person — NUMBER_SHARED across insurers.

Files are read as text (UTF-8 with BOM or CP932, as the generator wrote them) and written as
UTF-8 with BOM. The truth of the extra cases is returned, not written into truth.csv.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd

FILES = ("members", "residents", "oqs", "benefit_history", "card_status")
MEMBER_KEYED = ("members", "oqs", "benefit_history", "card_status")


def _read(path: Path) -> pd.DataFrame:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp932"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, encoding="utf-8-sig", quoting=csv.QUOTE_ALL, lineterminator="\r\n")


def insurer_number(i: int) -> str:
    return f"{139000 + 17 * i:06d}"


def municipality_code(i: int) -> str:
    return f"{131000 + 10 * i:06d}"


def build_prefecture_feed(out: str | Path, parts: list[str | Path], *, overlaps: int = 10, shared: int = 5,
                          seed: int = 7) -> dict:
    """Combine generated feeds ``parts`` (one per insurer) into one feed at ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    frames: dict[str, list[pd.DataFrame]] = {name: [] for name in FILES}
    injected: list[set] = []   # member ids with a generated problem (truth.csv): left alone here
    for i, source in enumerate(parts):
        source = Path(source)
        ins = insurer_number(i)
        truth_path = source / "truth.csv"
        injected.append(set(_read(truth_path)["member_id"]) if truth_path.exists() else set())
        for name in FILES:
            path = source / f"{name}.csv"
            if not path.exists():
                continue
            frame = _read(path)
            if name in MEMBER_KEYED:
                frame["insurer_number"] = ins
            if name == "members":
                frame["household_id"] = np.where(frame["household_id"] != "", f"{i:02d}" + frame["household_id"], "")
            if name == "residents":
                frame["municipality_code"] = municipality_code(i)
                frame["household_id"] = np.where(frame["household_id"] != "", f"R{i:02d}" + frame["household_id"], "")
            frames[name].append(frame)
    rng = np.random.default_rng(seed)
    members = frames["members"]
    truth = {"overlap": [], "shared": []}
    if len(members) >= 2:
        a, b = members[0], members[1]
        b_ins = insurer_number(1)
        # Persons of A, active, with a full number, also members of B from a recent date.
        candidates = a[(a["loss_date"] == "") & (a["individual_number"].str.len() >= 12)
                       & ~a["member_id"].isin(injected[0])]
        chosen = candidates.sample(n=min(overlaps, len(candidates)), random_state=int(rng.integers(1 << 30)))
        extra = chosen.copy()
        extra["insurer_number"] = b_ins
        extra["member_id"] = [f"90-{k:07d}-01" for k in range(len(extra))]
        extra["household_id"] = [f"99{k:08d}" for k in range(len(extra))]
        extra["acquisition_date"] = "2026-04-01"
        extra["card_issue_date"] = "2026-04-03"
        frames["members"][1] = pd.concat([b, extra], ignore_index=True)
        truth["overlap"] = [(r.insurer_number, r.member_id) for r in chosen.itertuples()] + \
            [(b_ins, m) for m in extra["member_id"]]
        # B members (not the ones just added) taking an A member's number: a different person.
        b_now = frames["members"][1]
        b_pool = b_now.index[(b_now["individual_number"].str.len() >= 12) & ~b_now["member_id"].str.startswith("90-")
                             & ~b_now["member_id"].isin(injected[1])]
        a_pool = a.index[(a["individual_number"].str.len() >= 12) & ~a.index.isin(chosen.index)
                         & ~a["member_id"].isin(injected[0])]
        k = min(shared, len(b_pool), len(a_pool))
        takers = rng.choice(b_pool, size=k, replace=False)
        givers = rng.choice(a_pool, size=k, replace=False)
        for t, g in zip(takers, givers):
            b_now.loc[t, "individual_number"] = a.loc[g, "individual_number"]
            b_now.loc[t, "individual_number_last4"] = a.loc[g, "individual_number_last4"]
            truth["shared"].append((b_ins, b_now.loc[t, "member_id"]))
    for name, parts_ in frames.items():
        if parts_:
            _write(pd.concat(parts_, ignore_index=True), out / f"{name}.csv")
    manifest = json.loads((Path(parts[0]) / "manifest.json").read_text(encoding="utf-8"))
    manifest["source"] = "prefecture feed from reconcile generate (tests/dask/multifeed.py)"
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return truth


AS_OF = "2026-12-01"


def generate_parts(root: str | Path, sizes: list[int], seeds: list[int], as_of: str = AS_OF) -> list[Path]:
    """``reconcile generate`` once per (size, seed) under ``root`` (kept when already there)."""
    from reconcile.synth.generate import generate

    root = Path(root)
    out = []
    for size, s in zip(sizes, seeds):
        path = root / f"part-{size}-s{s}"
        if not (path / "members.csv").exists():
            generate(path, members=size, seed=s, as_of=as_of)
        out.append(path)
    return out
