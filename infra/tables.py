"""Which pynamodb record defines each declared table's keys and indexes.

The declaration (``shared/resources.py``) names tables and their owners; the records live
in the owners' stores. The Terraform and the testbed's bootstrap read the schemas here.
"""

from __future__ import annotations

from typing import Any

from functions.dcs.store import DrsObjectRecord
from functions.ifrs.store import FileRecord, OutboxCopyRecord
from functions.irs.store import InterrogationRecord, PartRecord
from functions.ucs.store import BoxRecord, UploadRecord
from functions.wps.store import WorkPackageRecord
from shared.resources import DECLARATION, Table

RECORDS: dict[str, Any] = {
    "work_packages": WorkPackageRecord,
    "interrogations": InterrogationRecord,
    "interrogation_parts": PartRecord,
    "files": FileRecord,
    "copies": OutboxCopyRecord,
    "boxes": BoxRecord,
    "uploads": UploadRecord,
    "drs_objects": DrsObjectRecord,
}


def record_for(table: Table) -> Any:
    """The pynamodb model whose schema is the table's (every declared table has one)."""
    return RECORDS[table.key]


assert set(RECORDS) == {t.key for t in DECLARATION.tables}, "a declared table has no record"
