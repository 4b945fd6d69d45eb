"""Typed config of the agent-trajectory source: the input entry and the chat rendering / loss mask."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LossMaskConfig(BaseModel):
    """Which tokens are trained on (loss_mask = 1). Defaults: only what the model says.

    `assistant` covers the assistant turn's thinking, answer text, tool calls and the structural
    ids the model itself emits (<think>, </think>, <tool_call>, </tool_call>, the closing <_end>).
    `bot_header` is the <_bot> id that opens an assistant turn: the serving template writes it,
    the model never predicts it, so it is off by default.
    """

    model_config = ConfigDict(extra="forbid")
    assistant: bool = True
    bot_header: bool = False
    system: bool = False
    user: bool = False
    tool: bool = False


class ChatConfig(BaseModel):
    """How conversations become ids (the tokenize step's `chat` section)."""

    model_config = ConfigDict(extra="forbid")
    # auto: the tokenizer folder's chat_template when it has one, else the built-in TeleChat3 layout
    template: Literal["auto", "builtin"] = "auto"
    loss_mask: LossMaskConfig = Field(default_factory=LossMaskConfig)


class HygieneConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_tokens: int = Field(131072, ge=64)  # a rendered trajectory longer than this is split at turns
    split_long: bool = True  # False: drop over-long trajectories ("too_long") instead of splitting
    near_dup_threshold: float | None = Field(0.85, gt=0, le=1)  # Jaccard; None turns near-dedup off
    num_perm: int = Field(128, ge=16)
    n_grams: int = Field(5, ge=1)


class TrajectoriesInput(BaseModel):
    """inputs.<name> for agent trajectories: `{kind: trajectories, format: openai, paths: [...]}`.

    paths: files or folders (folders are searched for *.jsonl, *.parquet for openai and swe-tasks,
    *.traj for swe-agent). `swe-tasks`: records of SWE tasks (`repo`, `base_commit`, `statement`,
    `patch`, optional `id`) from which trajectories are synthesized with git (curation.agent.synth);
    `repo` is the path of a clone, absolute or relative to `repos_root`.
    """

    model_config = ConfigDict(extra="forbid")
    kind: Literal["trajectories"] = "trajectories"
    format: Literal["openai", "swe-agent", "swe-tasks"]
    paths: list[str] = Field(min_length=1)
    repos_root: str | None = None
    hygiene: HygieneConfig = Field(default_factory=HygieneConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
