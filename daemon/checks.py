"""`frontdesk check`: try every server the configuration names, one line per check."""

from __future__ import annotations

from collections.abc import Iterator

from connectors.caldav import CalDAVError, CalendarConnection
from daemon.config import Config
from daemon.connections import explain_caldav_error

CheckLine = tuple[bool, str]


def run_checks(config: Config) -> Iterator[CheckLine]:
    yield from calendar_checks(config)
    yield from mail_checks(config)
    yield from template_checks(config)
    yield from state_checks(config)


def mail_checks(config: Config) -> Iterator[CheckLine]:
    from connectors.imap import Mailbox, MailError
    from connectors.smtp import SendError, SmtpSender
    from daemon.connections import explain_mail_error

    mail = config.mail
    if mail is None:
        yield True, "mail: no [mail] section; the inbox is not watched and declines cannot be sent"
        return
    where = f"IMAP {mail.imap_host}:{mail.imap_port} ({mail.imap_security})"
    box = Mailbox(mail.imap_host, mail.imap_port, mail.imap_security, mail.username,
                  mail.password)
    try:
        box.connect()
    except MailError as exc:
        yield False, f"{where}: {explain_mail_error(mail, exc)}"
    else:
        try:
            yield True, f"{where}: logged in as {mail.username}"
            folders = {"mail.inbox": mail.inbox, "mail.sent_folder": mail.sent_folder}
            if mail.mode == "draft" or mail.drafts_folder:
                folders["mail.drafts_folder"] = mail.drafts_folder
            for key, name in folders.items():
                if not name:
                    continue
                if box.folder_exists(name):
                    yield True, f"{where}: folder {name!r} exists ({key})"
                else:
                    needed = key != "mail.drafts_folder" or mail.mode == "draft"
                    yield not needed, f"{where}: there is no folder {name!r} ({key})"
            state = box.select(mail.inbox)
            yield True, (f"{where}: custom keywords are kept ($Frontdesk marks answered mail)"
                         if state.keywords_ok else f"{where}: custom keywords are not kept; "
                         "the state database alone remembers what was answered")
            if box.supports_idle():
                yield True, f"{where}: IDLE supported: new mail is answered within seconds"
            else:
                yield True, f"{where}: no IDLE; the inbox is polled every minute instead"
        except MailError as exc:
            yield False, f"{where}: {exc}"
        finally:
            box.close()
    sender = SmtpSender(mail.smtp_host, mail.smtp_port, mail.smtp_security, mail.username,
                        mail.password)
    try:
        for line in sender.check():
            yield True, line
    except SendError as exc:
        yield False, f"SMTP {mail.smtp_host}:{mail.smtp_port}: {exc}"
    finally:
        sender.close()


def calendar_checks(config: Config) -> Iterator[CheckLine]:
    cal = config.calendar
    for url in (cal.url, *cal.busy_urls):
        label = "calendar" if url == cal.url else "busy calendar"
        connection = CalendarConnection(url, cal.username, cal.password)
        try:
            facts = connection.probe()
        except CalDAVError as exc:
            yield False, f"{label} {url}: {explain_caldav_error(url, exc)}"
            continue
        finally:
            connection.close()
        who = cal.username or "(anonymous)"
        if not facts.get("collection"):
            yield False, (f"{label} {url}: logged in as {who}, but this URL is not a calendar "
                          "(check calendar.url: it names one calendar collection)")
            continue
        yield True, f"{label} {url}: logged in as {who}, collection exists"
        if facts.get("sync_tokens"):
            yield True, f"{label} {url}: supports sync tokens (RFC 6578): incremental sync"
        else:
            yield True, (f"{label} {url}: no sync tokens; changes are found by comparing ETags "
                         "(one listing per poll)")
        if url == cal.url:
            if facts.get("scheduling"):
                yield True, (f"{label} {url}: the server does RFC 6638 scheduling; frontdesk "
                             "sends its own replies and marks them SCHEDULE-AGENT=CLIENT")
            else:
                yield True, (f"{label} {url}: no RFC 6638 scheduling; declines go to organizers "
                             "by email (iMIP)")


def template_checks(config: Config) -> Iterator[CheckLine]:
    from daemon.templates import check_templates

    problems = check_templates(config.daemon.templates_dir, config.policy)
    where = config.daemon.templates_dir or "shipped templates"
    if problems:
        for problem in problems:
            yield False, f"templates ({where}): {problem}"
    else:
        yield True, f"templates ({where}): every reply renders"


def state_checks(config: Config) -> Iterator[CheckLine]:
    """Where the service's state is, and why there: what `status`, `slots` and `explain` read."""
    state = config.daemon.state_dir
    try:
        found = "exists" if state.is_dir() and any(state.iterdir()) else \
            "not created yet: the service creates it"
    except OSError as exc:
        found = f"cannot be read here ({exc.strerror or exc})"
    yield True, f"state {state} ({config.daemon.state_dir_from}): {found}"
