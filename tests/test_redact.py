"""Redaction: planted fake secrets in real files of the registry corpus are replaced and nothing else
changes; clean code keeps its text; placeholders stay plain text for the real TeleChat3 tokenizer;
the step counts per type and the limit drops with a reason into removed/redact/.

Every secret below is generated here from a seeded RNG in the shape of the real format; none is a
real credential.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import ROOT, load_benchmark
from datatrove.data import Document

from curation.config.redact import RedactConfig
from curation.layout import Layout
from curation.load import load_pipeline
from curation.quality.heuristics import is_test_file
from curation.recipe import recipe
from curation.redact.labels import Label
from curation.redact.redactor import Redactor
from curation.redact.secrets import CONFIG_LANGS
from curation.redact.step import COLUMNS, Redact, RedactionLimit
from curation.schema import ConfigError, validate
from curation.steps import DocSink, StepContext

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor.from_config(RedactConfig())


def redact(redactor, text, lang="python"):
    return redactor.redact(text, lang).text


# --- fake secrets in real formats ----------------------------------------------------------------

def _s(rng, alphabet, n):
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _password(rng) -> str:
    if rng.random() < 0.5:
        pw = _s(rng, ALNUM + "!#%^*-_=+", rng.randint(10, 18))
        return pw if any(c.isdigit() for c in pw) else pw + str(rng.randint(0, 9))
    return rng.choice(["Falcon", "Harbor", "Maple", "Orbit", "Quartz", "Velvet"]) + str(rng.randint(1970, 2030)) + rng.choice("!#%&*")


def _public_ip(rng) -> str:
    while True:
        ip = ipaddress.IPv4Address(rng.getrandbits(32))
        if ip.is_global and not ip.is_multicast:
            return str(ip)


def _pem_body(rng, lines=20) -> str:
    return "\n".join(_s(rng, B64, 64) for _ in range(lines)) + "\n" + _s(rng, B64, 40) + "=="


# kind -> (line with the secret, line as it must read after redaction); {S} is the secret value
def _plant(kind: str, rng: random.Random) -> tuple[str, str, str]:
    if kind == "aws_access_key_id":
        s = "AKIA" + _s(rng, string.ascii_uppercase + "234567", 16)
        return s, f'aws_access_key_id = "{s}"', 'aws_access_key_id = "<KEY>"'
    if kind == "aws_secret_access_key":
        s = _s(rng, B64, 40)
        return s, f'aws_secret_access_key = "{s}"', 'aws_secret_access_key = "<KEY>"'
    if kind == "github_token":
        s = rng.choice(["ghp_", "gho_", "ghs_"]) + _s(rng, ALNUM, 36)
        return s, f'GITHUB_TOKEN = "{s}"', 'GITHUB_TOKEN = "<KEY>"'
    if kind == "github_fine_grained":
        s = "github_pat_" + _s(rng, ALNUM, 22) + "_" + _s(rng, ALNUM, 59)
        return s, f"    headers['Authorization'] = 'Bearer {s}'", "    headers['Authorization'] = 'Bearer <KEY>'"
    if kind == "gitlab_token":
        s = "glpat-" + _s(rng, ALNUM + "_-", 20)
        return s, f"gitlab_client = Gitlab(url, private_token='{s}')", "gitlab_client = Gitlab(url, private_token='<KEY>')"
    if kind == "slack_token":
        s = f"xoxb-{rng.randint(10**10, 10**12)}-{rng.randint(10**10, 10**12)}-{_s(rng, ALNUM, 24)}"
        return s, f"slack = WebClient(token='{s}')", "slack = WebClient(token='<KEY>')"
    if kind == "slack_webhook":
        s = f"https://hooks.slack.com/services/T{_s(rng, string.ascii_uppercase + string.digits, 8)}/B{_s(rng, string.ascii_uppercase + string.digits, 8)}/{_s(rng, ALNUM, 24)}"
        return s, f'webhook_url = "{s}"', 'webhook_url = "<KEY>"'
    if kind == "stripe_key":
        s = "sk_live_" + _s(rng, ALNUM, rng.choice([24, 99]))
        return s, f'stripe.api_key = "{s}"', 'stripe.api_key = "<KEY>"'
    if kind == "jwt":
        header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64url(json.dumps({"sub": str(rng.randint(1, 10**9)), "exp": rng.randint(1_700_000_000, 1_900_000_000)}).encode())
        s = f"{header}.{payload}.{_b64url(rng.randbytes(32))}"
        return s, f'auth_header = "Bearer {s}"', 'auth_header = "Bearer <KEY>"'
    if kind == "private_key_block":
        body = _pem_body(rng)
        return (body, f"-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN RSA PRIVATE KEY-----\n<PRIVATE_KEY>\n-----END RSA PRIVATE KEY-----")
    if kind == "gcp_service_account":
        body = _pem_body(rng, 12).replace("\n", "\\n")
        key_id = _s(rng, "0123456789abcdef", 40)
        return (body, (f'{{"type": "service_account", "private_key_id": "{key_id}", "private_key": '
                      f'"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----\\n"}}'),
                ('{"type": "service_account", "private_key_id": "<KEY>", "private_key": '
                '"-----BEGIN PRIVATE KEY-----\\n<PRIVATE_KEY>\\n-----END PRIVATE KEY-----\\n"}'))
    if kind == "azure_connection_string":
        s = _s(rng, B64, 86) + "=="
        return (s, f'conn = "DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey={s};EndpointSuffix=core.windows.net"',
                'conn = "DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey=<KEY>;EndpointSuffix=core.windows.net"')
    if kind == "database_url":
        s = _password(rng).replace("%", "").replace("#", "")
        return (s, f'DATABASE_URL = "postgresql://billing:{s}@db-{rng.randint(1, 9)}.prod.internal.io:5432/billing"',
                'DATABASE_URL = "postgresql://billing:<PASSWORD>@db-' + "{n}" + '.prod.internal.io:5432/billing"')
    if kind == "config_password":
        s = _password(rng)
        return s, f'    "password": "{s}",', '    "password": "<PASSWORD>",'
    if kind == "api_key_assignment":
        s = _s(rng, string.ascii_lowercase + string.digits, 32)
        return s, f"MAILGUN_API_KEY = '{s}'", "MAILGUN_API_KEY = '<KEY>'"
    if kind == "sendgrid_key":
        s = "SG." + _s(rng, ALNUM + "_-", 22) + "." + _s(rng, ALNUM + "_-", 43)
        return s, f"sg = SendGridAPIClient('{s}')", "sg = SendGridAPIClient('<KEY>')"
    if kind == "env_password":  # planted only into configuration files (see CONFIG_KINDS)
        s = _password(rng).replace("#", "%")
        return s, f"SMTP_PASSWORD={s}", "SMTP_PASSWORD=<PASSWORD>"
    if kind == "ip_address":
        s = _public_ip(rng)
        return s, f'UPSTREAM_HOST = "{s}"', 'UPSTREAM_HOST = "<IP_ADDRESS>"'
    raise AssertionError(kind)


SECRET_KINDS = ["aws_access_key_id", "aws_secret_access_key", "github_token", "github_fine_grained", "gitlab_token",
                "slack_token", "slack_webhook", "stripe_key", "jwt", "private_key_block", "gcp_service_account",
                "azure_connection_string", "database_url", "config_password", "api_key_assignment", "sendgrid_key",
                "ip_address", "env_password"]
# Kinds whose syntax only configuration files have (an unquoted value): planted into those files.
CONFIG_KINDS = {"env_password"}
# A test file's IP addresses are fixtures and stay (curation.redact.pii): planted outside tests only.
NOT_IN_TESTS_KINDS = {"ip_address"}


def _email(rng) -> str:
    first = rng.choice(["maria", "jonas", "wei", "aisha", "pedro", "olga", "kenji", "fatima", "liam", "noor"])
    last = rng.choice(["schmidt", "zhang", "okafor", "silva", "ivanova", "tanaka", "haddad", "murphy", "khan"])
    local = rng.choice([f"{first}.{last}", f"{first}{rng.randint(1, 99)}", f"{first[0]}{last}", f"{first}_{last}+git"])
    domain = rng.choice(["gmail.com", "outlook.com", "proton.me", "acme-robotics.de", "uni-heidelberg.de",
                         "mail.ru", "qq.com", "fastmail.fm", "startup.io", "cs.stanford.edu"])
    return f"{local}@{domain}"


def _plant_in(text: str, line: str, rng: random.Random) -> tuple[str, int]:
    """`line` inserted at a random line boundary of a real file."""
    bounds = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]
    pos = rng.choice(bounds)
    return text[:pos] + line + "\n" + text[pos:], pos


@pytest.fixture(scope="module")
def corpus_sample(registry_corpus):
    bench = load_benchmark("bench_redact")
    return bench.corpus_files(registry_corpus, every=25)


@pytest.fixture(scope="module")
def corpus_config_files(registry_corpus):
    return load_benchmark("bench_redact").corpus_files(registry_corpus, langs=CONFIG_LANGS)


def test_planted_secrets_in_real_files_are_redacted_and_nothing_else_changes(redactor, corpus_sample,
                                                                                corpus_config_files):
    rng = random.Random(13)
    files = [d for d in corpus_sample if len(d[2]) < 200_000]
    config_files = [d for d in corpus_config_files if len(d[2]) < 200_000]
    non_test_files = [d for d in files if not is_test_file(d[0], d[2])]
    assert len(non_test_files) > len(files) / 2
    assert len(config_files) >= 5, "the sample has configuration files to plant into"
    redacted = total = 0
    misses, changed = [], []
    per_kind = {k: [0, 0] for k in SECRET_KINDS}
    for k in range(len(SECRET_KINDS) * 20):
        kind = SECRET_KINDS[k % len(SECRET_KINDS)]
        pool = config_files if kind in CONFIG_KINDS else non_test_files if kind in NOT_IN_TESTS_KINDS else files
        rel, lang, text = pool[(k * 7) % len(pool)]
        secret, line, expected = _plant(kind, rng)
        if kind == "database_url":
            expected = expected.replace("{n}", line.split("@db-")[1].split(".")[0])
        planted, _ = _plant_in(text, line, rng)
        out = redact(redactor, planted, lang)
        total += 1
        per_kind[kind][1] += 1
        if secret not in out and expected in out:
            redacted += 1
            per_kind[kind][0] += 1
            # the rest of the file: exactly what redacting the file without the plant gives
            if out.replace(expected + "\n", "", 1) != redact(redactor, text, lang):
                changed.append((kind, rel))
        else:
            misses.append((kind, rel, line[:100]))
    assert len(SECRET_KINDS) >= 10
    assert redacted / total >= 0.98, f"{redacted}/{total} redacted; per kind {per_kind}; missed {misses[:10]}"
    assert not changed, f"text outside the planted line changed: {changed[:10]}"


def test_planted_emails_in_real_files_are_redacted(redactor, corpus_sample):
    rng = random.Random(7)
    files = [d for d in corpus_sample if len(d[2]) < 200_000]
    hits, misses, changed = 0, [], []
    n = 300
    for k in range(n):
        rel, lang, text = files[(k * 11) % len(files)]
        email = _email(rng)
        line = rng.choice([f"# Author: Jane Roe <{email}>", f'    maintainer_email="{email}",',
                           f" * Contact {email} for access.", f"//   reported by {email}"])
        planted, _ = _plant_in(text, line, rng)
        out = redact(redactor, planted, lang)
        expected = line.replace(email, "<EMAIL>")
        if email not in out and expected in out:
            hits += 1
            if out.replace(expected + "\n", "", 1) != redact(redactor, text, lang):
                changed.append(rel)
        else:
            misses.append((rel, line))
    assert hits / n >= 0.99, f"{hits}/{n} emails redacted; missed {misses[:10]}"
    assert not changed, changed[:10]


def test_false_redactions_on_clean_corpus_sample(redactor, corpus_sample):
    """Any key, password or private key found in published packages is a false redaction (at best
    a test or documentation value): fewer than 1 per 10 MB. They are listed on failure."""
    bench = load_benchmark("bench_redact")
    megabytes = sum(len(t.encode()) for _, _, t in corpus_sample) / 1e6
    rows = bench.clean_corpus_findings(redactor, corpus_sample)
    summary = bench.summarize(rows, megabytes)
    secrets = [r for r in rows if r["label"] in ("key", "password", "private_key")]
    assert megabytes > 3
    assert summary["false_secret_redactions_per_10mb"] < 1.0, json.dumps(secrets, indent=1)


@pytest.mark.slow
def test_false_redactions_on_whole_clean_corpus(redactor, registry_corpus):
    bench = load_benchmark("bench_redact")
    docs = bench.corpus_files(registry_corpus)
    megabytes = sum(len(t.encode()) for _, _, t in docs) / 1e6
    rows = bench.clean_corpus_findings(redactor, docs)
    secrets = [r for r in rows if r["label"] in ("key", "password", "private_key")]
    assert len(secrets) / megabytes * 10 < 1.0, json.dumps(secrets, indent=1)


def test_prefilter_never_hides_a_finding(corpus_sample):
    """Hyperscan prefilter vs running every detector on every file: the same findings."""
    with_prefilter = Redactor.from_config(RedactConfig())
    if with_prefilter.prefilter.backend != "hyperscan":
        pytest.skip("hyperscan is not installed")
    assert with_prefilter.prefilter.always == [], "every trigger compiles in hyperscan"
    everything = Redactor(with_prefilter.detectors)
    everything.prefilter._db = None
    everything.prefilter.always = list(range(len(everything.detectors)))
    rng = random.Random(3)
    for k, (rel, lang, text) in enumerate(corpus_sample[:400]):
        if k % 3 == 0:  # make sure there is something to find
            text, _ = _plant_in(text, _plant(SECRET_KINDS[k % len(SECRET_KINDS)], rng)[1], rng)
        assert with_prefilter.find(text, lang) == everything.find(text, lang), rel


def test_prefilter_trigger_hyperscan_rejects_costs_only_its_detector():
    """One compile for every trigger; a pattern hyperscan cannot compile (a bounded repeat too large)
    sends only its own detector to `always`, and that detector still finds what it finds."""
    import re

    from curation.redact.base import Detector
    from curation.redact.prefilter import Prefilter

    detectors = Redactor.from_config(RedactConfig()).detectors
    if Prefilter(detectors).backend != "hyperscan":
        pytest.skip("hyperscan is not installed")
    odd = Detector(name="odd", label=detectors[0].label, triggers=(re.compile(r"x{1,100000}"),),
                   find=lambda text, lang: iter(()))
    mixed = Prefilter([detectors[0], odd, detectors[1]])
    assert mixed.backend == "hyperscan" and mixed.always == [1]
    assert 1 in mixed.triggered("nothing to see") and mixed.triggered("nothing to see") == [1]


# --- what must stay as it is ---------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    'password = "changeme"', 'password = os.environ["DB_PASSWORD"]', "password: ${DB_PASSWORD}",
    'api_key = "xxxxxxxxxxxxxxxxxxxxxxxx"', 'token = "{{ vault_token }}"', 'password = "%(password)s"',
    "PASSWORD = getenv('PASSWORD')", 'self.client.login(username="admin", password="secret")',
    'password = "test1234"', 'password_hash = "Xk9#mP2vL!qR"', 'token_type = "bearer"',
    'SECRET_KEY = "django-insecure-change-me-in-production"', 'url = "postgres://user:password@localhost/db"',
    'url = "https://alice:S3cr3tPa55w0rd@api.example.com/v1"', '__version__ = "1.2.3.4"', "version: 10.2.0.1",
    'server = "192.0.2.10"', 'dns = "198.51.100.7"', 'host = "203.0.113.254"', 'v6 = "2001:db8::1"',
    'bind = "127.0.0.1"', 'lan = "192.168.1.20"', 'net = "10.12.0.5"', 'resolver = "8.8.8.8"',
    "std::vector<int> v; a::b::c();", "x = arr[::2]", 'OID = "2.5.29.15"', "// see JLS 9.6.4.1",
    'contact = "jane@example.com"', "git@github.com:org/repo.git", "background: url(icon@2x.png)",
    'aws_key = "AKIAIOSFODNN7EXAMPLE"', "deadline = 12:30:45",
])
def test_not_redacted(redactor, line):
    assert redact(redactor, line) == line


def test_config_values_unquoted_only_in_config_languages(redactor):
    line = "DB_PASSWORD=Vq7#kLm2pX9z"
    assert redact(redactor, line, "dotenv") == "DB_PASSWORD=<PASSWORD>"
    assert redact(redactor, "db_password: Vq7#kLm2pX9z", "yaml") == "db_password: <PASSWORD>"
    assert redact(redactor, "password = Vq7#kLm2pX9z", "python") == "password = Vq7#kLm2pX9z"  # an expression


def test_offsets_hold_when_lowercasing_changes_length(redactor):
    # "İ".lower() is two code points: keyword search on a lowercased copy must not shift the spans
    text = 'title = "İİİ İstanbul"\ndb_password = "Vq7-kLm2pX9z"\nnext_line = 1\n'
    assert redact(redactor, text) == 'title = "İİİ İstanbul"\ndb_password = "<PASSWORD>"\nnext_line = 1\n'


def test_ipv6_and_public_ipv4_are_redacted(redactor):
    assert redact(redactor, 'peer = "2a03:2880:f10c:83:face:b00c:0:25de"') == 'peer = "<IP_ADDRESS>"'
    assert redact(redactor, "ssh deploy@52.14.201.77 -p 22") == "ssh deploy@<IP_ADDRESS> -p 22"


def test_ip_addresses_in_tests_and_documentation_examples_stay(redactor):
    validator_test = 'def test_ipv4():\n    assert is_valid_ipv4_address("114.71.82.94")\n'
    assert redactor.redact(validator_test, "python", "tests/test_validators.py").text == validator_test
    assert redactor.redact(validator_test, "python", "src/validators.py").text != validator_test  # not a test path
    spec = 'it("parses", () => {\n  expect(ipv4.parse("213.174.246.205")).toBe(true);\n});\n'
    assert redactor.redact(spec, "typescript", "src/ip.ts").text == spec  # a test by its content
    docs = "An IPv4 or IPv6 address, in string format (e.g. ``192.0.2.30`` or\n``2a02:42fe::4``).\n"
    assert redact(redactor, docs, "restructuredtext") == docs
    assert redact(redactor, '>>> g.city("72.14.207.99")\n', "restructuredtext") == '>>> g.city("72.14.207.99")\n'
    # the same address in deployment code is redacted
    assert redact(redactor, 'UPSTREAM = "72.14.207.99"\n') == 'UPSTREAM = "<IP_ADDRESS>"\n'
    # in a test file, secrets and emails are still redacted
    leaked = 'def test_x():\n    token = "ghp_' + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8" + '"\n'
    assert "<KEY>" in redactor.redact(leaked, "python", "tests/test_x.py").text


def test_a_decorator_after_a_line_end_is_not_an_email(redactor):
    text = "```python\n@click.group()\ndef cli():\n    pass\n```\n\n@pytest.mark.anyio\n@pytest.mark.network\n"
    assert redact(redactor, text, "markdown") == text


# --- placeholders and the tokenizer ---------------------------------------------------------------

def test_placeholders_are_plain_text_for_telechat3(telechat3):
    from curation.tokenize.tokenizer import TokenizerError, load_tokenizer

    tokenizer = load_tokenizer(str(telechat3))
    placeholders = [label.placeholder for label in Label]
    texts = placeholders + ['conn = "postgres://app:<PASSWORD>@db/x"  # <EMAIL> <IP_ADDRESS> <KEY> <PRIVATE_KEY>']
    for text, ids in zip(texts, tokenizer.encode_batch(texts)):
        assert not tokenizer.special_ids.intersection(ids), (text, ids)
        assert len(ids) > 1, f"{text} is a single id"
        assert tokenizer.decode(ids) == text
    for placeholder in placeholders:
        with pytest.raises(TokenizerError):
            tokenizer.token_id(placeholder)


# --- the steps -------------------------------------------------------------------------------------

def test_redact_step_counts_per_type_and_limit_drops_with_reason(tmp_path):
    rng = random.Random(5)
    key_line = _plant("aws_access_key_id", rng)[1]
    pw_line = _plant("config_password", rng)[1]
    docs = [
        Document(text="import os\n# Maintainer: Olga Ivanova <olga.ivanova@mail.ru>\n", id="r@1:a.py",
                 metadata={"lang": "python", "kind": "code", "path": "a.py"}),
        Document(text=f"{key_line}\n{pw_line}\n{_plant('github_token', rng)[1]}\n", id="r@1:b.py",
                 metadata={"lang": "python", "kind": "code", "path": "b.py", "patch": f"+{key_line}\n"}),
        Document(text="print('clean')\n", id="r@1:c.py", metadata={"lang": "python", "kind": "code", "path": "c.py"}),
    ]
    redact_step = Redact(config=RedactConfig(max_secrets=2))
    limit = RedactionLimit(removed_folder=str(tmp_path), max_secrets=2)
    kept = list(limit.run(redact_step.run(iter(docs)), rank=0))
    assert [d.id for d in kept] == ["r@1:a.py", "r@1:c.py"]
    assert kept[0].text == "import os\n# Maintainer: Olga Ivanova <<EMAIL>>\n"  # the brackets are text
    assert kept[0].metadata["redacted_email"] == 1 and kept[1].metadata["redacted_key"] == 0
    assert set(COLUMNS) <= set(kept[1].metadata)
    assert redact_step.stats["redacted_email"].total == 1
    assert redact_step.stats["redacted_key"].total == 3  # two in the text, one in the patch
    removed = pq.read_table(tmp_path / "redact" / "00000.parquet").to_pylist()
    assert [(r["id"], r["reason"], r["step"]) for r in removed] == [("r@1:b.py", "too_many_secrets", "redact")]
    assert removed[0]["detail"].startswith("4 secrets > max_secrets 2")
    assert "AKIA" not in removed[0]["text"] and "<KEY>" in removed[0]["text"]  # removed/ keeps no secret


def test_config_is_strict():
    with pytest.raises(ConfigError, match="unknown key"):
        validate(RedactConfig, {"max_secret": 3}, "pipelines/x.yaml")
    with pytest.raises(ConfigError, match="NoSuchDetector"):
        validate(RedactConfig, {"plugins": ["NoSuchDetector"]}, "pipelines/x.yaml")
    assert RedactConfig().max_secrets is None


# --- the recipe -----------------------------------------------------------------------------------

@pytest.mark.parametrize("config", ["stage1_8k", "stage2_32k", "stage3_128k", "demo"])
def test_every_stage_redacts_before_hashing_and_its_counts_reach_docs(config, tmp_path):
    pipeline = load_pipeline(ROOT / "pipelines" / f"{config}.yaml", check_inputs=False)
    runs = {run.name: run for run in recipe(StepContext(pipeline=pipeline, layout=Layout(tmp_path)))}
    ingest = [type(step).__name__ for step in runs["ingest"].steps]
    assert ingest.index("CodeFileFilter") < ingest.index("Redact") < ingest.index("ContentHasher"), ingest
    assert "RedactionLimit" not in ingest  # max_secrets is off by default
    sinks = [step for run in runs.values() for step in run.steps if isinstance(step, DocSink)]
    assert {Path(s.folder).name for s in sinks} == {"filtered", "docs"}
    for sink in sinks:
        assert COLUMNS.items() <= sink.extra_columns.items(), sink.folder

    off = load_pipeline(ROOT / "pipelines" / f"{config}.yaml", ["redact.enabled=false", "redact.max_secrets=3"],
                        check_inputs=False)
    steps = [type(s).__name__ for run in recipe(StepContext(pipeline=off, layout=Layout(tmp_path))) for s in run.steps]
    assert "Redact" not in steps and "RedactionLimit" not in steps
    limited = load_pipeline(ROOT / "pipelines" / f"{config}.yaml", ["redact.max_secrets=3"], check_inputs=False)
    ingest = recipe(StepContext(pipeline=limited, layout=Layout(tmp_path)))[0].steps
    names = [type(s).__name__ for s in ingest]
    assert names.index("Redact") + 1 == names.index("RedactionLimit")
    assert Path(tmp_path / "removed" / "redact").resolve() in [p.resolve() for s in ingest for p in s.outputs()]
