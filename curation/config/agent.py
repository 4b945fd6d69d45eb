"""The `kind: trajectories` input (agent trajectories, curation.agent): files, hygiene, chat rendering and loss mask."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curation.schema import StrictModel


class LossMaskConfig(StrictModel):
    """Which tokens are trained on (loss_mask = 1). Defaults: only what the model says.

    `assistant` covers the assistant turn's thinking, answer text, tool calls and the structural
    ids the model itself emits (<think>, </think>, <tool_call>, </tool_call>, the closing <_end>).
    `bot_header` is the <_bot> id that opens an assistant turn: the serving template writes it,
    the model never predicts it, so it is off by default.
    """

    assistant: bool = True
    bot_header: bool = False
    system: bool = False
    user: bool = False
    tool: bool = False


class ChatConfig(StrictModel):
    """How conversations become ids (the tokenize step's `chat` section)."""

    template: Literal["auto", "builtin"] = Field(
        "auto", description="auto: the tokenizer folder's chat_template when it has one, else the built-in "
                            "TeleChat3 layout (docs/agent.md)")
    loss_mask: LossMaskConfig = Field(default_factory=LossMaskConfig)


class HygieneConfig(StrictModel):
    """Checks on each trajectory; a failure is a drop with its reason in removed/trajectories/."""

    max_tokens: int = Field(131072, ge=64, description="a rendered trajectory longer than this is split at turns")
    split_long: bool = Field(True, description="false: drop over-long trajectories (too_long) instead of splitting")
    near_dup_threshold: float | None = Field(0.85, gt=0, le=1, description="MinHash Jaccard; null: no near-dedup")
    num_perm: int = Field(128, ge=16)
    n_grams: int = Field(5, ge=1)


class TrajectoriesInput(StrictModel):
    """inputs.<name> for agent trajectories: `{kind: trajectories, format: openai, paths: [...]}`.

    paths: files or folders (folders are searched for *.jsonl, *.parquet for openai and swe-tasks,
    *.traj for swe-agent). `swe-tasks`: records of SWE tasks (`repo`, `base_commit`, `statement`,
    `patch`, optional `id`) from which trajectories are synthesized with git (curation.agent.synth);
    `repo` is the path of a clone, absolute or relative to `repos_root`.
    """

    kind: Literal["trajectories"]
    format: Literal["openai", "swe-agent", "swe-tasks"]
    paths: list[str] = Field(min_length=1)
    repos_root: str | None = None
    hygiene: HygieneConfig = Field(default_factory=HygieneConfig)
    chat: ChatConfig = Field(default_factory=ChatConfig)
