"""`curate export`: a real mixed run read back with the trainers' own readers (megatron-core's
IndexedDataset, GPTDataset and BlendedDataset; MindSpore's MindDataset), the shard contract
refused when broken, resumable outputs, and a tiny model trained on the shards."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, run_cli, write_config
from test_mixture_pipeline import prose_records

from curation.mixture.shards import read_shard_docs

SEQ_LEN = 256  # small rows: many of them, documents split across rows, cheap model steps on a CPU


def need(module: str, what: str, package: str):
    try:
        return __import__(module)
    except ImportError as err:
        pytest.skip(f"{what} needs `{module}` ({err}): `pip install {package}` to run this test")


@pytest.fixture(scope="module")
def megatron_core():
    return need("megatron.core", "the Megatron export", "torch==2.13.0 megatron-core==0.16.1")


@pytest.fixture(scope="module")
def mindspore():
    return need("mindspore", "the MindRecord export", "mindspore==2.10.0")


@pytest.fixture(scope="module")
def torch_and_transformers():
    need("transformers", "train_tiny", "transformers")
    return need("torch", "train_tiny", "torch==2.13.0")


def export_cli(out: Path, fmt: str, to: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-W", "ignore", "-m", "curation.cli", "export", str(out), "--format", fmt,
                           "--to", str(to)], capture_output=True, text=True, timeout=1800, cwd=ROOT)


@pytest.fixture(scope="module")
def run(tmp_path_factory, telechat3) -> Path:
    """Code 70% / prose 30% by tokens; the prose is short, so the plan repeats it ~2.4 times."""
    tmp = tmp_path_factory.mktemp("export_run")
    text = tmp / "text.jsonl"
    text.write_text("".join(json.dumps(r) + "\n" for r in prose_records()))
    mixture = write_config(tmp / "mixture.yaml", {
        "name": "m", "seed": 7, "total_tokens": None,
        "groups": {"code": {"weight": 0.7, "sources": {"code": {"weight": 1.0, "max_epochs": 1}}},
                   "text": {"weight": 0.3, "sources": {"general": {"weight": 1.0, "max_epochs": 8}}}},
    })
    cfg = write_config(tmp / "p.yaml", {
        "name": "export", "inputs": {"code": {"kind": "installed", "names": ["pyyaml", "rich"]},
                                     "general": {"kind": "jsonl", "paths": [str(text)]}},
        "filters": str(ROOT / "filters" / "code.yaml"), "mixture": str(mixture),
        "tokenizer": {"name_or_path": str(telechat3)},
        "pack": {"seq_len": SEQ_LEN, "method": "best_fit", "rows_per_shard": 256},
        "executor": {"tasks": 2, "workers": 2},
    })
    out = tmp / "out"
    proc = run_cli("run", str(cfg), "--out", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def shard_rows(run: Path) -> list[dict]:
    """Every shard row in index.json order, read without the exporter's code."""
    index = json.loads((run / "shards" / "index.json").read_text())
    cols = ["input_ids", "loss_mask", "cu_seqlens", "doc_ids"]
    return [r for s in index["shards"] for r in pq.read_table(run / "shards" / s["file"], columns=cols).to_pylist()]


@pytest.fixture(scope="module")
def rows(run) -> list[dict]:
    return shard_rows(run)


@pytest.fixture(scope="module")
def megatron(megatron_core, run, tmp_path_factory) -> Path:
    to = tmp_path_factory.mktemp("megatron")
    proc = export_cli(run, "megatron", to)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return to


class Tokenizer:
    """What megatron-core's GPTDataset asks of a tokenizer: ids, no text."""

    def __init__(self, index: dict) -> None:
        self.eod, self.pad, self.vocab_size = (index["tokenizer"][k] for k in ("eos_id", "pad_id", "vocab_size"))
        # megatron-core keys its index cache on these
        self.unique_identifiers = {"class": "Tokenizer", "eod": self.eod, "pad": self.pad, "vocab": self.vocab_size}


def gpt_config(run: Path, blend, cache: Path | None, **kw):
    from megatron.core.datasets.gpt_dataset import GPTDatasetConfig

    index = json.loads((run / "shards" / "index.json").read_text())
    base = dict(random_seed=1234, sequence_length=index["seq_len"], blend=blend, split="100,0,0", path_to_cache=str(cache) if cache else None,
                tokenizer=Tokenizer(index), reset_position_ids=True, reset_attention_mask=False,
                eod_mask_loss=False, create_attention_mask=False)
    return GPTDatasetConfig(**{**base, **kw})


