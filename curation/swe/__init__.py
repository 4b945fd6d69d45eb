"""SWE-level task documents (stages 2 and 3): one real change of a repository per document.

    git.py       few git processes for a whole history (log, diff-tree --stdin, cat-file --batch)
    rules.py     which commits make a task; each skip has a reason
    patches.py   unified diffs: per file, code vs tests, the partial pre-image a diff shows
    context.py   the touched files and their imports at the base revision, within the budget
    history.py   git_history: commits -> Task | Skip
    dataset.py   swe_dataset: SWE-bench-style rows -> Task | Skip
    render.py    sections, text and exact token ids (markers inserted by id)
    config.py    GitHistoryInput, SweDatasetInput
    reader.py    SweReader, the datatrove step; skips -> removed/swe/
"""
