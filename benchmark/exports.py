"""Release exports in every format researchers load, and the way back.

A published release never changes, so each export is a pure function of it: JSONL, CSV and the datasheet are
the same bytes every time; Parquet and the Hugging Face ``datasets`` directory carry the same items, and
reading any export back gives the items whose canonical JSONL has the release's checksum (``read_items``).
The MedES CSV keeps only ``scene, query, reference, type``; it round-trips through the MedES importer, byte for
byte, so its cells are not escaped for spreadsheets: "MedES CSV for spreadsheets" (``csv_excel``) is the same
rows with every cell a spreadsheet would run as a formula escaped (``medes_site.spreadsheet``).
"""

from __future__ import annotations

import heapq
import io
import json
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from django.http.response import HttpResponseBase
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from benchmark.models import Release
from benchmark.releases import (
    canonical_checksum,
    canonical_line,
    datasheet,
    iter_release_items,
    medes_csv,
)
from medes_site import files

if TYPE_CHECKING:
    import pyarrow as pa

# A fixed timestamp for members of generated zip files, so that the archive depends only on its contents.
ZIP_EPOCH = (2020, 1, 1, 0, 0, 0)
ZIP64_FROM = 1 << 31  # a member this large needs zip64 fields, declared before its size is known
COPY_BLOCK = 1 << 20
ROWS_PER_GROUP = 10_000  # items in a Parquet row group, and read back at a time
ITEMS_PER_CHUNK = 500  # items in each chunk of bytes a streamed export hands on (a few hundred kB)


class ExportError(ValueError):
    pass


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: Any  # lazy translation
    extension: str  # of the downloaded file
    content_type: str
    directory: bool = False  # written as a folder; downloaded as a zip of it
    stem_suffix: str = ""  # told apart from another format with the same extension in the downloaded file's name


FORMATS: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("jsonl", gettext_lazy("Canonical JSONL"), "jsonl", "application/x-ndjson"),
        ExportFormat("csv", gettext_lazy("MedES CSV"), "csv", "text/csv"),
        # the same rows with formula-like cells escaped, to open in a spreadsheet (the MedES CSV is byte-exact)
        ExportFormat(
            "csv_excel", gettext_lazy("MedES CSV for spreadsheets"), "csv", "text/csv", stem_suffix="-spreadsheet"
        ),
        ExportFormat("parquet", gettext_lazy("Parquet"), "parquet", "application/vnd.apache.parquet"),
        ExportFormat("hf", gettext_lazy("Hugging Face datasets"), "zip", "application/zip", directory=True),
        ExportFormat("datasheet", gettext_lazy("Datasheet"), "md", "text/markdown"),
    )
}
# Small enough to answer in the request; the others are prepared by a job.
INLINE_FORMATS = frozenset({"jsonl", "csv", "csv_excel", "datasheet"})
# Read back to the full items (the CSV keeps only part of each; the datasheet is a summary).
READABLE_FORMATS = frozenset({"jsonl", "parquet", "hf"})


def get_format(name: str) -> ExportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise ExportError(
            _("Unknown export format %(name)s; choose one of %(choices)s.")
            % {"name": name, "choices": ", ".join(FORMATS)}
        ) from None


def checksum(items: Iterable[dict[str, Any]]) -> str:
    """The SHA-256 of the items' canonical JSONL (a release's ``checksum``), hashed as the items come."""
    return canonical_checksum(items)


def file_checksum(path: Path, fmt: str | None = None) -> str:
    """The checksum of the items an export reads back to, read a batch at a time: what the export job and
    ``export_release`` compare with the release's, whatever the size of the release."""
    return canonical_checksum(iter_items(path, fmt))


# --- writing -------------------------------------------------------------------------------------------


