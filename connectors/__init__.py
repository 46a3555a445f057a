"""Thin adapters: CalDAV, iCalendar, IMAP, SMTP turned into plain records; actions done."""