def build(config, samples: int):
    from megatron.core.datasets.blended_megatron_dataset_builder import (
        BlendedMegatronDatasetBuilder,
    )
    from megatron.core.datasets.gpt_dataset import GPTDataset

    return BlendedMegatronDatasetBuilder(GPTDataset, [samples, 0, 0], lambda: True, config).build()[0]


def positions(cu: list[int]) -> list[int]:
    return [p for a, b in zip(cu, cu[1:]) for p in range(b - a)]


def token_docs(run: Path, source: str) -> dict[str, list[int]]:
    docs = {}
    for path in sorted((run / "tokens" / source).glob("*.parquet")):
        for r in pq.read_table(path, columns=["id", "input_ids"]).to_pylist():
            docs[r["id"]] = r["input_ids"]
    return docs


def check_source_datasets(run: Path, megatron: Path) -> dict:
    """Every source's IndexedDataset holds each of its tokenized documents once, with its EOD, and
    every document in the shards (repeats included) is one of them without the EOD."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    blend = json.loads((megatron / "blend.json").read_text())
    eos = blend["tokenizer"]["eos_id"]
    by_source = {}
    for s in blend["sources"]:
        ds = IndexedDataset(str(megatron / s["prefix"]))
        ids = pq.read_table(megatron / f"{s['prefix']}.docs.parquet").column("id").to_pylist()
        docs = token_docs(run, s["source"])
        assert len(ds) == len(ids) == len(docs) == s["available_documents"]
        assert ds.document_indices.tolist() == list(range(len(ds) + 1))  # one sequence per document
        assert ds.index.dtype == np.int32  # 131072 ids do not fit uint16
        for i, doc_id in enumerate(ids):
            assert ds[i].tolist() == docs[doc_id] + [eos], doc_id
        assert int(ds.sequence_lengths.sum()) == s["available_tokens"]
        by_source[s["source"]] = dict(zip(ids, range(len(ids)))), ds
    seen = 0
    for doc_id, source, ids in read_shard_docs(run / "shards"):
        position, ds = by_source[source]
        assert ds[position[doc_id]].tolist() == ids + [eos]
        seen += 1
    assert seen == json.loads((run / "shards" / "index.json").read_text())["totals"]["documents"]
    return blend


def check_packed_rows(run: Path, rows: list[dict], megatron: Path, tmp_path: Path) -> None:
    """The packed variant is the shard rows, row by row (tokens, mask, segment bounds); a GPTDataset
    over it yields every row once as a sample, with the row's own EOD-reset position ids."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    seq_len = json.loads((run / "shards" / "index.json").read_text())["seq_len"]
    prefix = megatron / "packed" / "rows"
    tokens, masks, bounds = (IndexedDataset(str(prefix) + s) for s in ("", "_loss_mask", "_cu_seqlens"))
    assert len(tokens) == len(masks) == len(bounds) == len(rows)
    for i, row in enumerate(rows):
        assert tokens[i].tolist() == row["input_ids"]
        assert masks[i].tolist() == row["loss_mask"]
        assert bounds[i].tolist() == row["cu_seqlens"]
    by_tokens: dict[bytes, list[int]] = {}
    for i, row in enumerate(rows):
        by_tokens.setdefault(np.asarray(row["input_ids"], dtype=np.int32).tobytes(), []).append(i)
    for extra in (False, True):  # Megatron-LM's default draws seq_len + 1 tokens: one row fewer per epoch
        gpt = build(gpt_config(run, ([str(prefix)], None), tmp_path / f"cache{extra}",
                               add_extra_token_to_sequence=extra), len(rows) - extra)
        assert len(gpt) == len(rows) - extra
        left = {key: list(found) for key, found in by_tokens.items()}
        for k in range(len(gpt)):
            text, _ = gpt._query_document_sample_shuffle_indices(k)
            assert len(text) == seq_len + extra
            matches = left.get(np.asarray(text[:seq_len], dtype=np.int32).tobytes())
            assert matches, f"sample {k} is not a shard row (or that row was drawn twice)"
            row = rows[matches.pop()]
            assert gpt[k]["position_ids"].tolist() == positions(row["cu_seqlens"])
        assert sum(len(v) for v in left.values()) == extra


