"""Reading ZIP containers (plain archives and Office documents) within the
budget. A member is charged its declared size before it is inflated, and
zipfile never inflates past the declared size (it fails the CRC instead),
so a bomb costs a few header reads."""

import io
import zipfile

from dlp.extract.limits import Unreadable


def open_zip(data):
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise Unreadable(f"corrupt archive: {exc}")


def files(archive):
    return [info for info in archive.infolist() if not info.is_dir()]


def read_member(archive, info, budget):
    if info.flag_bits & 0x1:
        raise Unreadable(f"{info.filename}: encrypted archive member")
    budget.count_file()
    budget.reserve(info.file_size)
    try:
        with archive.open(info) as member:
            data = member.read(info.file_size + 1)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, OSError, EOFError) as exc:
        raise Unreadable(f"{info.filename}: corrupt archive member: {exc}")
    except RuntimeError as exc:  # zipfile's "password required" and friends
        raise Unreadable(f"{info.filename}: {exc}")
    if len(data) != info.file_size:
        raise Unreadable(f"{info.filename}: size differs from the archive's directory")
    return data
