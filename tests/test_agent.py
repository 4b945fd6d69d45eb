"""Agent trajectories end to end on real inputs: SWE-agent's own .traj files, an OpenAI-format set
built from this repository's files, and trajectories synthesized from real git history; rendered
with the real TeleChat3 tokenizer, tokenized, packed into shards and read back by the loader."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import ROOT, SHARED
from datatrove.data import Document

from curation.agent.errors import TrajectoryError
from curation.agent.hygiene import check, split_at_turns
from curation.agent.model import Conversation, Message, ToolCall
from curation.agent.reader import TrajectoryReader
from curation.agent.render import ChatRenderer
from curation.agent.swe_agent import parse_traj_file
from curation.agent.synth import SEARCH_MAX_LINES, commit_task, synthesize
from curation.agent.tokens import TrajectoryTokenizer
from curation.config.agent import ChatConfig, LossMaskConfig
from curation.encode.step import TokenizeStep
from curation.loader import ShardLoader
from curation.mixture.step import PackStep
from curation.pack.bestfit import BestFitPacker
from curation.pack.packer import ConcatPacker
from curation.tokenize.fim import decode_continuation
from curation.tokenize.tokenizer import load_tokenizer

TRAJ_DIR = SHARED / "agent" / "swe-agent"
BUNDLES = SHARED / "git"
ID = {k: i for i, k in enumerate(["unk", "start", "end", "pad", "user", "bot", "system", "observation", "sep",
                                     "think_end", "think", "call", "call_end", "response", "response_end"])}


@pytest.fixture(scope="module")
def tok(telechat3):
    return load_tokenizer(str(telechat3))


@pytest.fixture(scope="module")
def renderer(tok):
    return ChatRenderer(tok)


def traj_files() -> list[Path]:
    files = sorted(TRAJ_DIR.glob("*.traj"))
    if not files:
        pytest.skip(f"no SWE-agent trajectories at {TRAJ_DIR} (../shared/agent/swe-agent)")
    return files


# ---- what the loss must be: an expectation built from the conversation, not from the renderer ----

def expected_assistant(conv: Conversation, tok) -> list[str]:
    """The assistant's part, in order: structural pieces by name, texts as they must decode."""
    out: list[str] = []
    for m in conv.messages:
        if m.role != "assistant":
            continue
        if m.reasoning:
            out += ["<think>", tok.roundtrip_text(m.reasoning), "</think>"]
        if m.content:
            out.append(tok.roundtrip_text(m.content))
        for c in m.tool_calls:
            out += ["<tool_call>", tok.roundtrip_text(c.text()), "</tool_call>"]
        out.append("<_end>")
    return out


def decode_items(tok, ids, mask=None) -> list[str]:
    """Decode ids (where mask is 1, if given): special ids as their piece, each run of text ids on its own."""
    items, run = [], []
    for k, i in enumerate(ids):
        if mask is not None and not mask[k]:
            if run:
                items.append(decode_continuation(tok, run))
                run = []
            continue
        if i in tok.special_ids:
            if run:
                items.append(decode_continuation(tok, run))
                run = []
            items.append(tok.decode([i]))
        else:
            run.append(int(i))
    if run:
        items.append(decode_continuation(tok, run))
    return items


def assert_structure_unmasked(ids, mask) -> None:
    """System, user and tool turns (from their opening id to the next <_bot>) and <_bot> are never trained."""
    inside = False
    for i, m in zip(ids, mask):
        if i in (ID["system"], ID["user"]):
            inside = True
        elif i == ID["bot"]:
            assert m == 0, "<_bot> is in the loss"
            inside = False
        if inside:
            assert m == 0, f"id {i} of a system/user/tool turn is in the loss"


def assert_rendering(conv: Conversation, ids, mask, tok) -> None:
    assert decode_items(tok, ids, mask) == expected_assistant(conv, tok)
    assert_structure_unmasked(ids, mask)
    calls = sum(len(m.tool_calls) for m in conv.messages)
    assert ids.count(ID["call"]) == ids.count(ID["call_end"]) == calls
    assert ids.count(ID["response"]) == ids.count(ID["response_end"]) == sum(m.role == "tool" for m in conv.messages)
    assert ids.count(ID["bot"]) == sum(m.role == "assistant" for m in conv.messages)


