"""Benchmark decontamination: a benchmark index built once per run, code-aware n-gram matching,
and a step that drops or cuts what matches (see DESIGN.md, "decontaminate")."""
