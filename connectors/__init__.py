"""Thin adapters: CalDAV, iCalendar, IMAP, SMTP turned into plain records, and actions carried out."""