# ---- SWE-agent .traj -------------------------------------------------------------------------

def test_every_shared_swe_agent_trajectory_renders_with_the_assistant_alone_in_the_loss(tok, renderer):
    for path in traj_files():
        conv = parse_traj_file(path)
        check(conv)  # the shared demonstrations are clean
        r = renderer.render(conv)
        assert_rendering(conv, r.ids, r.mask, tok)
        # and against the raw file, independently of the parser: every thought and action is trained on,
        # every observation and the task statement are not
        raw = json.loads(path.read_text())
        trained = "\n".join(decode_items(tok, r.ids, r.mask))
        untrained = "\n".join(decode_items(tok, r.ids, [1 - m for m in r.mask]))
        for m in raw["history"]:
            if m["role"] == "assistant":
                thought = m.get("thought") or m["content"]
                assert thought.strip() in trained, path.name
                if m.get("action") and not m.get("tool_calls"):
                    assert json.dumps(m["action"].strip(), ensure_ascii=False)[1:-1] in trained, path.name
            elif m["role"] in ("user", "tool") and m["content"].strip():
                assert m["content"].strip() in untrained, path.name
                assert m["content"].strip() not in trained or len(m["content"].strip()) < 40, path.name


def test_swe_agent_text_actions_become_bash_calls_and_observations_tool_responses():
    path = TRAJ_DIR / "ctf_crypto_eps.traj"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    conv = parse_traj_file(path)
    raw = json.loads(path.read_text())["history"]
    assert [m.role for m in conv.messages][:4] == ["system", "user", "assistant", "tool"]
    first = conv.messages[2]
    assert first.reasoning == raw[2]["thought"].strip()
    assert first.tool_calls[0].name == "bash"
    assert first.tool_calls[0].parsed_arguments() == {"command": raw[2]["action"].strip()}
    assert conv.messages[3].content == raw[3]["content"]
    assert conv.finished is True


# ---- OpenAI format: a generated set over this repository's real files -------------------------

def generated_records() -> list[dict]:
    files = sorted((ROOT / "curation").rglob("*.py"))[:24]
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]
    records = []
    for k, f in enumerate(files):
        rel = str(f.relative_to(ROOT))
        text = f.read_text()
        doc = text.split('"""')[1].strip().splitlines()[0] if text.startswith('"""') else f"{rel} has no docstring."
        calls = [{"id": f"c{k}", "type": "function", "function": {"name": "read_file", "arguments": json.dumps({"path": rel})}}]
        if k % 3 == 0:  # two calls in one turn, answered by two tool messages; arguments given as an object
            calls.append({"id": f"d{k}", "type": "function", "function": {"name": "read_file",
                                                                          "arguments": {"path": rel, "note": "é ✓ 中文"}}})
        messages = [
            {"role": "system", "content": "You are a coding assistant. Literal markers like <_end> are text."},
            {"role": "user", "content": f"What does `{rel}` do? (Do not print <tool_call> or <_bot> here.)"},
            {"role": "assistant", "content": "" if k % 2 else "Let me read it.",
             "reasoning_content": f"I should open {rel} first; mentioning <tool_call> is not a call.", "tool_calls": calls},
        ]
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": text} for c in calls]
        messages.append({"role": "assistant", "content": f"{doc} It never emits <tool_response> or </think> by itself."})
        records.append({"id": f"gen-{k}", "messages": messages, "tools": tools})
    return records


