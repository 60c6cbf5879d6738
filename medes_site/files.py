"""Files the workbench writes and serves (DESIGN.md §9: a string a user chooses never becomes a file path).

Every write under ``ARTIFACTS_ROOT`` (or ``MEDIA_ROOT``) and every file served for download goes through here:

- ``artifact_path(*parts)`` builds a path from ids and fixed words; a part that is not a plain file name
  (a separator, ``..``, a leading dot, a NUL) or a result that resolves outside the root is refused.
- ``stored_path(relative)`` reads back a path a row keeps relative to the root (a job's artifact, a frozen
  dataset, a guardian version's directory): resolved, and refused when it lies outside the root.
- ``attachment(...)`` answers a download: always an attachment, never sniffed, its file name cleaned to a safe
  set of characters and sent with Django's RFC 5987 header helper (Chinese names survive, quotes cannot inject).
  ``streamed_attachment(...)`` is the same for a download made as it is sent.
- ``check_name`` is what forms and services call on a name that will be shown as a file name (releases,
  datasets): letters of any script, digits, spaces and ``. - _ ( )``, not starting with a dot.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import IO, TypeVar

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

HttpResponseT = TypeVar("HttpResponseT", bound=HttpResponseBase)


class UnsafePathError(ValueError):
    """A path would leave its root, or a part of it is not a plain name; the message says which."""


# a plain file or folder name: no separators, no NUL, not "." or "..", not hidden
_PART = re.compile(r"^[^/\\\x00]+$")
# what a name shown as a file name may hold: letters and digits of any script, space, . - _ ( ) and a few CJK marks
_NAME = re.compile(r"^[\w .\-()（）·]+$")
NAME_MAX = 120


def _root(root: Path | str) -> Path:
    return Path(root).resolve()


def within(root: Path | str, path: Path | str) -> Path:
    """``path`` resolved (symlinks and ``..`` followed); refused when it is not inside ``root``."""
    base = _root(root)
    resolved = Path(path).resolve()
    if resolved != base and not resolved.is_relative_to(base):
        raise UnsafePathError(_("The path %(path)s lies outside %(root)s.") % {"path": path, "root": base})
    return resolved


def under(root: Path | str, *parts: str | int) -> Path:
    """``root / part / part …`` where each part is a plain name (ids and fixed words; never a user's string)."""
    path = _root(root)
    for part in parts:
        text = str(part)
        if not _PART.match(text) or text in {".", ".."} or text.startswith("."):
            raise UnsafePathError(_("%(part)r is not a plain file name.") % {"part": text})
        path = path / text
    return within(root, path)


def artifact_path(*parts: str | int) -> Path:
    """A path under ARTIFACTS_ROOT built from plain parts."""
    return under(settings.ARTIFACTS_ROOT, *parts)


def stored_path(relative: str, root: Path | str | None = None) -> Path:
    """A path a row keeps relative to ``root`` (ARTIFACTS_ROOT by default), resolved and kept inside it."""
    base = settings.ARTIFACTS_ROOT if root is None else root
    if not relative or "\x00" in relative or Path(relative).is_absolute():
        raise UnsafePathError(_("%(path)r is not a path relative to its root.") % {"path": relative})
    return within(base, _root(base) / relative)


def relative_to_root(path: Path, root: Path | str | None = None) -> str:
    """How a row stores ``path``: relative to ``root`` (ARTIFACTS_ROOT by default), refused outside it."""
    base = settings.ARTIFACTS_ROOT if root is None else root
    return within(base, path).relative_to(_root(base)).as_posix()


def check_name(name: str) -> str:
    """A name that will be shown as a file name, stripped; refused with the reason when it is not safe."""
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise ValueError(_("A name is needed."))
    if len(name) > NAME_MAX:
        raise ValueError(_("A name has at most %(n)d characters.") % {"n": NAME_MAX})
    if not _NAME.match(name) or name.startswith(".") or ".." in name:
        raise ValueError(
            _("Use letters, digits, spaces and . - _ ( ) only, not starting with a dot: %(name)s is also a file name.")
            % {"name": name}
        )
    return name


def shown_file_name(original_name: str, *, fallback: str) -> str:
    """An uploaded file's own name, as a page shows and a row stores it: the last part of the path the browser
    sent, without control, format or bidirectional-override characters (they could hide its real suffix), and no
    character the database refuses."""
    name = PurePath(original_name.replace("\\", "/")).name
    return "".join(ch for ch in name if ch.isprintable()).strip()[:255] or fallback


def safe_filename(name: str, *, fallback: str = "download") -> str:
    """``name`` made fit to be a downloaded file's name: anything outside the safe set becomes ``_``."""
    cleaned = "".join(ch if _NAME.match(ch) else "_" for ch in unicodedata.normalize("NFC", name))
    cleaned = cleaned.strip(" .")[:NAME_MAX].strip(" .")
    return cleaned or fallback


def attachment(
    body: bytes | IO[bytes] | Path,
    filename: str,
    *,
    content_type: str = "application/octet-stream",
    root: Path | str | None = None,
) -> HttpResponse | FileResponse:
    """A download: bytes in memory, an open file, or a path that must lie inside ``root`` (404 otherwise)."""
    name = safe_filename(filename)
    response: HttpResponse | FileResponse
    if isinstance(body, Path):
        try:
            path = within(root if root is not None else settings.ARTIFACTS_ROOT, body)
        except UnsafePathError:
            raise Http404 from None
        if not path.is_file():
            raise Http404
        response = FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type=content_type)
    elif isinstance(body, bytes):
        response = HttpResponse(body, content_type=content_type)
    else:
        response = FileResponse(body, as_attachment=True, filename=name, content_type=content_type)
    return as_attachment(response, name)


def streamed_attachment(
    chunks: Iterable[bytes], filename: str, *, content_type: str = "application/octet-stream"
) -> StreamingHttpResponse:
    """A download made as it is sent (a release export read a batch of rows at a time): the headers of
    ``attachment`` but no Content-Length, which is known only at the end. Nothing may read its body into memory on
    the way out (no GZip or ETag middleware on these paths)."""
    name = safe_filename(filename)
    return as_attachment(StreamingHttpResponse(chunks, content_type=content_type), name)


def as_attachment(response: HttpResponseT, filename: str) -> HttpResponseT:
    """Mark a response a download named ``filename`` (made safe; RFC 5987 for names beyond ASCII)."""
    response["Content-Disposition"] = content_disposition_header(True, safe_filename(filename))
    response["X-Content-Type-Options"] = "nosniff"
    return response
