"""照合モデルの学習 / train the shipped matcher model (``matchers/model.json``) from the generator.

Reproducible: fixed training seeds (1–3, both profiles — never the benchmark's seeds), fixed
``as_of``, scikit-learn's deterministic lbfgs solver. Steps:

1. build each synthetic world (``reconcile.synth.generate.build``) and its canonical frames;
2. :func:`matchers.resolve.resolve` with the current model gives every candidate pair;
   a pair is labelled *same person* when the resident is the member's true resident
   (``truth.true_resident_id`` for injected members, else the linked resident);
3. the pair model is fitted on all candidate pairs (hard negatives included: twins, family
   members, same-name strangers), then the link model on the members' (linked, best other)
   logits with label = the truth says MISLINK_SUSPECTED;
4. the JSON is written with what it was trained on; a short report of the fit is printed.

Usage: ``python benchmarks/train_matcher.py [--members 20000] [--seeds 1 2 3] [--out matchers/model.json]``
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from match_quality import AS_OF, world_frames  # noqa: E402


def training_rows(members: int, seed: int, profile: str, model: dict):
    from matchers.resolve import resolve
    from reconcile.synth.generate import build

    world = build(members, seed=seed, as_of=AS_OF, profile=profile)
    frames = world_frames(world)
    truth = world.truth_frame()
    res = resolve(frames["members"], frames["residents"], model=model)
    m = res.members
    key = list(zip(m["insurer_number"].astype(str), m["member_id"].astype(str)))
    true_res = {}
    for row in truth.itertuples():
        if row.true_resident_id:
            true_res[(row.insurer_number, row.member_id)] = row.true_resident_id
    mislinked = set(zip(truth.loc[truth["rule_id"] == "MISLINK_SUSPECTED", "insurer_number"],
                        truth.loc[truth["rule_id"] == "MISLINK_SUSPECTED", "member_id"]))
    rid = res.residents["resident_id"].to_numpy(dtype=object)
    v = res.verdicts
    linked_rid = pd.Series(v["linked_resident_id"].to_numpy(), index=v["member_pos"].to_numpy())
    truth_rid = np.array([true_res.get(k) for k in key], dtype=object)
    fallback = linked_rid.reindex(np.arange(len(m))).to_numpy(dtype=object)
    member_true = np.where(pd.notna(truth_rid), truth_rid, fallback)
    pairs = res.pairs
    same = (rid[pairs["ri"].to_numpy()] == member_true[pairs["li"].to_numpy()])
    wrong = np.array([key[p] in mislinked for p in v["member_pos"]], dtype=bool)
    return pairs, same, v, wrong, res


def main(argv: list[str] | None = None) -> int:
    from matchers.scorer import MODEL_FILE, fit_link_model, fit_pair_model, load_model, pair_logit, save_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--profiles", nargs="+", default=["default", "hard"])
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    args = parser.parse_args(argv)

    base = dict(load_model())
    collected = []
    for profile in args.profiles:
        for seed in args.seeds:
            t0 = time.perf_counter()
            collected.append(training_rows(args.members, seed, profile, base))
            print(f"[{profile} seed {seed}] {len(collected[-1][0]):,} pairs, "
                  f"{int(collected[-1][3].sum())} mis-links ({time.perf_counter() - t0:.1f}s)", flush=True)
    pairs = pd.concat([c[0] for c in collected], ignore_index=True)
    same = np.concatenate([c[1] for c in collected])
    pair_model = fit_pair_model(pairs, same)
    model = {**base, "pair": pair_model}

    # Link model on logits re-scored with the new pair model.
    logit_l, logit_o, has_o, wrong = [], [], [], []
    for c_pairs, _, v, c_wrong, _ in collected:
        logits = pair_logit(c_pairs, model)
        frame = pd.DataFrame({"li": c_pairs["li"].to_numpy(), "ri": c_pairs["ri"].to_numpy(),
                              "logit": logits, "linked": c_pairs["is_linked"].to_numpy()})
        linked = frame[frame["linked"]].sort_values("logit", ascending=False).drop_duplicates("li").set_index("li")["logit"]
        other = frame[~frame["linked"]].sort_values("logit", ascending=False).drop_duplicates("li").set_index("li")["logit"]
        has_link = v["linked_pos"].to_numpy() >= 0
        pos = v["member_pos"].to_numpy()[has_link]
        logit_l.append(linked.reindex(pos).to_numpy())
        o = other.reindex(pos).to_numpy()
        has_o.append(~np.isnan(o))
        logit_o.append(np.nan_to_num(o, nan=0.0))
        wrong.append(c_wrong[has_link])
    logit_l, logit_o = np.concatenate(logit_l), np.concatenate(logit_o)
    has_o, wrong = np.concatenate(has_o), np.concatenate(wrong)
    model["link"] = fit_link_model(logit_l, logit_o, has_o, wrong)
    model["version"] = int(base.get("version", 1))
    model["trained_on"] = {
        "source": "reconcile synthetic generator (benchmarks/train_matcher.py)",
        "members_per_feed": args.members, "seeds": args.seeds, "profiles": args.profiles, "as_of": AS_OF,
        "pairs": int(len(pairs)), "same": int(same.sum()), "different": int((~same).sum()),
        "members": int(len(wrong)), "mislinked": int(wrong.sum()),
    }
    save_model(model, args.out)

    from matchers.scorer import link_wrong_probability, sigmoid
    p_same = sigmoid(pair_logit(pairs, model))
    p_wrong = link_wrong_probability(logit_l, logit_o, has_o, model)
    from sklearn.metrics import brier_score_loss, log_loss
    print(f"pair model: log loss {log_loss(same, p_same):.4f}, Brier {brier_score_loss(same, p_same):.5f}")
    print(f"link model: log loss {log_loss(wrong, p_wrong):.4f}, Brier {brier_score_loss(wrong, p_wrong):.6f}")
    for threshold in (0.2, 0.3, 0.5, 0.7):
        flagged = p_wrong >= threshold
        tp = int((flagged & wrong).sum())
        print(f"  train threshold {threshold}: recall {tp / wrong.sum():.3f} precision "
              f"{tp / max(flagged.sum(), 1):.3f} queue {int(flagged.sum())}/{int(wrong.sum())}")
    top = sorted(model["pair"]["coef"].items(), key=lambda kv: -abs(kv[1]))[:12]
    print("largest pair weights:", ", ".join(f"{k} {v:+.2f}" for k, v in top))
    print(f"link model: {model['link']}")
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