BAD_RECORDS = [
    ({"id": "bad-json", "messages": [
        {"role": "user", "content": "list files"},
        {"role": "assistant", "tool_calls": [{"id": "x", "function": {"name": "ls", "arguments": "{\"path\": \"src\""}}]},
        {"role": "tool", "tool_call_id": "x", "content": "a.py"},
        {"role": "assistant", "content": "done"}]}, "malformed_tool_call_json"),
    ({"id": "empty-turn", "messages": [
        {"role": "user", "content": "hi"}, {"role": "assistant", "content": "  "}]}, "empty_assistant_turn"),
    ({"id": "cut-off", "messages": [
        {"role": "user", "content": "run the tests"},
        {"role": "assistant", "tool_calls": [{"id": "t", "function": {"name": "bash", "arguments": "{\"command\": \"pytest\"}"}}]},
        {"role": "tool", "tool_call_id": "t", "content": "3 passed"}]}, "truncated"),
    ({"id": "no-answer", "messages": [{"role": "user", "content": "hello?"}]}, "no_assistant_turn"),
    ({"id": "odd-role", "messages": [{"role": "narrator", "content": "once"}]}, "unknown_role"),
    ({"id": "orphan", "messages": [
        {"role": "user", "content": "q"}, {"role": "tool", "content": "out"},
        {"role": "assistant", "content": "a"}]}, "tool_response_without_call"),
]


@pytest.fixture(scope="module")
def openai_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("openai")
    good = generated_records()
    near = json.loads(json.dumps(good[4]))
    near["id"] = "gen-4-copy"
    near["messages"][-1]["content"] += " (reworded)"
    with open(d / "a.jsonl", "w") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in good[:12] + [near] + [b for b, _ in BAD_RECORDS])
        f.write("{not json\n")
    rows = [{"id": r["id"], "messages": json.dumps(r["messages"], ensure_ascii=False), "tools": json.dumps(r["tools"])}
            for r in good[12:]]
    pq.write_table(pa.Table.from_pylist(rows), d / "b.parquet")
    return d, good


def run_reader(src: str, cfg: dict, tokenizer_dir: Path, out: Path) -> tuple[list[Document], list[dict]]:
    step = TrajectoryReader(inputs={src: cfg}, tokenizer_path=str(tokenizer_dir), removed_folder=str(out / "removed"))
    docs = list(step.run(None, rank=0, world_size=1))
    removed = pq.read_table(out / "removed" / "trajectories" / "00000.parquet").to_pylist()
    return docs, removed


def tokenize(docs, tokenizer_dir: Path, tokens: Path, sources: list[str], chat: dict | None = None) -> None:
    """The tokenize run's last two steps: the chat step renders trajectories, the tokenize step writes tokens/."""
    chat_step = TrajectoryTokenizer(tokenizer_path=str(tokenizer_dir), chat=chat)
    step = TokenizeStep(tokenizer_path=str(tokenizer_dir), tokens_folder=tokens, sources=sources)
    list(step.run(chat_step.run(iter(docs), rank=0), rank=0))


def tokenize_and_pack(docs, tokenizer_dir: Path, out: Path, src: str, seq_len: int):
    tokenize(docs, tokenizer_dir, out / "tokens", [src])
    step = PackStep(tokens_folder=str(out / "tokens"), sources=[src], token_tasks=1, shards_folder=str(out / "shards"),
                    fragments_folder=str(out / "work" / "pack"), tokenizer_path=str(tokenizer_dir),
                    tokenizer_name="telechat3", seq_len=seq_len, rows_per_shard=8, tasks=1, index_extra={})
    step.prepare()  # driver, task, driver: as a pipeline run
    list(step.run(None, rank=0, world_size=1))
    step.finish(1)
    return out / "shards"


def docs_from_loader(shards: Path, eos: int) -> dict[str, tuple[list[int], list[int]]]:
    """(ids, mask) per document, reassembled from the loader's batches and the shards' doc ids."""
    doc_ids = [d for t in sorted(shards.glob("part-*.parquet")) for d in pq.read_table(t, columns=["doc_ids"]).column(0).to_pylist()]
    out: dict[str, tuple[list[int], list[int]]] = {}
    for batch in ShardLoader(shards, batch_size=3):
        for k, s in enumerate(batch["sample_index"]):
            cu = batch["cu_seqlens"][k]
            for j, d in enumerate(doc_ids[s]):
                if d:
                    ids, mask = out.setdefault(d, ([], []))
                    ids += batch["input_ids"][k][cu[j]:cu[j + 1]].tolist()
                    mask += batch["loss_mask"][k][cu[j]:cu[j + 1]].tolist()
    return out


