"""Curation: change records, four-eyes review, versioned releases, audit log and access control.

Start at :class:`termserver.curation.service.Curation`; each module below it does one job.
"""
