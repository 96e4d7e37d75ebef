"""DLP scan throughput: 10, 100 and 1,000 rules over plain text and over
messages with DOCX and PDF attachments, with RE2 (re2.Set screen), with
Hyperscan screening, and with Python's `re` (each rule searched in turn) as
the baseline. Prints MB/s.

    .venv/bin/python bench/dlp_scan.py [--text-mb 32]
"""

import argparse
import io
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dlp.engine import CompiledRules
from dlp.findings import TextUnit
from dlp.rules import Rule
from dlp.scan import scan_message

random.seed(7)
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCABULARY = ["".join(random.choice(LETTERS) for _ in range(random.randint(4, 10))) for _ in range(30000)]
COMMON = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "that",
    "with",
    "on",
    "as",
    "it",
    "by",
    "this",
    "be",
    "are",
    "from",
    "at",
    "or",
    "an",
    "was",
    "have",
    "not",
    "but",
    "which",
]
FILLERS = [
    "Order 12345678 shipped on 2024-05-01 12:00:00.",
    "Call +31 20 123 4567 or +1 (555) 123-4567.",
    "ISBN 978-3-16-148410-0, invoice 2024-0042.",
    "Amount EUR 1,234.56 due 31.12.2024.",
]


def make_rules(count):
    rules = [
        Rule("cards", "detector", detector="credit_card"),
        Rule("iban", "detector", detector="iban"),
        Rule("ssn", "detector", detector="us_ssn", hotwords=("ssn", "social security")),
        Rule("bsn", "detector", detector="nl_bsn", hotwords=("bsn",)),
    ]
    words = iter(VOCABULARY[10000:])
    for i in range(count - len(rules)):
        if i % 4 == 3:
            rules.append(Rule(f"regex {i}", "regex", pattern=rf"\bPRJ{i}-\d{{4}}-[A-Z]{{3}}\b"))
        else:
            rules.append(Rule(f"keywords {i}", "keywords", keywords=tuple(next(words) for _ in range(5))))
    return rules


def make_text(size):
    out, length = [], 0
    while length < size:
        roll = random.random()
        if roll < 0.005:
            piece = random.choice(FILLERS)
        elif roll < 0.7:
            piece = random.choice(COMMON)
        else:
            piece = random.choice(VOCABULARY[:10000])
        out.append(piece)
        length += len(piece) + 1
    out.insert(len(out) // 2, "card 4111 1111 1111 1111")
    return " ".join(out)[:size]


def python_re_rules(rules):
    """The naive baseline: one `re` per rule, searched in turn."""
    compiled = []
    for rule in rules:
        if rule.kind == "keywords":
            body = "|".join(re.escape(k) for k in rule.keywords)
            compiled.append(re.compile(rf"\b(?:{body})\b", re.I))
        elif rule.kind == "regex":
            compiled.append(re.compile(rule.pattern))
        else:
            from dlp.detectors import DETECTORS

            compiled.append(re.compile(DETECTORS[rule.detector].pattern))
    return compiled


def python_re_scan(compiled, units):
    found = 0
    for unit in units:
        for regex in compiled:
            for _ in regex.finditer(unit.text):
                found += 1
    return found


def timed(func, megabytes, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        best = min(best, time.perf_counter() - started)
    return megabytes / best


def docx_bytes(paragraphs):
    import docx

    document = docx.Document()
    for text in paragraphs:
        document.add_paragraph(text)
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def pdf_bytes(text):
    import weasyprint

    return weasyprint.HTML(string="<pre style='white-space: pre-wrap'>" + text + "</pre>").write_pdf()


def make_mix(count):
    from email.message import EmailMessage

    messages = []
    for i in range(count):
        msg = EmailMessage()
        msg["Subject"] = f"report {i}"
        msg.set_content(make_text(2000))
        text = make_text(200_000)
        msg.add_attachment(
            docx_bytes(text[j : j + 2000] for j in range(0, len(text), 2000)),
            maintype="application",
            subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
            filename=f"r{i}.docx",
        )
        msg.add_attachment(pdf_bytes(make_text(20_000)), maintype="application", subtype="pdf", filename=f"r{i}.pdf")
        messages.append(msg.as_bytes())
    return messages


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--text-mb", type=int, default=32)
    parser.add_argument("--baseline-mb", type=int, default=2)
    parser.add_argument("--messages", type=int, default=6)
    args = parser.parse_args()

    unit = make_text(1 << 20)
    units = [TextUnit(f"unit {i}", unit[i:] + unit[:i]) for i in range(args.text_mb)]
    baseline_units = units[: args.baseline_mb]
    print(f"text: {args.text_mb} units of 1 MB; baseline over {args.baseline_mb} MB")
    print(f"{'rules':>6} {'RE2 Set':>10} {'Hyperscan':>10} {'Python re':>10}   (MB/s over text)")
    for count in (10, 100, 1000):
        rules = make_rules(count)
        speeds = []
        for use_hyperscan in (False, True):
            engine = CompiledRules(rules, use_hyperscan=use_hyperscan)
            verdict = engine.scan(units[:1])
            assert "cards" in verdict.rules_hit, verdict.rules_hit
            speeds.append(timed(lambda engine=engine: engine.scan(units), args.text_mb))
        baseline = python_re_rules(rules)
        speeds.append(timed(lambda baseline=baseline: python_re_scan(baseline, baseline_units), args.baseline_mb, 1))
        print(f"{count:>6} {speeds[0]:>10.1f} {speeds[1]:>10.1f} {speeds[2]:>10.2f}")

    messages = make_mix(args.messages)
    size = sum(len(m) for m in messages) / 2**20
    print(f"\nDOCX/PDF mix: {args.messages} messages, {size:.1f} MB of mail (each: 200 kB text as DOCX, 20 kB as PDF)")
    print(f"{'rules':>6} {'Lockpost':>10} {'Python re':>10}   (MB/s of mail, extraction included)")
    from dlp.extract import extract

    extracted = [extract(m).units for m in messages]
    for count in (10, 100, 1000):
        rules = tuple(make_rules(count))
        ours = timed(lambda rules=rules: [scan_message(rules, m) for m in messages], size, 2)
        baseline = python_re_rules(rules)
        started = time.perf_counter()
        for m, extracted_units in zip(messages, extracted, strict=True):
            extract(m)
            python_re_scan(baseline, extracted_units)
        print(f"{count:>6} {ours:>10.2f} {size / (time.perf_counter() - started):>10.2f}")


if __name__ == "__main__":
    main()