def test_openai_set_through_reader_tokenize_pack_and_loader(openai_files, telechat3, tok, tmp_path):
    folder, good = openai_files
    docs, removed = run_reader("agent", {"kind": "trajectories", "format": "openai", "paths": [str(folder)]},
                               telechat3, tmp_path)
    reasons = {r["id"]: r["reason"] for r in removed}
    for bad, reason in BAD_RECORDS:
        assert reasons[f"agent/{bad['id']}"] == reason
    assert reasons["agent/gen-4-copy"] == "near_duplicate"
    dup = next(r for r in removed if r["id"] == "agent/gen-4-copy")
    assert dup["kept_id"] == "agent/gen-4" and dup["similarity"] >= 0.85
    assert any(r["reason"] == "unparsable_record" and "line" in r["detail"] for r in removed)
    assert sorted(d.id for d in docs) == sorted(f"agent/{r['id']}" for r in good)
    assert all(d.metadata["unit"] == "trajectory" and d.metadata["messages"] for d in docs)

    shards = tokenize_and_pack(docs, telechat3, tmp_path, "agent", seq_len=4096)
    packed = docs_from_loader(shards, tok.eos_id)
    assert sorted(packed) == sorted(d.id for d in docs)
    for d in docs:
        conv = Conversation.from_json(d.id, d.metadata["messages"])
        ids, mask = packed[d.id]
        assert ids[-1] == tok.eos_id and mask[-1] == 1  # the packer's EOS closes the last assistant turn
        assert_rendering(conv, ids, mask, tok)
        text_ids = [i for i in ids if i not in tok.special_ids]
        assert len(text_ids) == len(ids) - sum(i in tok.special_ids for i in ids)
        # literal "<tool_call>" / "<_end>" in messages stayed text: special ids only where the layout puts them
        assert ids.count(ID["end"]) == sum(m.role == "assistant" for m in conv.messages)


def test_shared_trajectories_through_the_pipeline_keep_their_masks_in_shards(telechat3, tok, tmp_path):
    traj_files()
    cfg = {"kind": "trajectories", "format": "swe-agent", "paths": [str(TRAJ_DIR)], "hygiene": {"near_dup_threshold": None}}
    docs, removed = run_reader("swe", cfg, telechat3, tmp_path)
    assert removed == [] and len(docs) == len(traj_files())
    shards = tokenize_and_pack(docs, telechat3, tmp_path, "swe", seq_len=8192)
    packed = docs_from_loader(shards, tok.eos_id)
    for d in docs:
        conv = Conversation.from_json(d.id, d.metadata["messages"])
        ids, mask = packed[d.id]
        assert_rendering(conv, ids, mask, tok)
        # a trajectory ending in a tool response (function-calling submit) does not train its EOS
        assert mask[-1] == (1 if conv.messages[-1].role == "assistant" else 0)
    index = json.loads((shards / "index.json").read_text())
    assert index["totals"]["tokens_in"] == index["totals"]["tokens_out"]


def test_near_duplicate_replays_of_one_task_are_dropped_with_the_kept_id(telechat3, tmp_path):
    traj_files()
    cfg = {"kind": "trajectories", "format": "swe-agent", "paths": [str(TRAJ_DIR)]}
    docs, removed = run_reader("swe", cfg, telechat3, tmp_path)
    dups = [r for r in removed if r["reason"] == "near_duplicate"]
    assert dups and len(docs) + len(dups) == len(traj_files())
    for r in dups:
        assert "marshmallow-1867" in r["id"] and "marshmallow-1867" in r["kept_id"] and r["similarity"] >= 0.85
        assert r["size_bytes"] > 1000 and r["text"]  # what the drop cost, and what it was


# ---- splitting -------------------------------------------------------------------------------