def check_blend(run: Path, megatron: Path) -> dict:
    """Megatron's BlendedDataset, built from data_args.txt as Megatron-LM would, draws each source's
    share of the plan within 0.5 points, each sample once, and repeats a source as the plan says."""
    seq_len = json.loads((run / "shards" / "index.json").read_text())["seq_len"]
    plan = {s["source"]: s for s in json.loads((run / "plan.json").read_text())["sources"]}
    blend = json.loads((megatron / "blend.json").read_text())
    args = (megatron / "data_args.txt").read_text().split()
    start = args.index("--data-path") + 1
    end = next(i for i in range(start, len(args)) if args[i].startswith("--"))
    weights, prefixes = [float(w) for w in args[start:end:2]], args[start + 1:end:2]
    samples = int(args[args.index("--train-samples") + 1])
    assert samples == -(-sum(s["target_tokens"] for s in plan.values()) // seq_len)
    # Megatron-LM's defaults; no index cache: a BlendedDataset that writes one asks torch.distributed for its rank
    blended = build(gpt_config(run, (prefixes, weights), None), samples)
    assert len(blended) == blend["megatron_samples"] and samples <= len(blended) <= samples + len(prefixes)
    counts = np.bincount(blended.dataset_index, minlength=len(prefixes))
    for i, s in enumerate(blend["sources"]):
        share = counts[i] / len(blended)  # every sample is seq_len tokens of one source: token share = sample share
        assert abs(share - plan[s["source"]]["share"]) <= 0.005, (s["source"], share)
        assert share == pytest.approx(s["megatron_share"], abs=1e-12)
        drawn = blended.dataset_sample_index[blended.dataset_index == i]
        assert len(np.unique(drawn)) == len(drawn), "Megatron draws each sample of a source once"
        # The epochs come from the weight alone: a source is repeated as often as the plan says, to
        # 1% or two samples (Megatron counts whole samples: a sample moves a small source's epochs
        # by seq_len / available tokens, 1.5% for the demo's 555K-token `project`).
        available = plan[s["source"]]["available_tokens"]
        epochs = counts[i] * seq_len / available
        planned = plan[s["source"]]["epochs"]
        assert abs(epochs - planned) <= 0.01 * planned + 2 * seq_len / available, (s["source"], epochs, planned)
    return plan


def test_source_datasets_hold_every_document_once_with_its_eod(megatron_core, run, megatron):
    blend = check_source_datasets(run, megatron)
    assert [s["source"] for s in blend["sources"]] == ["code", "general"]


def test_packed_dataset_is_the_shard_rows_and_gpt_samples_are_rows(megatron_core, run, rows, megatron, tmp_path):
    assert len(rows) > 100
    assert any(0 in r["loss_mask"] for r in rows), "the run has padding: the mask sidecar is not all ones"
    assert sum(r["input_ids"][r["cu_seqlens"][1] - 1] != 2 for r in rows) > 0, "some rows start with a split document"
    check_packed_rows(run, rows, megatron, tmp_path)


def test_blend_weights_reproduce_the_plan_in_megatrons_blended_dataset(megatron_core, run, megatron, tmp_path):
    plan = check_blend(run, megatron)
    assert plan["general"]["epochs"] > 2  # the prose is repeated: the weights must carry the epochs


@pytest.mark.slow
def test_the_demos_export_is_its_shards_in_megatron(megatron_core, demo_run, tmp_path):
    """The same three checks on `curate demo`'s own output: 8,192-token rows, code and two text
    sources, as README command 1 leaves it."""
    to = tmp_path / "megatron"
    proc = export_cli(demo_run, "megatron", to)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    index = json.loads((demo_run / "shards" / "index.json").read_text())
    assert index["seq_len"] == 8192
    rows = shard_rows(demo_run)
    blend = check_source_datasets(demo_run, to)
    assert len(blend["sources"]) >= 3
    check_packed_rows(demo_run, rows, to, tmp_path)
    plan = check_blend(demo_run, to)
    print(f"\ndemo: {len(rows)} rows of {index['seq_len']}; plan shares "
          f"{ {s: round(p['share'], 4) for s, p in plan.items()} }")


def test_mindrecord_reads_back_exactly_with_mindspore(mindspore, run, rows, tmp_path):
    import mindspore.dataset as msds

    to = tmp_path / "mr"
    proc = export_cli(run, "mindrecord", to)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    meta = json.loads((to / "mindformers.json").read_text())
    assert meta["seq_length"] == SEQ_LEN and meta["rows"] == len(rows)
    data = msds.MindDataset(meta["dataset_files"], shuffle=False)
    records = sorted(data.create_dict_iterator(output_numpy=True, num_epochs=1), key=lambda r: int(r["sample"][0]))
    assert [int(r["sample"][0]) for r in records] == list(range(len(rows)))
    pad = json.loads((run / "shards" / "index.json").read_text())["tokenizer"]["pad_id"]
    for rec, row in zip(records, rows):
        assert rec["input_ids"].tolist() == row["input_ids"] + [pad]
        assert rec["loss_mask"].tolist() == row["loss_mask"]
        assert rec["position_ids"].tolist() == positions(row["cu_seqlens"])
        assert rec["actual_seq_len"].tolist() == row["cu_seqlens"][1:]
        want = [t if m else -100 for t, m in zip(row["input_ids"], row["loss_mask"])] + [-100]
        assert rec["labels"].tolist() == want


def copy_run(run: Path, dest: Path) -> Path:
    for part in ("shards", "tokens"):
        shutil.copytree(run / part, dest / part)
    shutil.copy(run / "plan.json", dest / "plan.json")
    return dest


def rewrite_shard(out: Path, change) -> None:
    """Apply `change(table) -> table` to the first shard and record the new hash, as a tool that
    rewrote the shard would: only the contract check can catch it."""
    import pyarrow as pa

    path = out / "shards" / "part-00000-00000.parquet"
    table = pq.read_table(path)
    rows = table.to_pylist()
    change(rows)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), path)
    index_path = out / "shards" / "index.json"
    index = json.loads(index_path.read_text())
    index["shards"][0]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    index_path.write_text(json.dumps(index))