def export_bytes(release: Release, fmt: str) -> bytes:
    """A one-file export held in memory (JSONL, CSV, datasheet, Parquet): for small releases and tests. The
    downloads answered in the request stream ``iter_export``; files are written by ``write_export``."""
    spec = get_format(fmt)
    if spec.directory:
        raise ExportError(_("The %(format)s export is a folder; write it to disk.") % {"format": spec.label})
    buffer = io.BytesIO()
    _write_file(release, fmt, buffer)
    return buffer.getvalue()


def write_export(release: Release, fmt: str, out: Path) -> Path:
    """Write the export to ``out`` (a file; for ``hf`` a folder that must not exist yet, or be empty). Every format
    is written as the items are read, ``ITEMS_PER_QUERY`` at a time: the memory it takes does not grow with the
    release."""
    spec = get_format(fmt)
    if not spec.directory:
        with out.open("wb") as sink:
            _write_file(release, fmt, sink)
        return out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(_("%(path)s already exists; choose a new folder.") % {"path": out})
    _write_hf(release, out)
    return out


def _write_file(release: Release, fmt: str, sink: IO[bytes]) -> None:
    if fmt in INLINE_FORMATS:
        for chunk in iter_export(release, fmt):
            sink.write(chunk)
    else:
        _write_parquet(iter_release_items(release), sink)


def iter_export(release: Release, fmt: str) -> Iterator[bytes]:
    """An export answered in the request (JSONL, the two CSVs, the datasheet) as chunks of bytes, each made as its
    ``ITEMS_PER_CHUNK`` items are read: the download streams it and the export job writes it, the same bytes. Nothing
    is read from the database until the first chunk is asked for (after the view has returned, when it streams)."""
    if get_format(fmt).name not in INLINE_FORMATS:
        raise ValueError(f"{fmt} is written to a file, not streamed")  # a caller's mistake, never a user's
    return _iter_export(release, fmt)


def _iter_export(release: Release, fmt: str) -> Iterator[bytes]:
    if fmt == "datasheet":  # a summary: counted a chunk of items at a time, its size does not grow with the release
        yield datasheet(release).encode()
        return
    batches = _chunks(iter_release_items(release), ITEMS_PER_CHUNK)
    if fmt == "jsonl":
        for batch in batches:
            yield b"".join(canonical_line(item) for item in batch)
        return
    # the CSVs: each batch written by the one definition of the rows (releases.write_medes_csv), after the BOM and
    # the header row, which every batch starts with and only the first chunk keeps
    for_spreadsheets = fmt == "csv_excel"
    header = medes_csv([], for_spreadsheets=for_spreadsheets)
    yield header
    for batch in batches:
        yield medes_csv(batch, for_spreadsheets=for_spreadsheets)[len(header) :]


def download_path(release: Release, fmt: str) -> Path:
    """Where the prepared download of a release lives: one per release and format, since neither changes.
    Named by ids only: the release's name is the downloaded file's name, never a part of a path."""
    spec = get_format(fmt)
    return files.artifact_path("releases", release.pk, f"release-{spec.name}.{spec.extension}")


def prepare_download(release: Release, fmt: str) -> Path:
    """Write the download next to where it is served, then move it into place: never half a file."""
    target = download_path(release, fmt)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".prepare-") as scratch:
        written = write_download(release, fmt, Path(scratch))
        written.replace(target)
    return target


def download_response(release: Release, fmt: str) -> HttpResponseBase | None:
    """The attachment for a download link (web or API); ``None`` while a job-prepared format is not ready. The
    formats answered in the request are streamed, read from the database a batch at a time as they are sent."""
    spec = get_format(fmt)
    stem = files.safe_filename(release.name, fallback=f"release-{release.pk}")
    filename = f"{stem}{spec.stem_suffix}.{spec.extension}"
    if fmt in INLINE_FORMATS:
        content_type = f"{spec.content_type}; charset=utf-8"
        return files.streamed_attachment(iter_export(release, fmt), filename, content_type=content_type)
    path = download_path(release, fmt)
    if not path.exists():
        return None
    return files.attachment(path, filename, content_type=spec.content_type)


