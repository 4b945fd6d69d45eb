"""Agent trajectories: parsed from OpenAI-style messages or SWE-agent `.traj` files, or synthesized
from SWE tasks; checked, de-duplicated, split at turns; rendered in the TeleChat3 chat format with
a per-token loss mask (1 where the model speaks). See docs/agent.md for the layout."""