def break_eos(rows):
    row = next(r for r in rows if len(r["cu_seqlens"]) > 3)
    row["input_ids"][row["cu_seqlens"][1] - 1] = 100


def short_mask(rows):
    rows[3]["loss_mask"] = rows[3]["loss_mask"][:-1]


CONTRACT_CASES = {
    "megatron": ("edited", "eos", "mask"),
    "mindrecord": ("eos",),  # the same reader: one case shows it is wired in
}


@pytest.mark.parametrize("fmt", list(CONTRACT_CASES))
def test_a_broken_contract_is_refused_with_file_and_row(fmt, tmp_path, request):
    request.getfixturevalue("megatron_core" if fmt == "megatron" else "mindspore")
    run = request.getfixturevalue("run")
    cases = {
        "edited": (lambda out: (out / "shards" / "part-00000-00000.parquet").open("r+b").write(b"XXXX"), "sha256"),
        "eos": (lambda out: rewrite_shard(out, break_eos), "does not end with EOS"),
        "mask": (lambda out: rewrite_shard(out, short_mask), "row 3: loss_mask has 255 tokens"),
    }
    for name in CONTRACT_CASES[fmt]:
        damage, message = cases[name]
        out = copy_run(run, tmp_path / name)
        damage(out)
        proc = export_cli(out, fmt, tmp_path / f"{name}-export")
        assert proc.returncode == 1 and message in proc.stderr and "part-00000-00000.parquet" in proc.stderr, proc.stderr
        assert not list((tmp_path / f"{name}-export").rglob("*.tmp")), "a refused export leaves no temp files"


def test_tokens_changed_after_the_plan_are_refused(megatron_core, run, tmp_path):
    out = copy_run(run, tmp_path / "out")
    # the first task file that holds a document (a task may have read none of the prose)
    path = next(p for p in sorted((out / "tokens" / "general").glob("*.parquet")) if pq.ParquetFile(p).metadata.num_rows)
    table = pq.read_table(path)
    pq.write_table(table.slice(1), path)
    assert pq.ParquetFile(path).metadata.num_rows == table.num_rows - 1
    proc = export_cli(out, "megatron", tmp_path / "export")
    assert proc.returncode == 1 and "the tokens changed after the plan" in proc.stderr, proc.stdout + proc.stderr


