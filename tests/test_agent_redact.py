"""Redaction reaches what a trajectory is trained on: secrets planted in a real SWE-agent trajectory
(a private key and an AWS key in a tool response, an email in the assistant's words and thinking, a
password in a tool call's arguments) are gone from `messages`, from the readable `text` and from
the token ids; a trajectory without any comes through byte for byte."""

from __future__ import annotations

import json
import secrets
import string
import subprocess

import pytest
from conftest import SHARED

from curation.agent.model import Conversation
from curation.agent.reader import TrajectoryReader
from curation.agent.redact import TrajectoryRedact
from curation.agent.tokens import TrajectoryTokenizer
from curation.config.redact import RedactConfig
from curation.redact.step import Redact
from curation.tokenize.tokenizer import load_tokenizer

pytestmark = pytest.mark.slow

TRAJ = SHARED / "agent" / "swe-agent" / "function_calling_simple.traj"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    if not TRAJ.exists():
        pytest.skip(f"{TRAJ} is absent (../shared/agent/swe-agent)")
    pem = subprocess.run(["openssl", "genrsa", "1024"], capture_output=True, text=True, check=True).stdout
    key = "AKIA" + "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    email, password = "jane.doe@fastmail.com", "Zq8rT2vLp9xW"
    data = json.loads(TRAJ.read_text())
    history = data["history"]
    call = next(m for m in history if m["role"] == "assistant" and "find_file" in str(m.get("tool_calls")))
    call["content"] += f" The maintainer is {email}."
    call["thought"] += f" The maintainer is {email}."
    function = call["tool_calls"][0]["function"]
    assert json.loads(function["arguments"]) == {"file_name": "missing_colon.py"}
    function["arguments"] = json.dumps({"file_name": "missing_colon.py",
                                        "db": f"postgres://admin:{password}@db.prod.internal:5432/app"})
    tool = history[history.index(call) + 1]
    assert tool["role"] == "tool"
    tool["content"] += f"\ncat .env\nAWS_ACCESS_KEY_ID={key}\n{pem}"
    folder = tmp_path_factory.mktemp("planted")
    (folder / "planted.traj").write_text(json.dumps(data))
    (folder / "clean.traj").write_text(TRAJ.read_text())
    body = [line for line in pem.splitlines() if "-----" not in line]
    return folder, [key, email, password, *body]


def run(folder, telechat3, tmp_path, redact: bool):
    reader = TrajectoryReader(inputs={"agent": {"kind": "trajectories", "format": "swe-agent", "paths": [str(folder)],
                                                "hygiene": {"near_dup_threshold": None}}},
                              tokenizer_path=str(telechat3), removed_folder=str(tmp_path / "removed"))
    docs = reader.run(None, rank=0, world_size=1)
    if redact:
        docs = TrajectoryRedact(config=RedactConfig()).run(Redact(config=RedactConfig()).run(docs))
    docs = TrajectoryTokenizer(tokenizer_path=str(telechat3)).run(docs)
    return {d.id.rsplit("/", 1)[-1]: d for d in docs}


@pytest.fixture(scope="module")
def runs(planted, telechat3, tmp_path_factory):
    """(documents without the redact steps, documents with them), by trajectory name."""
    folder, _ = planted
    tmp = tmp_path_factory.mktemp("runs")
    return run(folder, telechat3, tmp / "plain", redact=False), run(folder, telechat3, tmp / "redacted", redact=True)


def test_planted_secrets_leave_messages_text_and_tokens(planted, runs, telechat3):
    _, secret_strings = planted
    tok = load_tokenizer(str(telechat3))
    plain, doc = runs[0]["planted"], runs[1]["planted"]
    decoded = tok.decode(doc.metadata["token_ids"])
    for s in secret_strings:
        assert s in plain.metadata["messages"]  # planted, and unredacted without the steps
        assert s not in doc.metadata["messages"] and s not in doc.text and s not in decoded, s
    conv = Conversation.from_json(doc.id, doc.metadata["messages"])
    args = [c.parsed_arguments() for m in conv.messages for c in m.tool_calls]
    assert {"file_name": "missing_colon.py", "db": "postgres://admin:<PASSWORD>@db.prod.internal:5432/app"} in args
    assistant = next(m for m in conv.messages if m.role == "assistant")
    assert "<EMAIL>" in assistant.reasoning  # SWE-agent's thought (its content repeats it: one copy kept)
    tool = next(m for m in conv.messages if m.role == "tool" and "<KEY>" in m.content)
    assert "<PRIVATE_KEY>" in tool.content
    for placeholder in ("<KEY>", "<PRIVATE_KEY>", "<PASSWORD>", "<EMAIL>"):
        assert placeholder in decoded
    assert doc.metadata["redacted_key"] >= 1 and doc.metadata["redacted_private_key"] == 1
    # the rest of the conversation is untouched: same messages but for the planted texts
    before = Conversation.from_json(plain.id, plain.metadata["messages"])
    assert len(before.messages) == len(conv.messages)
    assert [m.role for m in before.messages] == [m.role for m in conv.messages]


def test_a_trajectory_without_secrets_is_unchanged(runs):
    plain, doc = runs[0]["clean"], runs[1]["clean"]
    assert doc.metadata["messages"] == plain.metadata["messages"]
    assert doc.metadata["token_ids"] == plain.metadata["token_ids"]
    assert doc.metadata["loss_mask"] == plain.metadata["loss_mask"]