def write_download(release: Release, fmt: str, folder: Path) -> Path:
    """The file a browser downloads: the export itself, or for a folder format a zip of it."""
    spec = get_format(fmt)
    # named after the release, made safe as a file name (and the zip's top folder too: it is unpacked as it is)
    stem = files.safe_filename(release.name, fallback=f"release-{release.pk}")
    target = folder / f"{stem}{spec.stem_suffix}.{spec.extension}"
    if not spec.directory:
        return write_export(release, fmt, target)
    with tempfile.TemporaryDirectory(dir=folder) as scratch:
        tree = write_export(release, fmt, Path(scratch) / stem)
        zip_tree(tree, target)
    return target


def zip_tree(tree: Path, target: Path) -> None:
    """Zip a folder with fixed timestamps and sorted names under a top folder of the same name."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in tree.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{tree.name}/{path.relative_to(tree).as_posix()}", date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            # copied a block at a time: a shard of a large release is hundreds of megabytes
            with (
                path.open("rb") as source,
                archive.open(info, "w", force_zip64=path.stat().st_size > ZIP64_FROM) as sink,
            ):
                shutil.copyfileobj(source, sink, COPY_BLOCK)


def _schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("id", pa.int64()),
            ("kind", pa.string()),
            ("scene", pa.string()),
            ("scenes", pa.list_(pa.string())),  # every scene of the item (issue 14); null in older releases
            ("stem", pa.string()),
            ("options", pa.list_(pa.struct([("letter", pa.string()), ("text", pa.string())]))),
            ("key", pa.string()),
            ("norm", pa.string()),
            ("reference_answer", pa.string()),
            ("principles", pa.list_(pa.string())),
            ("provisions", pa.list_(pa.string())),
            ("content_hash", pa.string()),
            ("split", pa.string()),
        ]
    )


def _row(item: dict[str, Any]) -> dict[str, Any]:
    """An item as a row of the table: its options as (letter, text) pairs, in letter order."""
    return {**item, "options": [{"letter": k, "text": v} for k, v in item["options"].items()]}


def _write_parquet(items: Iterable[dict[str, Any]], where: Any) -> None:
    """One row group per ``ROWS_PER_GROUP`` items, each written as soon as it is read."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _schema()
    with pq.ParquetWriter(where, schema, compression="zstd") as writer:
        for batch in _chunks(iter(items), ROWS_PER_GROUP):
            writer.write_table(pa.Table.from_pylist([_row(item) for item in batch], schema=schema))


def _split_rows(release_id: int, split: str) -> Iterator[dict[str, Any]]:
    """The rows of one split, for ``Dataset.from_generator`` (which takes JSON-like arguments)."""
    release = Release.objects.get(pk=release_id)
    for item in iter_release_items(release, split=split):
        yield _row(item)


def _write_hf(release: Release, out: Path) -> None:
    """A ``datasets.DatasetDict`` with the release's ``dev`` and ``test`` splits (``load_from_disk`` reads it); an
    empty split is left out. Each split is written to an Arrow file ``datasets`` fills in batches as the items
    are read (``from_generator``, in a scratch cache next to ``out``), then saved where ``out`` says."""
    from datasets import Dataset, DatasetDict, Features, disable_progress_bars

    disable_progress_bars()  # they would fill the worker's log
    features = Features.from_arrow_schema(_schema())
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".hf-cache-") as cache:
        parts = {
            name: Dataset.from_generator(
                _split_rows,
                features=features,
                gen_kwargs={"release_id": release.pk, "split": name},
                cache_dir=cache,
                keep_in_memory=False,
            )
            # a split with no items (a very small release) is left out: datasets can write an empty split but not
            # read it back
            for name in ("dev", "test")
            if release.items.filter(split=name).exists()
        }
        DatasetDict(parts).save_to_disk(str(out))


