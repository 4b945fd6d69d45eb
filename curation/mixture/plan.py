"""The mixture plan: from shares in `mixtures/*.yaml` and the tokens available to tokens per source.

Tokens are counted as they end up in shards: a document's ids plus its EOS. So a plan's targets,
the sampled tokens and index.json's `realized` are the same unit and can be compared exactly.

Rules, in order:
- weights are normalized (groups to 1, sources within a group to 1); a sum other than 1 is a warning;
- a source with no tokens is dropped and its share goes to the other sources of its group (or, if
  the whole group is empty, to the other groups); a missing *required* source makes the plan fail;
- budget: `total_tokens`, or when null the largest budget that no required (or present `binding`)
  source exceeds with its `max_epochs`; the source that sets it is noted `sets budget` (a warning names
  the sources it leaves below one epoch);
- no source is ever repeated beyond its `max_epochs`: a target above that is capped, with a warning,
  and the shares of the plan are the shares of the capped targets (what the shards will realize).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from curation.config.mixture import MixtureConfig, SourceShare
from curation.inspect import format_table
from curation.io import atomic_path

if TYPE_CHECKING:  # pydantic stays out of `curate --help`
    from curation.config.mixture import MixtureConfig

WEIGHT_TOLERANCE = 1e-6


@dataclass
class SourcePlan:
    source: str
    group: str
    required: bool
    max_epochs: float
    available_documents: int
    available_tokens: int  # ids + one EOS per document
    asked_share: float  # the mixture's share after normalization (and redistribution of missing sources)
    target_tokens: int
    share: float  # target_tokens / plan total: the share the shards will realize
    epochs: float  # target / available; 0 for a missing source
    capped: bool  # the target was lowered to max_epochs * available


@dataclass
class Plan:
    mixture: str
    seed: int
    total_tokens: int
    budget: str  # how the total was chosen
    sources: list[SourcePlan]
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def source(self, name: str) -> SourcePlan:
        for s in self.sources:
            if s.source == name:
                return s
        raise KeyError(f"plan {self.mixture!r} has no source {name!r}")

    def shares(self) -> dict[str, float]:
        """Target share per source with tokens (what index.json records as `mixture`)."""
        return {s.source: s.share for s in self.sources if s.target_tokens > 0}

    def to_json(self) -> dict:
        return {
            "mixture": self.mixture, "seed": self.seed, "total_tokens": self.total_tokens, "budget": self.budget,
            "sources": [asdict(s) for s in self.sources], "warnings": list(self.warnings),
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, data: dict) -> Plan:
        return cls(mixture=data["mixture"], seed=data["seed"], total_tokens=data["total_tokens"],
                   budget=data["budget"], sources=[SourcePlan(**s) for s in data["sources"]],
                   warnings=list(data["warnings"]), errors=list(data["errors"]))

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")
        return path


def _normalized(weights: dict[str, float], what: str, warnings: list[str]) -> dict[str, float]:
    total = sum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        warnings.append(f"{what} weights sum to {total:.4f}, not 1: normalized")
    return {k: w / total for k, w in weights.items()}


def expand_languages(mixture: MixtureConfig) -> MixtureConfig:
    """A source split by language becomes one source per language, `{source}:{lang}` (and
    `{source}:*` for the rest), sharing its weight by the language weights. The sub-sources are
    optional one by one; `plan_mixture` checks that a required source has some tokens."""

    if not mixture.language_splits():
        return mixture
    data = mixture.model_dump()
    for group in data["groups"].values():
        expanded = {}
        for name, src in group["sources"].items():
            langs = src.pop("languages")
            if not langs:
                expanded[name] = src
                continue
            total = sum(langs.values())
            for lang, w in langs.items():
                expanded[f"{name}:{lang}"] = SourceShare(weight=src["weight"] * w / total, max_epochs=src["max_epochs"],
                                                         required=False, binding=src["binding"]).model_dump()
        group["sources"] = expanded
    return MixtureConfig.model_validate(data)


def plan_mixture(mixture: MixtureConfig, available: dict[str, dict[str, int]]) -> Plan:
    """Tokens per source. `available`: source -> {"tokens": ids + EOS, "documents": n} (with
    `{source}:{lang}` entries for sources the mixture splits by language: `available_tokens`)."""
    splits = mixture.language_splits()
    if splits:
        plan = plan_mixture(expand_languages(mixture), available)
        for gname, group in mixture.groups.items():
            for sname, src in group.sources.items():
                if src.languages and src.required and not any(
                        available.get(f"{sname}:{lang}", {}).get("tokens") for lang in src.languages):
                    plan.errors.append(f"{sname}: required source has no tokens in the languages it is split by")
        return plan
    warnings: list[str] = []
    errors: list[str] = []
    group_of: dict[str, str] = {}
    for gname, group in mixture.groups.items():
        for sname in group.sources:
            if sname in group_of:
                raise ValueError(f"mixture {mixture.name}: source {sname!r} is in groups {group_of[sname]!r} "
                                 f"and {gname!r}; a source belongs to one group")
            group_of[sname] = gname

    def tokens_of(name: str) -> int:
        return int(available.get(name, {}).get("tokens", 0))

    group_share = _normalized({g: grp.weight for g, grp in mixture.groups.items()}, "group", warnings)
    asked: dict[str, float] = {}
    present_groups = {}
    for gname, group in mixture.groups.items():
        inner = _normalized({s: src.weight for s, src in group.sources.items()}, f"group {gname!r} source",
                            warnings)
        for sname, src in group.sources.items():
            if tokens_of(sname) > 0:
                continue
            reason = "has no tokens" if sname in available else "is missing"
            if src.required:
                errors.append(f"{sname}: required source {reason}")
            else:
                warnings.append(f"{sname}: optional source {reason}: its share goes to the rest of group {gname!r}")
        present = {s: w for s, w in inner.items() if tokens_of(s) > 0}
        if present:
            norm = sum(present.values())
            present_groups[gname] = {s: w / norm for s, w in present.items()}
        else:
            warnings.append(f"group {gname!r} has no tokens: its share goes to the other groups")
    gnorm = sum(group_share[g] for g in present_groups) or 1.0
    for gname, inner in present_groups.items():
        for sname, w in inner.items():
            asked[sname] = group_share[gname] / gnorm * w
    unknown = sorted(set(available) - set(group_of))
    if unknown:
        warnings.append(f"tokens of {', '.join(unknown)} are not in the mixture: not used")

    def limit(sname: str) -> float:
        src = mixture.groups[group_of[sname]].sources[sname]
        return src.max_epochs * tokens_of(sname)

    if mixture.total_tokens is not None:
        budget, how = mixture.total_tokens, "total_tokens"
    else:
        required = [s for s in asked if mixture.groups[group_of[s]].sources[s].required
                    or mixture.groups[group_of[s]].sources[s].binding] or list(asked)
        if required:
            # The largest total at which every required source stays within its max_epochs.
            binding = min(required, key=lambda s: limit(s) / asked[s])
            budget = int(math.floor(limit(binding) / asked[binding]))
            how = f"largest within max_epochs of {binding!r}"
        else:
            budget, how = 0, "no source has tokens"

    sources = []
    for gname, group in mixture.groups.items():
        for sname, src in group.sources.items():
            avail, share = tokens_of(sname), asked.get(sname, 0.0)
            target = int(round(share * budget))
            capped = target > limit(sname)
            if capped:
                target = int(math.floor(limit(sname)))
                warnings.append(f"{sname}: {share * budget / avail:.2f} epochs asked, above max_epochs "
                                f"{src.max_epochs:g}: capped, so its share is below the mixture's")
            sources.append(SourcePlan(
                source=sname, group=gname, required=src.required, max_epochs=src.max_epochs,
                available_documents=int(available.get(sname, {}).get("documents", 0)), available_tokens=avail,
                asked_share=share, target_tokens=target, share=0.0, epochs=target / avail if avail else 0.0,
                capped=capped))
    if mixture.total_tokens is None and required:
        # Epoch-limited budget: the binding source caps the total, so the others use part of their tokens.
        under = [f"{s.source} {s.epochs:.2f}" for s in sources if s.source in required and s.source != binding
                 and s.available_tokens and s.epochs < 0.995]
        if under:
            epochs = mixture.groups[group_of[binding]].sources[binding].max_epochs
            warnings.append(f"{binding}: epoch-limited (max_epochs {epochs:g} of {tokens_of(binding):,} tokens) and it "
                            f"sets the budget, so other sources use only part of their tokens (epochs: "
                            f"{', '.join(under)}); more {binding} tokens would use more of them")
    total = sum(s.target_tokens for s in sources)
    for s in sources:
        s.share = s.target_tokens / total if total else 0.0
    return Plan(mixture=mixture.name, seed=mixture.seed, total_tokens=total, budget=how, sources=sources,
                warnings=warnings, errors=errors)


def available_tokens(tokens_dir: str | Path, splits: dict[str, list[str]] | None = None) -> dict[str, dict[str, int]]:
    """Documents and tokens (ids + EOS) per source of `OUT/tokens/<source>/*.parquet`, and per
    `{source}:{lang}` for the sources in `splits` (source -> languages, '*' for the rest).

    Reads only the n_tokens and lang columns (DuckDB), never the ids.
    """
    import duckdb

    tokens_dir = Path(tokens_dir)
    if not tokens_dir.is_dir():
        raise FileNotFoundError(f"{tokens_dir}: no tokens folder (expected OUT/tokens/<source>/*.parquet)")
    con = duckdb.connect()
    found = {}
    for folder in sorted(p for p in tokens_dir.iterdir() if p.is_dir()):
        if not any(folder.glob("*.parquet")):
            continue
        glob = str(folder / "*.parquet").replace("'", "''")
        docs, ids = con.execute(f"SELECT count(*), coalesce(sum(n_tokens), 0) FROM read_parquet('{glob}')").fetchall()[0]
        found[folder.name] = {"documents": int(docs), "tokens": int(ids) + int(docs)}
        if splits and folder.name in splits:
            for lang, n, t in con.execute(
                    f"SELECT {language_case('lang', splits[folder.name])} AS part, count(*), sum(n_tokens) "
                    f"FROM read_parquet('{glob}', union_by_name=true) GROUP BY part").fetchall():
                if lang is not None:
                    found[f"{folder.name}:{lang}"] = {"documents": int(n), "tokens": int(t) + int(n)}
    if not found:
        raise FileNotFoundError(f"{tokens_dir}: no <source>/*.parquet files inside")
    return found


def language_case(column: str, languages: list[str]) -> str:
    """SQL: the sub-source a row's language belongs to ('*' for unlisted ones if asked, else NULL)."""
    listed = [lang for lang in languages if lang != "*"]
    quoted = ", ".join("'" + lang.replace("'", "''") + "'" for lang in listed) or "NULL"
    rest = "'*'" if "*" in languages else "NULL"
    return f"CASE WHEN {column} IN ({quoted}) THEN {column} ELSE {rest} END"


def split_source(source: str) -> tuple[str, str | None]:
    """('code', 'python') for the sub-source 'code:python'; ('code', None) for a plain source."""
    base, sep, lang = source.partition(":")
    return base, (lang if sep else None)


def format_plan(plan: Plan) -> str:
    """The plan as a plain terminal table, then warnings and errors."""

    rows = []
    for s in plan.sources:
        rows.append((s.group, s.source, s.available_documents, s.available_tokens, s.asked_share, s.target_tokens,
                     s.share, s.epochs, s.max_epochs, "capped" if s.capped else "missing" if not s.available_tokens
                     else "sets budget" if plan.budget.endswith(f"max_epochs of {s.source!r}") else ""))
    headers = ["group", "source", "docs", "available", "asked", "target", "share", "epochs", "max_epochs", "note"]
    lines = [f"Mixture {plan.mixture} (seed {plan.seed}): {plan.total_tokens:,} tokens ({plan.budget})", "",
             format_table(headers, rows)]
    if plan.warnings:
        lines += ["", "Warnings"] + [f"  - {w}" for w in plan.warnings]
    if plan.errors:
        lines += ["", "Errors"] + [f"  - {e}" for e in plan.errors]
    return "\n".join(lines)