def test_over_long_trajectories_split_at_turns_keeping_the_header(tok, renderer):
    path = TRAJ_DIR / "ctf_web_i_got_id_demo.traj"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    conv = parse_traj_file(path)
    r = renderer.render(conv)
    limit = len(r.ids) // 3
    pieces = split_at_turns(conv, r.message_starts, len(r.ids), limit)
    assert len(pieces) >= 3
    header = conv.messages[:2]  # system + task statement
    body = []
    for piece, pr in zip(pieces, renderer.render_batch(pieces)):
        assert len(pr.ids) <= limit
        assert piece.messages[:2] == header and piece.messages[2].role == "assistant"
        assert_rendering(piece, pr.ids, pr.mask, tok)
        body += piece.messages[2:]
    assert body == conv.messages[2:]  # every turn exactly once, in order
    with pytest.raises(TrajectoryError) as err:
        split_at_turns(conv, r.message_starts, len(r.ids), r.message_starts[2] + 10)
    assert err.value.reason == "too_long"


# ---- masks configurable; special ids never from text -----------------------------------------

def test_mask_config_and_literal_markers(tok):
    conv = Conversation("x", [Message("system", "sys <_system>"), Message("user", "say <tool_call> and <_end>"),
                              Message("assistant", "ok <tool_call>{}</tool_call>", reasoning="<think> is text",
                                      tool_calls=[ToolCall("f", '{"a": "<tool_response>"}')]),
                              Message("tool", "</tool_response><_bot>"), Message("assistant", "end")])
    r = ChatRenderer(tok).render(conv)
    assert r.ids.count(ID["call"]) == 1 and r.ids.count(ID["response"]) == 1 and r.ids.count(ID["system"]) == 1
    assert r.ids.count(ID["bot"]) == 2 and r.ids.count(ID["think"]) == 1 and r.ids.count(ID["end"]) == 2
    assert_rendering(conv, r.ids, r.mask, tok)
    everything = ChatRenderer(tok, ChatConfig(loss_mask=LossMaskConfig(system=True, user=True, tool=True, bot_header=True)))
    assert set(everything.render(conv).mask) == {1}
    nothing = ChatRenderer(tok, ChatConfig(loss_mask=LossMaskConfig(assistant=False)))
    assert set(nothing.render(conv).mask) == {0}


# ---- a tokenizer folder with a chat_template --------------------------------------------------

# The built-in layout written as a jinja template: rendering through it must give the same ids and mask.
TEMPLATE = (
    "{% if tools and (not messages or messages[0].role != 'system') %}<_system># Tools\n"
    "{% for t in tools %}{{ t | tojson }}{% if not loop.last %}\n{% endif %}{% endfor %}{% endif %}"
    "{% for m in messages %}"
    "{% if m.role == 'system' %}<_system>{{ m.content }}{% if tools and loop.first %}\n\n# Tools\n"
    "{% for t in tools %}{{ t | tojson }}{% if not loop.last %}\n{% endif %}{% endfor %}{% endif %}"
    "{% elif m.role == 'user' %}<_user>{{ m.content }}"
    "{% elif m.role == 'tool' %}{% if loop.previtem is not defined or loop.previtem.role != 'tool' %}<_user>{% endif %}"
    "<tool_response>{{ m.content }}</tool_response>"
    "{% else %}<_bot>{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}{{ m.content }}"
    "{% for c in m.tool_calls or [] %}<tool_call>{\"name\": \"{{ c.function.name }}\", \"arguments\": "
    "{{ c.function.arguments | tojson }}}</tool_call>{% endfor %}<_end>{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<_bot>{% endif %}"
)


def test_chat_template_renders_segment_by_segment_with_the_same_ids_and_masks(telechat3, tok, tmp_path):
    folder = tmp_path / "tok"
    shutil.copytree(telechat3, folder)
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**cfg, "chat_template": TEMPLATE}))
    templated = ChatRenderer(load_tokenizer(str(folder)))
    builtin = ChatRenderer(tok)
    assert templated.layout == "chat_template" and builtin.layout == "builtin"
    convs = [parse_traj_file(p) for p in traj_files()[:6]]
    convs += [Conversation.from_json("m", Conversation("m", [
        Message("user", "<tool_call> is text"),
        Message("assistant", reasoning="think", tool_calls=[ToolCall("f", json.dumps({"q": "a \"quoted\" <_end>\n", "n": 3}))]),
        Message("tool", "r"), Message("assistant", "done")], tools=[{"name": "f"}]).to_json())]
    for conv, a, b in zip(convs, templated.render_batch(convs), builtin.render_batch(convs)):
        assert a.ids == b.ids, conv.id
        assert a.mask == b.mask, conv.id
        assert_rendering(conv, a.ids, a.mask, tok)


