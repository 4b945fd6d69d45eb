"""Planted bad prose for the text-filter tests: boilerplate pages, spam and machine-made lists.

Every document is built from real material of this machine (installed distributions' names,
versions, summaries and file lists, the standard library's module names), shaped the way such
pages look on the web, with a seeded RNG so every run plants the same documents. Each category
names the reasons that count as "removed for the right reason": Gopher's stop-word rule exists
for keyword spam, so it counts for spam; word-length rules count for lists of numbers or paths.
"""

from __future__ import annotations

import random
from importlib import metadata

BOILERPLATE_REASONS = {"cookie_policy_line_fraction", "javascript_notice_line_fraction", "web_chrome_line_fraction",
                       "lorem_ipsum"}
SPAM_REASONS = {"max_dup_line_fraction", "max_dup_para_fraction", "max_dup_line_char_fraction",
                "max_dup_para_char_fraction", "max_top_2gram_char_fraction", "max_top_3gram_char_fraction",
                "max_top_4gram_char_fraction", "min_stop_words"} | {f"max_dup_{n}gram_char_fraction" for n in range(5, 11)}
LIST_REASONS = {"max_newlines_per_word", "max_short_line_fraction", "min_terminal_punct_line_fraction",
                "max_bullet_line_fraction", "min_alpha_word_fraction", "min_stop_words", "max_mean_word_length",
                "max_symbol_word_ratio", "min_mean_word_length"}

COOKIE_LINES = [
    "This website uses cookies to improve your experience while you navigate through the website.",
    "We use cookies to personalise content and ads, to provide social media features and to analyse our traffic.",
    "By continuing to browse the site, you are agreeing to our use of cookies.",
    "Accept all cookies", "Reject all cookies", "Manage cookies", "Cookie settings", "Cookie Policy",
    "Privacy Policy", "Terms of Use", "Terms of Service",
    "Some of these cookies are essential, while others help us to improve your experience by providing insights into how the site is being used.",
    "You can change your cookie preferences at any time by visiting our cookie settings page.",
    "Read our privacy notice to learn how we process your personal data.",
]
JS_LINES = [
    "Please enable JavaScript to view the comments powered by Disqus.",
    "You need to enable JavaScript to run this app.",
    "This site requires JavaScript to work properly. Please turn on JavaScript in your browser settings.",
    "JavaScript is disabled in your browser.", "It looks like JavaScript is turned off.",
    "For full functionality of this site it is necessary to enable JavaScript.",
]
CHROME_LINES = ["Home", "Menu", "Search", "Log in", "Sign up", "Subscribe", "Share", "Tweet", "Contact us", "About us",
                "Skip to main content", "Read more", "Next", "Previous", "Back to top", "All rights reserved.",
                "Follow us on social media", "© 2024 Example Media Group"]
LOREM = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et "
         "dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex "
         "ea commodo consequat.")


def _distributions() -> list[tuple[str, str, str]]:
    """(name, version, summary) of the installed distributions, sorted."""
    out = {}
    for d in metadata.distributions():
        name = d.metadata.get("Name")
        if name and name not in out:
            out[name] = (name, d.version, (d.metadata.get("Summary") or "").strip())
    return [out[k] for k in sorted(out)]


def _files() -> list[str]:
    files = []
    for d in sorted(metadata.distributions(), key=lambda d: d.metadata.get("Name") or ""):
        files += [str(f) for f in (d.files or [])[:200]]
    return files


def boilerplate(n: int, rng: random.Random) -> list[str]:
    dists = _distributions()
    docs = []
    for i in range(n):
        name, _, summary = rng.choice(dists)
        kind = i % 3
        if kind == 0:  # a cookie-consent page around one real sentence
            body = rng.sample(COOKIE_LINES, 9) + rng.sample(CHROME_LINES, 4) + [f"{name}: {summary}"]
        elif kind == 1:  # an app shell that shows nothing without JavaScript
            body = rng.sample(JS_LINES, 3) + rng.sample(CHROME_LINES, 6) + rng.sample(COOKIE_LINES, 3) + [
                f"Welcome to the {name} project page. {summary}"]
        else:  # a template never filled in
            body = [f"{name} {rng.choice(['Blog', 'Docs', 'News'])}", f"{summary}", LOREM,
                    rng.choice(["Posted by admin", "Category: Uncategorized"]), LOREM[:120] + "."]
        rng.shuffle(body)
        docs.append("\n".join(body))
    return docs


def spam(n: int, rng: random.Random) -> list[str]:
    dists = _distributions()
    docs = []
    for i in range(n):
        name, version, summary = rng.choice(dists)
        if i % 3 == 0:  # keyword stuffing for a search engine
            words = [f"download {name} free", f"{name} {version} crack", f"best {name} alternative", f"{name} free download",
                     f"cheap {name} license", f"{name} full version free", f"{name} keygen"]
            docs.append(" ".join(rng.choice(words) for _ in range(60)) + ".")
        elif i % 3 == 1:  # one real paragraph pasted again and again (scraper farms)
            para = f"{name} {version}: {summary}. Get {name} now and see why developers love {name}."
            docs.append("\n\n".join([para] * rng.randint(5, 9)))
        else:  # the same call to action on every line, with the product name swapped
            others = rng.sample(dists, 8)
            lines = [f"Click here to get {o[0]} today and save 50% on your order! Limited offer, buy now!"
                     for o in others for _ in range(2)]
            rng.shuffle(lines)
            docs.append("\n".join(lines))
    return docs


def machine_lists(n: int, rng: random.Random) -> list[str]:
    dists, files = _distributions(), _files()
    docs = []
    for i in range(n):
        kind = i % 4
        if kind == 0:  # `pip freeze`
            docs.append("\n".join(f"{a}=={v}" for a, v, _ in rng.sample(dists, min(len(dists), 70))))
        elif kind == 1:  # an index of files
            docs.append("\n".join(rng.sample(files, 60)))
        elif kind == 2:  # a tag cloud / keyword list
            docs.append("Tags: " + ", ".join(a for a, _, _ in rng.sample(dists, 70)))
        else:  # a generated table of numbers
            docs.append("\n".join(" | ".join(str(rng.randint(0, 10**rng.randint(1, 6))) for _ in range(6))
                                  for _ in range(30)))
    return docs