# --- reading back ----------------------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    if path.is_dir() or path.suffix == ".zip":
        return "hf"
    formats = {"." + f.extension: f.name for f in FORMATS.values() if not f.directory}
    if path.suffix in formats and formats[path.suffix] in {"jsonl", "parquet"}:
        return formats[path.suffix]
    raise ExportError(
        _("%(name)s is not a release export this tool reads back (JSONL, Parquet, a datasets folder or its zip).")
        % {"name": path.name}
    )


def read_items(path: Path, fmt: str | None = None) -> list[dict[str, Any]]:
    """The items of an exported release, in release order: their canonical JSONL has the release's checksum."""
    return list(iter_items(path, fmt))


def iter_items(path: Path, fmt: str | None = None) -> Iterator[dict[str, Any]]:
    """The items of an exported release, in release order, read a batch at a time (``read_items`` in a stream)."""
    fmt = fmt or detect_format(path)
    if fmt not in READABLE_FORMATS:
        raise ExportError(
            _("The %(format)s export cannot be read back; it keeps only part of each item.") % {"format": fmt}
        )
    return _iter_items(path, fmt)


def _iter_items(path: Path, fmt: str) -> Iterator[dict[str, Any]]:
    try:
        if fmt == "jsonl":
            with path.open("rb") as lines:
                yield from (json.loads(line) for line in lines if line.strip())
        elif fmt == "parquet":
            import pyarrow.parquet as pq

            # one row group at a time, no read-ahead: the default's buffers grew with the file (bench/export_release.py)
            with pq.ParquetFile(path, pre_buffer=False) as table:
                for batch in table.iter_batches(batch_size=ROWS_PER_GROUP, use_threads=False):
                    yield from _from_rows(batch.to_pylist())
        else:
            with _as_folder(path) as folder:
                yield from _iter_hf(folder)
    except ExportError:
        raise
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
        raise ExportError(_("%(name)s cannot be read: %(error)s") % {"name": path.name, "error": error}) from None


def _from_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Items as released: a release from before items had ``scenes`` reads back without the key."""
    items = [{**row, "options": {o["letter"]: o["text"] for o in row["options"]}} for row in rows]
    return [{k: v for k, v in item.items() if not (k == "scenes" and v is None)} for item in items]


def _iter_hf(folder: Path) -> Iterator[dict[str, Any]]:
    """Both splits merged back into release order (each split is written in it, and ids grow with it)."""
    from datasets import DatasetDict, disable_progress_bars, load_from_disk

    disable_progress_bars()
    loaded = load_from_disk(str(folder))
    if not isinstance(loaded, DatasetDict):
        raise ExportError(_("%(name)s holds one dataset, not a release's dev and test splits.") % {"name": folder.name})
    splits = [_split_items(split) for split in loaded.values()]
    yield from heapq.merge(*splits, key=lambda item: item["id"])


def _split_items(split: Any) -> Iterator[dict[str, Any]]:
    for batch in split.iter(batch_size=ROWS_PER_GROUP):
        yield from _from_rows([dict(zip(batch, values, strict=True)) for values in zip(*batch.values(), strict=True)])


def _chunks(values: Iterator[Any], size: int) -> Iterator[list[Any]]:
    while chunk := list(islice(values, size)):
        yield chunk


@contextmanager
def _as_folder(path: Path) -> Iterator[Path]:
    """A datasets folder as given, or the single top folder of its zip, unpacked safely into a temp dir."""
    if path.is_dir():
        yield path
        return
    with tempfile.TemporaryDirectory() as scratch, zipfile.ZipFile(path) as archive:
        root = Path(scratch).resolve()
        for member in archive.infolist():
            try:
                target = files.within(root, root / member.filename)
            except files.UnsafePathError:
                raise ExportError(_("%(name)s contains a path outside its folder.") % {"name": path.name}) from None
            if member.is_dir():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member) as source, target.open("wb") as sink:
                shutil.copyfileobj(source, sink)
        tops = [p for p in root.iterdir() if p.is_dir()]
        if len(tops) != 1:
            raise ExportError(_("%(name)s should hold exactly one folder.") % {"name": path.name})
        yield tops[0]