# ---- packers carry the mask ------------------------------------------------------------------

def test_packers_carry_masks_and_plain_documents_stay_all_ones():
    docs = [("a", list(range(100, 130)), None), ("b", list(range(200, 250)), [0] * 20 + [1] * 30),
            ("c", list(range(300, 340)), [1] * 10 + [0] * 30), ("d", list(range(400, 420)), None)]
    expect = {}
    for doc_id, ids, mask in docs:
        m = [1] * len(ids) if mask is None else mask
        expect[doc_id] = (ids + [2], m + [m[-1]])
    for packer in (ConcatPacker(seq_len=32, eos_id=2, pad_id=3), BestFitPacker(seq_len=32, eos_id=2, pad_id=3, window_rows=2)):
        rows = [row for d, ids, mask in docs for row in packer.add(d, "s", ids, mask=mask)] + list(packer.finish())
        got: dict[str, tuple[list[int], list[int]]] = {}
        for row in rows:
            cu = row.cu_seqlens
            for j, d in enumerate(row.doc_ids):
                ids, mask = got.setdefault(d, ([], []))
                ids += row.input_ids[cu[j]:cu[j + 1]].tolist()
                mask += row.loss_mask[cu[j]:cu[j + 1]].tolist()
        pad = got.pop("", ([], []))
        assert set(pad[1]) <= {0}
        assert got == expect, type(packer).__name__


# ---- synthesized from SWE tasks (real git history) -------------------------------------------

def small_commits(repo: Path, n: int) -> list[str]:
    out = []
    log = subprocess.run(["git", "-C", str(repo), "log", "--no-merges", "--format=%H", "--shortstat", "-300"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    for k, line in enumerate(log):
        if len(line) == 40 and k + 2 < len(log) and "file" in log[k + 2]:
            stat = log[k + 2].split()
            changed = sum(int(stat[i]) for i in range(3, len(stat), 2))
            if int(stat[0]) <= 3 and changed <= 80:
                out.append(line)
        if len(out) == n:
            break
    return out


def git_out(repo, *args) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def clones(tmp_path_factory):
    bundles = sorted(BUNDLES.glob("*.bundle"))
    if not bundles:
        pytest.skip(f"no git bundles at {BUNDLES}")
    root = tmp_path_factory.mktemp("clones")
    out = []
    for b in bundles:
        dest = root / b.stem
        subprocess.run(["git", "clone", "-q", str(b), str(dest)], check=True)
        out.append(dest)
    return out


def test_synthesized_trajectories_answer_from_the_repository_at_base(clones, tok, renderer, tmp_path):
    made = 0
    searched = 0
    for repo in clones:
        for commit in small_commits(repo, 4):
            task = commit_task(repo, commit)
            try:
                conv = synthesize(task)
            except TrajectoryError as err:
                assert err.reason == "binary_patch", err
                continue
            made += 1
            check(conv)
            assert conv.messages[0].role == "user" and conv.messages[0].content == task.statement
            calls = {c.id: c for m in conv.messages for c in m.tool_calls}
            base = task.base_commit
            for m in conv.messages:
                if m.role != "tool":
                    continue
                call = calls[m.tool_call_id]
                args = call.parsed_arguments()
                if call.name == "list_files":
                    want = git_out(repo, "ls-tree", "--name-only", base, *([args["path"] + "/"] if args["path"] else []))
                elif call.name == "open_file":
                    text = git_out(repo, "show", f"{base}:{args['path']}")
                    want = text if "start_line" not in args else "".join(
                        text.splitlines(keepends=True)[args["start_line"] - 1:args["end_line"]])
                elif call.name == "search":
                    searched += 1
                    hits = subprocess.run(["git", "-C", str(repo), "grep", "-n", "-F", "-e", args["pattern"], base, "--",
                                           *([args["path"]] if args["path"] else [])], capture_output=True, check=False).stdout.decode()
                    want = "\n".join(h[len(base) + 1:] for h in hits.splitlines()[:SEARCH_MAX_LINES])
                    assert args["pattern"] in want
                else:
                    assert call.name == "apply_patch" and args["patch"] == task.patch
                    assert "Applied patch" in m.content
                    continue
                assert m.content == want, (repo.name, commit, call.name, args)
            # the final edit applies to a checkout of base_commit
            work = tmp_path / f"{repo.name}-{commit[:8]}"
            subprocess.run(["git", "-C", str(repo), "worktree", "add", "-q", "--detach", str(work), base], check=True)
            patch = tmp_path / "p.diff"
            patch.write_text(task.patch)
            subprocess.run(["git", "-C", str(work), "apply", "--check", str(patch)], check=True)
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(work)], check=True)
            r = renderer.render(conv)
            assert_rendering(conv, r.ids, r.mask, tok)
    assert made >= 8 and searched >= 1


