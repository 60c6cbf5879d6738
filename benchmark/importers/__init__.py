"""Importing files into the benchmark: scenarios and model responses read from CSV and JSONL files.

    medes_questions   the public MedES question CSVs (``scene, query, reference, type``), and the row helpers
                      every importer shares (reading a CSV, checking cells, finding questions in the bank)
    mapped_scenarios  scenarios from any CSV or JSONL file whose columns the user maps, and MedEthicEval CSVs
    responses         model responses: MedES response CSVs, MedEthicEval response files, mapped files
    uploads           a file uploaded on the imports page: kept between the dry run and the import, then
                      handed to the importer its format names

Every importer follows the same conventions: a dry run reads and checks every row and reports counts, per-row
errors and duplicates without writing anything (an ``ImportReport``); the real run writes the same rows in one
transaction, and not at all when any row has an error; importing the same file twice adds nothing. A file that
cannot be imported as a whole raises ``ImportFileError``.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext

from medes_site.labels import Phrase

# The messages an import stores in its report (kept on the upload, shown again later) are stored in English and
# shown in the reader's language (``{{ message|label:"message" }}``, medes_site.labels): plain ones are marked
# with gettext_noop where they are written, those with values are these phrases.
NOT_JSON = Phrase(gettext_noop("Not JSON: %(error)s."))
NO_LETTER = Phrase(gettext_noop("Cannot read the options: %(line)s has no letter."))
UNKNOWN_KIND = Phrase(gettext_noop("Unknown kind %(kind)s; expected objective or subjective."))
UNKNOWN_SCENE = Phrase(gettext_noop("Unknown scene %(scene)s."))
UNKNOWN_TYPE = Phrase(gettext_noop("Unknown type %(kind)s; expected 客观题 or 主观题."))
OTHER_RESPONSE = Phrase(
    gettext_noop(
        "%(model)s already has a different response to this question; import another run under another model name."
    )
)
READ_OTHERWISE = Phrase(gettext_noop("The file reads the answer as %(theirs)s, the workbench as %(ours)s."))
NO_ANSWER_GIVEN = Phrase(gettext_noop("The file gives no answer; the workbench reads %(ours)s."))
NO_SCENARIO = Phrase(gettext_noop("No scenario %(value)s in the bank (give its id or content hash)."))


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector off while an import reads a file (a decorator or a ``with`` block), on again after
    (unless it was off already). An import holds a dict or two for each of its rows, and each collection went over
    all of them again: a 100,000-row dry run spent a third of its time there. What an import builds holds no
    cycles, so reference counting frees it as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class ImportFileError(ValueError):
    """The file as a whole cannot be imported (not a CSV, wrong columns)."""


@dataclass
class ImportReport:
    rows: int = 0
    new: int = 0
    duplicates_in_bank: int = 0
    duplicates_in_file: int = 0  # rows repeating an item (a question) listed above
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, message)
    warnings: list[tuple[int, str]] = field(default_factory=list)
    written: bool = False
    items: int = 0  # distinct items (questions) in the file
    cross_scene: int = 0  # repeats listing an item under a scene not listed for it above
    different_key: int = 0  # repeats giving an item another key than the first
    scenes_added: int = 0  # (item, scene) links written, or to write in a dry run, beyond those stored

    def summary(self) -> str:
        state = pgettext("import report", "imported") if self.written else _("dry run, nothing written")
        return _(
            "%(rows)d rows: %(new)d new, %(bank)d already in the bank, %(repeats)d repeated in the file, "
            "%(errors)d with errors, %(warnings)d with warnings (%(state)s); %(items)d items, %(repeats)d repeats "
            "(%(cross)d under another scene, %(keys)d with a different key), %(links)d scene links added"
        ) % {
            "rows": self.rows,
            "items": self.items,
            "new": self.new,
            "bank": self.duplicates_in_bank,
            "repeats": self.duplicates_in_file,
            "cross": self.cross_scene,
            "keys": self.different_key,
            "links": self.scenes_added,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "state": state,
        }
