"""File-quality filters: rule sets from filters/*.yaml and the step that applies them."""