# ---- stage 3 mixture: agent_trajectories realizes its share, masks survive sampling and best-fit --

def stream_loader_docs(shards: Path, eos: int) -> list[tuple[str, list[int], list[int]]]:
    """(doc_id, ids, mask) per document occurrence, in packed order, from the loader's batches; a
    document ends at the segment whose last token is EOS (as read_shard_docs)."""
    doc_ids = [d for t in sorted(shards.glob("part-*.parquet")) for d in pq.read_table(t, columns=["doc_ids"]).column(0).to_pylist()]
    out, pending = [], None
    for batch in ShardLoader(shards, batch_size=2):
        for k, s in enumerate(batch["sample_index"]):
            cu = batch["cu_seqlens"][k]
            for j, d in enumerate(doc_ids[s]):
                if not d:
                    continue
                ids = batch["input_ids"][k][cu[j]:cu[j + 1]].tolist()
                mask = batch["loss_mask"][k][cu[j]:cu[j + 1]].tolist()
                if pending is None:
                    pending = (d, [], [])
                assert pending[0] == d
                pending[1].extend(ids)
                pending[2].extend(mask)
                if ids[-1] == eos:
                    out.append(pending)
                    pending = None
    assert pending is None
    return out


def test_stage3_mixture_realizes_agent_share_and_the_loader_carries_masks(telechat3, tok, tmp_path, clones):
    from realcode import real_code_docs

    from curation.mixture import available_tokens, load_mixture, plan_mixture
    from curation.mixture.mix import mix_shards

    traj_files()
    # agent_trajectories: the shared .traj files plus trajectories synthesized from the bundles' history
    docs, _ = run_reader("agent_trajectories", {"kind": "trajectories", "format": "swe-agent", "paths": [str(TRAJ_DIR)],
                                                "hygiene": {"near_dup_threshold": None}}, telechat3, tmp_path)
    for repo in clones:
        for commit in small_commits(repo, 6):
            try:
                conv = synthesize(commit_task(repo, commit))
            except TrajectoryError:
                continue
            docs.append(Document(text="", id=f"agent_trajectories/{repo.name}/{conv.id}", metadata={
                "source": "agent_trajectories", "unit": "trajectory", "messages": conv.to_json()}))
    tokens = tmp_path / "tokens"
    tokenize(docs, telechat3, tokens, ["agent_trajectories"])
    # repos: real code, written the way token files of earlier runs are (no loss_mask column at all)
    code = [(d, list(ids)) for d, _, ids in real_code_docs(str(telechat3), 1_500_000)]
    old_schema = pa.schema([f for f in pq.read_schema(tokens / "agent_trajectories" / "00000.parquet") if f.name != "loss_mask"])
    (tokens / "repos").mkdir()
    pq.write_table(pa.Table.from_pylist([{"id": d, "source": "repos", "n_tokens": len(ids), "input_ids": ids}
                                         for d, ids in code], schema=old_schema), tokens / "repos" / "00000.parquet")

    mixture = load_mixture(ROOT / "mixtures" / "stage3_128k.yaml")
    plan = plan_mixture(mixture, available_tokens(tokens))
    assert plan.ok, plan.errors
    index = mix_shards(plan, tokens, tmp_path / "shards", tokenizer=tok, seq_len=16384, rows_per_shard=16,
                       work_dir=tmp_path / "work")
    total = sum(index["realized"].values())
    share = index["realized"]["agent_trajectories"] / total
    assert abs(share - index["mixture"]["agent_trajectories"]) < 0.005, (share, index["mixture"])
    print(f"agent_trajectories: asked {index['mixture']['agent_trajectories']:.4f}, realized {share:.4f}")

    rendered = {d.id: Conversation.from_json(d.id, d.metadata["messages"]) for d in docs}
    seen = 0
    for doc_id, ids, mask in stream_loader_docs(tmp_path / "shards", tok.eos_id):
        if doc_id in rendered:
            assert_rendering(rendered[doc_id], ids, mask, tok)
            seen += 1
        else:
            assert set(mask) == {1}, doc_id  # plain code: all ones
    assert seen == index["sampling"]["sources"]["agent_trajectories"]["documents"]


