"""`frontdesk check`: try every server the configuration names, one line per check."""

from __future__ import annotations

from collections.abc import Iterator

from connectors.caldav import CalDAVError, CalendarConnection

from daemon.app import explain_caldav_error
from daemon.config import Config

CheckLine = tuple[bool, str]


def run_checks(config: Config) -> Iterator[CheckLine]:
    yield from calendar_checks(config)
    yield from template_checks(config)


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
    from rules.replies import check_templates

    problems = check_templates(config.daemon.templates_dir)
    where = config.daemon.templates_dir or "shipped templates"
    if problems:
        for problem in problems:
            yield False, f"templates ({where}): {problem}"
    else:
        yield True, f"templates ({where}): every reply renders"
