"""Typed schemas of what users edit: pipelines (`pipeline`, `inputs`, `assemble`, `quality`) and
mixtures (`mixture`). Pure pydantic: the config imports no step; `curation.load` resolves a config
(rule set, mixture, files) and `curation.recipe` builds the steps from it."""