def test_rerun_skips_verified_outputs_and_rewrites_damaged_ones(megatron_core, run, megatron, tmp_path):
    to = tmp_path / "copy"
    shutil.copytree(megatron, to)
    before = {p.relative_to(to): hashlib.sha256(p.read_bytes()).hexdigest() for p in to.rglob("*.bin")}
    proc = export_cli(run, "megatron", to)
    assert proc.returncode == 0 and proc.stdout.count("done earlier, verified") == 3, proc.stdout
    damaged = to / "sources" / "code.bin"
    data = bytearray(damaged.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes: only the hash tells
    damaged.write_bytes(bytes(data))
    proc = export_cli(run, "megatron", to)
    assert proc.returncode == 0, proc.stderr
    assert "code: done earlier" not in proc.stdout and "general: done earlier" in proc.stdout
    after = {p.relative_to(to): hashlib.sha256(p.read_bytes()).hexdigest() for p in to.rglob("*.bin")}
    assert after == before
    assert not list(to.rglob("*.tmp"))


def test_a_source_with_loss_masks_gets_a_mask_sidecar(megatron_core, telechat3, tmp_path):
    """Token files that carry a per-token loss mask (conversations) keep it, EOD trained on."""
    import pyarrow as pa
    import yaml
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    from curation.export.megatron import write_source_dataset
    from curation.mixture.plan import Plan, SourcePlan
    from curation.tokenize import load_tokenizer

    tokenizer = load_tokenizer(str(telechat3))
    texts = [Path(yaml.__file__).with_name(n).read_text() for n in ("composer.py", "resolver.py", "nodes.py")]
    ids = [list(map(int, x)) for x in tokenizer.encode_batch(texts)]
    masks = [[int(i % 3 != 0) for i in range(len(x))] for x in ids]  # a third of the tokens not trained on
    (tmp_path / "tokens" / "traj").mkdir(parents=True)
    pq.write_table(pa.table({"id": ["a", "b", "c"], "n_tokens": [len(x) for x in ids],
                             "input_ids": pa.array(ids, pa.list_(pa.int32())),
                             "loss_mask": pa.array(masks, pa.list_(pa.int8()))}),
                   tmp_path / "tokens" / "traj" / "00000.parquet")
    total = sum(len(x) + 1 for x in ids)
    plan = Plan(mixture="t", seed=1, total_tokens=total, budget="test", sources=[SourcePlan(
        source="traj", group="g", required=True, max_epochs=1.0, available_documents=3, available_tokens=total,
        asked_share=1.0, target_tokens=total, share=1.0, epochs=1.0, capped=False)])
    prefix = tmp_path / "export" / "traj"
    write_source_dataset(tmp_path / "tokens", "traj", prefix, plan=plan, vocab_size=tokenizer.vocab_size,
                         eos_id=tokenizer.eos_id, log=lambda _: None)
    tokens, mask = IndexedDataset(str(prefix)), IndexedDataset(str(prefix) + "_loss_mask")
    for i in range(3):
        assert tokens[i].tolist() == ids[i] + [tokenizer.eos_id]
        assert mask[i].tolist() == masks[i] + [1]


def test_help_has_an_example():
    proc = subprocess.run([sys.executable, "-m", "curation.cli", "export", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 0 and "example:" in proc.stdout and "--format" in proc.stdout


# --- a tiny model trained on the shards -------------------------------------------------------


@pytest.fixture(scope="module")
def masked_shards(run, rows, telechat3, tmp_path_factory) -> Path:
    """The run's rows with a span inside the first document of every row masked, as a tool
    response in an agent trajectory is: real tokens the model reads but is not trained to say."""
    from curation.mixture.shards import ShardWriter
    from curation.pack.packer import PackedRow
    from curation.tokenize import load_tokenizer

    out = tmp_path_factory.mktemp("masked") / "shards"
    index = json.loads((run / "shards" / "index.json").read_text())
    writer = ShardWriter(out, seq_len=SEQ_LEN, rows_per_shard=64, tokenizer=load_tokenizer(str(telechat3)),
                         extra_index={"stage": "masked", "mixture": index["mixture"]})
    tables = [pq.read_table(run / "shards" / s["file"]) for s in index["shards"]]
    for r in (r for t in tables for r in t.to_pylist()):
        mask = np.array(r["loss_mask"], dtype=np.int8)
        a, b = r["cu_seqlens"][0], r["cu_seqlens"][1]
        if b - a >= 8:
            mask[a + (b - a) // 4 : a + (b - a) // 2] = 0
        writer.write(PackedRow(np.array(r["input_ids"], dtype=np.int32), r["cu_seqlens"], mask, r["doc_ids"],
                               r["sources"], r["fim"]))
    writer.finish()
    return out


def train_tiny(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "examples" / "train_tiny.py"), *args], capture_output=True,
                          text=True, timeout=1800, cwd=ROOT)


def read_log(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_train_tiny_learns_and_resumes_with_the_same_batches(torch_and_transformers, masked_shards, tmp_path):
    ckpt, full_log, resumed_log = tmp_path / "ckpt.pt", tmp_path / "full.jsonl", tmp_path / "resumed.jsonl"
    proc = train_tiny(str(masked_shards), "--steps", "30", "--save-at", "15", "--checkpoint", str(ckpt),
                      "--log", str(full_log))
    assert proc.returncode == 0, proc.stderr[-3000:]
    full = read_log(full_log)
    losses = [s["loss"] for s in full]
    assert len(losses) == 30 and "loss: first" in proc.stdout
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0, losses  # from ~ln(131072) = 11.8 down
    assert [s["samples"] for s in full[:2]] == [[0, 1], [2, 3]]
    proc = train_tiny(str(masked_shards), "--steps", "30", "--resume", str(ckpt), "--log", str(resumed_log))
    assert proc.returncode == 0 and "resumed at step 15, next sample 30" in proc.stdout, proc.stderr[-3000:]
    resumed = read_log(resumed_log)
    assert [s["step"] for s in resumed] == list(range(16, 31))
    for a, b in zip(resumed, full[15:]):
        assert a["samples"] == b["samples"] and a["tokens_sha1"] == b["tokens_sha1"]
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)


def test_masked_tokens_contribute_nothing_to_the_loss(torch_and_transformers, masked_shards):
    torch = torch_and_transformers
    from curation.loader import ShardLoader

    sys.path.insert(0, str(ROOT / "examples"))
    try:
        import train_tiny as tt
    finally:
        sys.path.pop(0)
    loader = ShardLoader(masked_shards, batch_size=2, return_tensors="pt")
    padded = loader.num_samples - 2  # the last rows of a run hold its padding
    batch = next(iter(ShardLoader(masked_shards, batch_size=2, return_tensors="pt", start_sample=padded)))
    tok = loader.index["tokenizer"]
    model = tt.build_model(tok["vocab_size"], SEQ_LEN, pad_id=tok["pad_id"], eos_id=tok["eos_id"])
    model.eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        base = tt.masked_loss(model, batch)
        mask = batch["loss_mask"].bool()
        padding = torch.zeros_like(mask)
        for k, cu in enumerate(batch["cu_seqlens"]):
            if (batch["input_ids"][k, cu[-2]:] == tok["pad_id"]).all():
                padding[k, cu[-2]:] = True
        assert padding.any() and (~mask & ~padding).any(), "the batch has padding and masked real tokens"
        noise = torch.randint(0, tok["vocab_size"], batch["input_ids"].shape, generator=g)
        # Targets at mask-0 positions (padding and the masked spans) replaced: the loss is the same.
        labels = torch.where(mask, batch["input_ids"], noise)
        assert torch.equal(tt.masked_loss(model, batch, labels), base)
        # Padding tokens replaced as inputs too: they sit in their own segment, seen by nothing trained.
        ids = torch.where(padding, noise, batch["input_ids"])
        assert tt.masked_loss(model, dict(batch, input_ids=ids)).item() == pytest.approx(base.item(), abs=1e-6)
        # The check can fail: one trained target changed changes the loss.
        k, t = map(int, torch.nonzero(mask[:, 1:])[5])
        labels = batch["input_ids"].clone()
        labels[k, t + 1] = (labels[k, t + 1] + 1) % tok["vocab_size"]
        assert tt.masked_loss(model, batch, labels).item() != pytest.approx(base.item(), abs=1e-6)
