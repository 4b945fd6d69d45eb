"""Quality scoring: heuristic code scores, fastText classifiers (code-related text recall) and
language identification. Scorers write versioned scores into metadata and never drop; thresholds
live in YAML and are applied by `select.ScoreThresholdFilter`."""
