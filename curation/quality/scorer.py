"""The scoring step: heuristic code quality, fastText classifiers and language id, as metadata.

A scorer never drops: it writes floats under versioned names and forwards every document.
Deciding is for `ScoreThresholdFilter` and the mixture, with thresholds from YAML.

    score_code_heuristic_v2    code documents (kind == "code"), see heuristics.py
    signals_code_heuristic_v2  the signals behind it (dict of floats)
    score_<name>_v<N>          each fastText model: P(its positive label); N from the model's
                               sidecar `<model>.json` (written by `curate train-quality`)
    nl_lang, score_nl_lang_v1  language of text documents (lid.176) and its confidence
    comment_lang, score_comment_lang_v1   the same for the comments of code documents, when asked
"""

from __future__ import annotations

import json
from pathlib import Path

from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from curation.langid import LanguageIdentifier
from curation.quality import heuristics
from curation.quality.fasttext_train import predict_proba, sidecar_path
from curation.steps import Described

BATCH = 256  # fastText predicts a list in one call; batching amortises the Python overhead
MIN_COMMENT_CHARS = 40  # fewer comment characters than this say nothing reliable about a language


def model_spec(path: str | Path) -> dict:
    """positive label and version of a trained model, from its sidecar JSON."""
    sidecar = sidecar_path(path)
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such fastText model")
    if not sidecar.exists():
        raise FileNotFoundError(f"{sidecar}: missing; it names the model's positive label "
                                f"(written by `curate train-quality`)")
    data = json.loads(sidecar.read_text())
    return {"positive": data["positive"], "version": int(data.get("version", 1))}


class QualityScorer(Described, PipelineStep):
    name = "quality"
    type = "📊 - SCORER"

    def __init__(self, models: dict[str, str] | None = None, *, heuristic: bool = True, kinds: dict[str, list[str]] | None = None,
                 langid: bool = False, langid_comments: bool = False, lid_model: str | None = None):
        """models: name -> model path; kinds: name -> document kinds the model applies to
        (default: every document); langid: identify text documents' language with lid.176."""
        super().__init__()
        self.models = dict(models or {})
        self.kinds = dict(kinds or {})
        self.heuristic = heuristic
        self.langid = langid
        self.langid_comments = langid_comments
        self.lid_model = lid_model
        self.specs = {name: model_spec(path) for name, path in self.models.items()}  # fail before any task starts
        self._loaded: dict = {}
        self._lid = None

    @classmethod
    def from_config(cls, ctx) -> QualityScorer | None:
        q = ctx.config.quality
        if q is None:
            return None
        return cls(ctx.pipeline.models, heuristic=q.heuristic,
                   kinds={n: m.kinds for n, m in q.models.items() if m.kinds},
                   langid=q.langid, langid_comments=q.langid_comments)

    def doc_columns(self) -> dict[str, str]:
        columns: dict[str, str] = {}
        if self.heuristic:
            columns.update({heuristics.SCORE_KEY: "float64", heuristics.SIGNALS_KEY: "map<string,float64>"})
        columns.update({self.score_key(name): "float64" for name in self.models})
        if self.langid:
            columns.update(nl_lang="string", score_nl_lang_v1="float64")
        if self.langid_comments:
            columns.update(comment_lang="string", score_comment_lang_v1="float64")
        return columns

    def score_key(self, name: str) -> str:
        return f"score_{name}_v{self.specs[name]['version']}"

    def _model(self, name: str):
        if name not in self._loaded:
            import fasttext

            self._loaded[name] = fasttext.load_model(str(self.models[name]))
        return self._loaded[name]

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        batch = []
        for doc in data:
            batch.append(doc)
            if len(batch) >= BATCH:
                yield from self.score_batch(batch)
                batch = []
        if batch:
            yield from self.score_batch(batch)

    def score_batch(self, docs: list) -> list:
        with self.track_time("batch"):
            if self.heuristic:
                for doc in docs:
                    if doc.metadata.get("kind") == "code":
                        result = heuristics.score_code(doc.text, doc.metadata.get("lang"), doc.metadata.get("path"))
                        doc.metadata[heuristics.SCORE_KEY] = result.score
                        doc.metadata[heuristics.SIGNALS_KEY] = result.signals
                        self.stat_update("heuristic")
            for name in self.models:
                kinds = self.kinds.get(name)
                chosen = [d for d in docs if kinds is None or d.metadata.get("kind") in kinds]
                if chosen:
                    key = self.score_key(name)
                    for doc, p in zip(chosen, predict_proba(self._model(name), [d.text for d in chosen],
                                                            self.specs[name]["positive"])):
                        doc.metadata[key] = p
                    self.stat_update(name, value=len(chosen))
            if self.langid or self.langid_comments:
                self._identify(docs)
        return docs

    def _identify(self, docs: list) -> None:
        if self._lid is None:
            self._lid = LanguageIdentifier(self.lid_model)
        if self.langid:
            # The text filter identified the documents its per-language rules judged: keep that.
            texts = [d for d in docs if d.metadata.get("kind") != "code" and d.metadata.get("nl_lang") is None]
            for doc, (lang, p) in zip(texts, self._lid.identify([d.text for d in texts])):
                doc.metadata["nl_lang"], doc.metadata["score_nl_lang_v1"] = lang, p
        if self.langid_comments:
            pairs = []
            for doc in docs:
                if doc.metadata.get("kind") == "code":
                    comments, _ = heuristics.comment_lines(doc.text, doc.metadata.get("lang"))
                    prose = " ".join(comments)
                    if len(prose) >= MIN_COMMENT_CHARS:
                        pairs.append((doc, prose))
            for (doc, _), (lang, p) in zip(pairs, self._lid.identify([t for _, t in pairs])):
                doc.metadata["comment_lang"], doc.metadata["score_comment_lang_v1"] = lang, p
