"""The byte stream a MEDLINE file is parsed from, made safe to parse record by
record: what is wrong with a file is noted, never a reason to lose the
records in it that are whole.

- **Truncated gzip.** ``gzip.GzipFile.read`` raises at a cut and drops what
  it had decompressed of the last chunk, so complete records before the cut
  were lost. ``Gunzip`` hands the parser every byte decompressed before the
  cut, then ends the stream and says it was truncated.
- **An internal DTD subset.** Real MEDLINE names only NLM's external DTD. An
  internal subset is where entity bombs live, and libxml2 refuses the whole
  document over one before its first record. ``without_internal_subset``
  removes the subset before the parser sees it (keeping any external id) and
  says so; a record that refers to one of its entities is quarantined by the
  reader.
"""

from __future__ import annotations

import io
import re
import zlib
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 16
# A system literal marks the document as having an external subset, which
# makes a reference to an entity the parser never saw a warning (the reader
# quarantines that record) rather than a fatal error (the rest of the file
# lost). It is never fetched: the parser loads no DTD and has no network.
REMOVED_SUBSET_ID = b' SYSTEM "kisa:internal-subset-removed"'
_DOCTYPE = re.compile(rb"<!DOCTYPE\s")
_ELEMENT_START = re.compile(rb"<[A-Za-z_:]")


def _inflater() -> Any:
    try:
        from isal import isal_zlib  # ISA-L: several times zlib's speed

        return isal_zlib.decompressobj(31)
    except ImportError:  # pragma: no cover - isal is in the lock
        return zlib.decompressobj(31)


class _Chunks(io.RawIOBase):
    """A raw stream over the chunks ``_next`` returns (b"" at the end)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self._pending = b""

    def _next(self) -> bytes:
        raise NotImplementedError

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            self._pending = self._next()
            if not self._pending and self._at_end():
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _at_end(self) -> bool:
        return True

    def close(self) -> None:
        self._inner.close()
        super().close()


class Gunzip(_Chunks):
    """A gzip file (one member or several) as a stream that keeps every byte
    before a cut. ``truncated`` turns True when the file ends inside a
    member; corrupt data still raises ``zlib.error``."""

    def __init__(self, raw: IO[bytes]) -> None:
        super().__init__(raw)
        self._inflate = _inflater()
        self._in_member = False
        self._ended = False
        self.truncated = False

    def _next(self) -> bytes:
        """What the next compressed bytes decompress to (possibly nothing yet)."""
        if self._inflate.eof:  # a member ended: what follows starts the next
            data = self._inflate.unused_data
            self._inflate, self._in_member = _inflater(), False
        else:
            data = b""
        data = data or self._inner.read(CHUNK)
        if not data:
            self._ended, self.truncated = True, self._in_member
            return b""
        self._in_member = True
        out: bytes = self._inflate.decompress(data)
        if self._inflate.eof:
            self._in_member = False
        return out

    def _at_end(self) -> bool:
        return self._ended


class Prolog(_Chunks):
    """``stream`` with its prolog's internal DTD subset removed;
    ``removed_bytes`` says how much was cut (0: there was none)."""

    def __init__(self, stream: IO[bytes]) -> None:
        super().__init__(stream)
        self._pending, self.removed_bytes = _strip_internal_subset(stream)

    def _next(self) -> bytes:
        return self._inner.read(CHUNK)


def _strip_internal_subset(stream: IO[bytes]) -> tuple[bytes, int]:
    """The stream's first bytes, a DOCTYPE's internal subset cut out of
    them, and how many bytes were cut. Reads only as far as the prolog."""
    head = stream.read(CHUNK)
    doctype = _DOCTYPE.search(head)
    element = _ELEMENT_START.search(head)
    if doctype is None or (element is not None and element.start() < doctype.start()):
        return head, 0
    # Scan the declaration (quoted literals and comments may hold "[", "]"
    # or ">") to the "[" that opens the subset, then to the "]" and ">" that
    # close it, reading more of the stream as needed and dropping what of the
    # subset was scanned, so a huge one costs time, not memory.
    buffer = bytearray(head)
    position, quote, depth, opened, comment, dropped = doctype.end(), 0, 0, -1, False, 0
    while True:
        if position >= len(buffer):
            if opened >= 0:
                dropped += position - opened
                del buffer[opened:position]
                position = opened
            more = stream.read(CHUNK)
            if not more:
                return bytes(buffer), 0  # an unfinished DOCTYPE: the parser says what is wrong
            buffer += more
        byte = buffer[position]
        if comment:
            if buffer.startswith(b"-->", position):
                comment, position = False, position + 2
        elif quote:
            quote = 0 if byte == quote else quote
        elif byte in b"\"'":
            quote = byte
        elif buffer.startswith(b"<!--", position):
            comment, position = True, position + 3
        elif byte == ord("["):
            if opened < 0:
                opened = position
            depth += 1
        elif byte == ord("]"):
            depth -= 1
        elif byte == ord(">") and depth == 0:
            if opened < 0:
                return bytes(buffer), 0  # an external DOCTYPE only, as real MEDLINE has
            declaration = bytes(buffer[doctype.start() : opened]).rstrip()
            if b"SYSTEM" not in declaration and b"PUBLIC" not in declaration:
                declaration += REMOVED_SUBSET_ID
            kept = bytes(buffer[: doctype.start()]) + declaration + b">" + buffer[position + 1 :]
            return bytes(kept), dropped + position + 1 - opened
        position += 1


class MedlineStream:
    """The bytes of a ``.xml`` or ``.xml.gz`` file as the parser should read
    them, and what was wrong with the file: ``truncated`` (known once the
    stream is read to its end) and ``removed_subset_bytes`` (known at once).
    A context manager; reading the prolog may raise ``OSError`` or
    ``zlib.error`` for an unreadable file."""

    def __init__(self, path: Path | str) -> None:
        path = Path(path)
        raw: IO[bytes] = open(path, "rb")
        try:
            self._gunzip = Gunzip(raw) if path.suffix == ".gz" else None
            decoded = io.BufferedReader(self._gunzip, CHUNK) if self._gunzip else raw
            self._prolog = Prolog(decoded)
        except BaseException:
            raw.close()
            raise
        self.stream: IO[bytes] = io.BufferedReader(self._prolog, CHUNK)

    @property
    def truncated(self) -> bool:
        return self._gunzip is not None and self._gunzip.truncated

    @property
    def removed_subset_bytes(self) -> int:
        return self._prolog.removed_bytes

    def __enter__(self) -> MedlineStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
