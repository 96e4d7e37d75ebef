"""Independent PDF readers (qpdf, poppler, mupdf), run as a user would."""

import subprocess
from pathlib import Path


def run(*args, input=None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, input=input, timeout=120, check=False)


def qpdf_check(path: Path, password: str | None) -> subprocess.CompletedProcess:
    args = ["qpdf", "--check", str(path)]
    if password is not None:
        args.insert(1, f"--password={password}")
    return run(*args)


def pdftotext(path: Path, password: str | None) -> subprocess.CompletedProcess:
    args = ["pdftotext", "-enc", "UTF-8", str(path), "-"]
    if password is not None:
        args[1:1] = ["-upw", password]
    return run(*args)


def pdfdetach_all(path: Path, password: str | None, into: Path) -> subprocess.CompletedProcess:
    into.mkdir(parents=True, exist_ok=True)
    args = ["pdfdetach", "-saveall", "-o", str(into), str(path)]
    if password is not None:
        args[1:1] = ["-upw", password]
    return run(*args)


def pdfdetach_list(path: Path, password: str) -> list[str]:
    out = run("pdfdetach", "-enc", "UTF-8", "-upw", password, "-list", str(path))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.decode().splitlines()[1:]
    return [line.split(": ", 1)[1] for line in lines]


def mutool_text(path: Path, password: str | None) -> subprocess.CompletedProcess:
    args = ["mutool", "draw", "-q", "-F", "txt", "-o", "-", str(path)]
    if password is not None:
        args[2:2] = ["-p", password]
    return run(*args)
