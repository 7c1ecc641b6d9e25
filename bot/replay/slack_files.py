"""A Slack export as files: the folder or the .zip Slack gives, seen as relative POSIX names under
the export's root, with the limits that keep a hostile zip from being read (a zip bomb, a listing
too long to load, a file too big to read whole)."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path, PurePosixPath
from typing import IO

#: files read whole (day files, channels.json): a day of the busiest channel is a few MB
MAX_FILE_BYTES = 64 << 20
#: a zip member that expands more than this many times its packed size, once past a MB, is a zip
#: bomb, not JSON (Slack's day files pack 5-20 times)
MAX_ZIP_RATIO = 200
_RATIO_FLOOR = 1 << 20
#: files in a zip: Python keeps an entry of about half a KB for each before anything is read
MAX_ZIP_MEMBERS = 2_000_000

#: what reading a damaged (or lying) zip member raises: a wrong CRC, a broken deflate stream, a cut
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError)


class Unreadable(ValueError):
    """A file of the export that cannot be read at all."""


class ExportFiles:
    """A folder or a zip, seen as relative POSIX names under the export's root."""

    def __init__(self, source: Path, names: list[str] | None = None) -> None:
        self.source = source
        self.zip: zipfile.ZipFile | None = None
        self.prefix = ""
        if source.is_file():
            if not zipfile.is_zipfile(source):
                raise ValueError(f"{source}: not a folder or a .zip Slack export")
            entries = _zip_entries(source)
            if entries is not None and entries > MAX_ZIP_MEMBERS:
                raise ValueError(f"{source}: {entries:,} files in the zip; an export may have at most "
                                 f"{MAX_ZIP_MEMBERS:,}")
            self.zip = zipfile.ZipFile(source)
            roots = sorted((n for n in self.zip.namelist() if PurePosixPath(n).name == "channels.json"),
                           key=lambda n: n.count("/"))
            if roots:
                parent = str(PurePosixPath(roots[0]).parent)
                self.prefix = "" if parent == "." else parent + "/"
            self._names = [n[len(self.prefix):] for n in self.zip.namelist()
                           if n.startswith(self.prefix) and not n.endswith("/")]
        elif source.is_dir():
            self._names = names if names is not None else [
                p.relative_to(source).as_posix() for p in source.rglob("*.json")]
        else:
            raise FileNotFoundError(f"{source}: no such export")

    def refusal(self, name: str, *, whole: bool = True) -> str | None:
        """Why ``name`` is not read (a zip bomb, or too big to read ``whole``), or None."""
        if self.zip is not None:
            info = self.zip.getinfo(self.prefix + name)
            size, packed = info.file_size, info.compress_size
            if size > _RATIO_FLOOR and size > MAX_ZIP_RATIO * max(packed, 1):
                return (f"expands from {packed:,} to {size:,} bytes in the zip (more than {MAX_ZIP_RATIO} times: "
                        "a zip bomb?); file skipped")
        else:
            size = (self.source / name).stat().st_size
        if whole and size > MAX_FILE_BYTES:
            return f"{size:,} bytes, more than the {MAX_FILE_BYTES:,} a file may have; file skipped"
        return None

    def names(self) -> list[str]:
        return self._names

    def exists(self, name: str) -> bool:
        if self.zip is not None:
            try:
                self.zip.getinfo(self.prefix + name)
                return True
            except KeyError:
                return False
        return (self.source / name).is_file()

    def open(self, name: str) -> IO[bytes]:
        if self.zip is not None:
            return self.zip.open(self.prefix + name)
        return open(self.source / name, "rb")

    def read(self, name: str) -> bytes:
        try:
            with self.open(name) as f:
                return f.read()
        except ZIP_ERRORS as e:
            raise Unreadable(f"unreadable in the zip ({e}); file skipped") from None

    def display(self, name: str) -> str:
        return f"{self.source}!{self.prefix}{name}" if self.zip is not None else str(self.source / name)

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


def _zip_entries(source: Path) -> int | None:
    """How many files the zip's directory lists, read before Python builds an entry for each."""
    try:
        with open(source, "rb") as f:
            end = zipfile._EndRecData(f)  # type: ignore[attr-defined]  # stable since Python 2
    except (OSError, AttributeError):
        return None
    return int(end[zipfile._ECD_ENTRIES_TOTAL]) if end else None  # type: ignore[attr-defined]