def test_two_trajectory_inputs_in_one_reader_and_a_per_source_mask(openai_files, telechat3, tok, tmp_path):
    folder, _ = openai_files
    traj = traj_files()[:2]
    inputs = {"oa": {"kind": "trajectories", "format": "openai", "paths": [str(folder / "b.parquet")]},
              "swe": {"kind": "trajectories", "format": "swe-agent", "paths": [str(p) for p in traj]}}
    reader = TrajectoryReader(inputs=inputs, tokenizer_path=str(telechat3), removed_folder=str(tmp_path / "removed"))
    docs = [d for rank in range(2) for d in reader.run(None, rank=rank, world_size=2)]
    assert sorted(d.metadata["source"] for d in docs).count("swe") == 2
    assert {d.metadata["source"] for d in docs} == {"oa", "swe"}
    chat = {"swe": {"loss_mask": {"tool": True}}}
    tokenize(docs, telechat3, tmp_path / "tokens", ["oa", "swe"], chat=chat)
    for source in ("oa", "swe"):
        for row in pq.read_table(tmp_path / "tokens" / source / "00000.parquet").to_pylist():
            ids, mask = row["input_ids"], row["loss_mask"]
            depth, inside = 0, []
            for i, m in zip(ids, mask):
                depth -= i == ID["response_end"]
                if depth:
                    inside.append(m)
                depth += i == ID["response"]
            assert inside and set(inside) == ({1} if source == "swe" else {0})


def test_swe_task_records_become_synthesized_trajectories_through_the_reader(clones, telechat3, tmp_path):
    records = []
    for repo in clones[:2]:
        for commit in small_commits(repo, 3):
            t = commit_task(repo, commit)
            records.append({"id": f"{repo.name}-{commit[:8]}", "repo": repo.name, "base_commit": t.base_commit,
                            "statement": t.statement, "patch": t.patch})
    lines = records[0]["patch"].split("\n")
    k = next(i for i, line in enumerate(lines) if line.startswith("-") and not line.startswith("---"))
    lines[k] = "-this line is not in the file at base_commit"
    broken = dict(records[0], id="broken", patch="\n".join(lines))
    elsewhere = dict(records[0], id="elsewhere", repo="no-such-clone")
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in [*records, broken, elsewhere]))
    cfg = {"kind": "trajectories", "format": "swe-tasks", "paths": [str(path)], "repos_root": str(clones[0].parent),
           "hygiene": {"near_dup_threshold": None}}
    docs, removed = run_reader("synth", cfg, telechat3, tmp_path)
    reasons = {r["id"]: r["reason"] for r in removed}
    assert reasons["synth/elsewhere"] == "repo_not_found"
    assert reasons["synth/broken"] == "patch_does_not_apply"
    kept = {d.id for d in docs}
    for r in records:
        assert f"synth/{r['id']}" in kept or reasons[f"synth/{r['id']}"] == "binary_patch"
    assert len(kept) >= 4
