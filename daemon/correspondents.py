"""Who the freelancer writes to themself, learnt from their Sent folder: friends and personal
contacts, whose mail is left for the freelancer and never answered automatically.

Each pass reads the Sent folder's messages that are new since the last pass (the position,
UIDVALIDITY and last UID, is a ledger fact; a new UIDVALIDITY starts over) and notes every
recipient of every message the freelancer wrote: not frontdesk's own emails (they carry
`Auto-Submitted: auto-replied`, and their Message-IDs are in the outbox), never the freelancer's
own addresses. The inbox's reader then sees those senders as "personal". With nothing new the
scan costs one IMAP STATUS.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from connectors.imap import Mailbox, MailError, MailUnreachable, SentMessage
from daemon.config import Config
from daemon.ledger import Ledger, rate_key
from daemon.logsetup import safe_text
from rules.senders import canonical_address

log = logging.getLogger(__name__)


class SentReader:
    """Reads the Sent folder once per pass. One per process (App), so that a folder that
    cannot be read is warned about once, not on every pass of `run`."""

    def __init__(self, config: Config, ledger: Ledger) -> None:
        self.config = config
        self.ledger = ledger
        self._warned = ""  # the last warning given, until a scan succeeds again

    def learn(self, box: Mailbox, *, dry_run: bool) -> frozenset[str]:
        """The rate keys of the people written to since the last pass, recorded with the new
        position unless `dry_run` (which records nothing). A folder that is missing or
        cannot be read gives a warning and nothing learnt; a broken connection is raised
        (MailUnreachable), as for the inbox."""
        settings = self.config.mail
        folder = settings.sent_folder if settings is not None else ""
        if not folder:
            return frozenset()  # the SMTP server files sent mail: no folder was named to read
        uidvalidity, last_uid = self.ledger.sent_position(folder)
        try:
            scan = box.recipients_after(folder, uidvalidity, last_uid)
        except MailUnreachable:
            raise
        except MailError as exc:
            if str(exc) != self._warned:
                self._warned = str(exc)
                log.warning("cannot learn who you write to from %s: %s", safe_text(folder),
                            safe_text(str(exc)))
            return frozenset()
        self._warned = ""
        if scan.uidvalidity != uidvalidity and uidvalidity:
            log.info("%s: UIDVALIDITY changed (%s -> %s); reading it again", safe_text(folder),
                     uidvalidity, scan.uidvalidity)
        if scan.left_out:
            log.info("%s: read the newest %d messages for correspondents, not the %d before",
                     safe_text(folder), len(scan.messages), scan.left_out)
        keys = self.correspondents(scan.messages)
        if not dry_run and (keys or (scan.uidvalidity, scan.last_uid) != (uidvalidity,
                                                                          last_uid)):
            self.ledger.learn_from_sent(folder, scan.uidvalidity, scan.last_uid, keys)
        return keys

    def correspondents(self, messages: Iterable[SentMessage]) -> frozenset[str]:
        """The rate keys of the recipients of the messages the freelancer wrote themself."""
        own = {rate_key(canonical_address(a) or a) for a in
               self.config.policy.freelancer.addresses}
        keys: set[str] = set()
        for message in messages:
            if message.machine or (message.message_id
                                   and self.ledger.sent_by_frontdesk(message.message_id)):
                continue  # frontdesk's own reply (or another program's): not a friend
            keys.update(k for k in map(rate_key, message.recipients) if k not in own)
        return frozenset(keys)


__all__ = ["SentReader"]
