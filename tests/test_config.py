"""The configuration file: every problem at once, naming the key, exit 78, no traceback."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from daemon.config import ConfigError, find_config, parse_config
from daemon.schema import KEYS

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "systemd" / "frontdesk.example.toml"

MINIMAL = """
[freelancer]
name = "Julie"
email = "julie@example.org"
timezone = "America/Toronto"
[calendar]
url = "http://127.0.0.1:5232/julie/work/"
username = "julie"
password_env = "CALPASS"
[hours]
monday = ["09:00-12:00", "13:00-17:00"]
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ=env if env is not None else {"CALPASS": "x"})
    return info.value.problems


def test_the_shipped_example_is_valid(tmp_path: Path) -> None:
    # as installed: the password files beside it, named without a folder
    for name in ("caldav-password", "mail-password"):
        (tmp_path / name).write_text("s3cret\n")
        (tmp_path / name).chmod(0o600)
    config = parse_config(EXAMPLE.read_text(), path=tmp_path / "frontdesk.toml",
                          environ={"HOME": str(tmp_path)})
    assert config.policy.freelancer.email == "julie@example.org"
    assert config.calendar.password == "s3cret"
    assert config.mail is not None and config.mail.imap_port == 993
    assert config.mail.password == "s3cret"
    assert [r.label() for r in config.policy.hours.week[0]] == ["09:00-12:00", "13:00-17:00"]
    assert 2 not in config.policy.hours.week  # wednesday left out: a day off
    assert config.policy.terms.payment.text("en").startswith("Payment is due")
    assert config.policy.terms.options.items("fr")[0] == "Payer en trois versements"
    assert config.policy.services[0].price == "95 $"
    assert config.warnings == ()


def documented_keys(text: str) -> set[str]:
    """Every "section.key" a TOML text writes or shows commented out, by the section above it."""
    found: set[str] = set()
    section = ""
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[\[?([a-z_]+)\]\]?\s*(#.*)?$", line)
        if header:
            section = header.group(1)
            continue
        assignment = re.match(r"^#?\s*([a-z_]+)\s*=", line)
        if assignment and section:
            found.add(f"{section}.{assignment.group(1)}")
    return found


def test_the_example_documents_every_key_of_the_schema_and_no_other() -> None:
    text = EXAMPLE.read_text()
    assert documented_keys(text) == {k.path for k in KEYS}
    for line in text.splitlines():
        if re.match(r"^#?\s*[a-z_]+\s*=", line):
            assert re.search(r"\s#\s", line.lstrip("#")), f"no comment says what it is: {line}"


def test_minimal_file_gets_defaults() -> None:
    config = parse_config(MINIMAL, environ={"CALPASS": "x", "HOME": "/home/j"})
    assert config.policy.booking.duration_minutes == 60
    assert config.mail is None
    assert config.daemon.state_dir == Path("/home/j/.local/state/frontdesk")
    assert repr(config.calendar.password) == "Secret('***')"


def test_state_directory_from_systemd() -> None:
    config = parse_config(MINIMAL, environ={"CALPASS": "x", "STATE_DIRECTORY": "/var/lib/fd"})
    assert config.daemon.state_dir == Path("/var/lib/fd")


def test_issue_examples_are_named_with_key_and_value() -> None:
    text = MINIMAL.replace('"America/Toronto"', '"Montreal"').replace(
        'monday = ["09:00-12:00", "13:00-17:00"]', 'monday = ["09:00-12:00", "13:00-12:00"]'
    ) + "[booking]\nduratoin_minutes = 60\n"
    found = problems(text)
    assert 'hours.monday[1]: "13:00-12:00" ends before it starts' in found
    assert "booking.duratoin_minutes: unknown key, did you mean duration_minutes?" in found
    assert any(p.startswith('freelancer.timezone: "Montreal" is not an IANA time zone')
               for p in found)
    assert len(found) == 3


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ('tuesday = ["09:00-12:00", "11:30-13:00"]', "hours.tuesday: "),
        ('tuesday = ["09:00-24:00"]', 'hours.tuesday[0]: "09:00-24:00": "24:00"'),
        ('tuesday = ["9-5"]', "hours.tuesday[0]:"),
        ('closed = ["2027-01-02/2026-12-24"]', "hours.closed[0]: "),
        ('closed = ["2027-02-30"]', "hours.closed[0]: "),
        ('tuesdy = ["09:00-12:00"]', "hours.tuesdy: unknown key, did you mean tuesday?"),
    ],
)
def test_bad_hours(snippet: str, expected: str) -> None:
    found = problems(MINIMAL + snippet + "\n")
    assert any(p.startswith(expected) for p in found), found


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("[booking]\nduration_minutes = -30\n", "booking.duration_minutes: -30 must be at least"),
        ("[booking]\nbuffer_minutes = -1\n", "booking.buffer_minutes: -1"),
        ("[booking]\ncluster = \"yes\"\n", 'booking.cluster: "yes" is not true or false'),
        ("[booking]\nslots_offered = true\n", "booking.slots_offered: true is not a whole number"),
        ("[invites]\ndecline_outside_hour = true\n", "invites.decline_outside_hour: unknown key"),
        ("[terms]\npayment = { de = \"x\" }\n", "terms.payment.de: unknown language"),
        ("[[services]]\nname = \"Massage\"\nminutes = 0\nprice = \"95 $\"\n",
         "services[0].minutes: 0 must be a positive whole number"),
        ("[clients]\nblock = [\"spam\"]\n", 'clients.block[0]: "spam" is not an address'),
        ("[daemon]\nlog_level = \"loud\"\n", 'daemon.log_level: "loud" must be one of'),
        ("[mail]\nimap_host = \"imap.example.org\"\nimap_security = \"none\"\n"
         "smtp_host = \"smtp.example.org\"\n", "mail.imap_security: \"none\" (no TLS) is only"),
        ("[mail]\nimap_host = \"imap.example.org\"\nsmtp_host = \"smtp.example.org\"\n"
         "mode = \"drafts\"\n", 'mail.mode: "drafts" must be one of "send", "draft"'),
        ("[calender]\nurl = \"x\"\n", "calender: unknown section, did you mean calendar?"),
    ],
)
def test_bad_values_name_their_key(section: str, expected: str) -> None:
    found = problems(MINIMAL + section)
    assert any(p.startswith(expected) for p in found), found


def test_plain_http_only_to_loopback() -> None:
    found = problems(MINIMAL.replace("http://127.0.0.1:5232", "http://dav.example.org"))
    assert any(p.startswith("calendar.url: ") and "https" in p for p in found)


def test_missing_required_sections_all_reported() -> None:
    found = problems("[freelancer]\nname = \"J\"\n")
    assert "calendar: the [calendar] section is required" in found
    assert "hours: the [hours] section is required" in found
    assert "freelancer.email: is required" in found
    assert "freelancer.timezone: is required" in found


def test_secret_sources(tmp_path: Path) -> None:
    loose = tmp_path / "loose"
    loose.write_text("pw\n")
    loose.chmod(0o644)
    config = parse_config(MINIMAL.replace('password_env = "CALPASS"',
                                          f'password_file = "{loose}"'), environ={})
    assert config.calendar.password == "pw"
    assert any("readable by group or others" in w for w in config.warnings)
    # systemd credentials: a relative password_file, or the conventional credential name
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "caldav-password").write_text("fromcred")
    config = parse_config(MINIMAL.replace('password_env = "CALPASS"\n', ""),
                          environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.calendar.password == "fromcred"
    assert problems(MINIMAL, env={}) == ["calendar.password_env: the environment variable "
                                         "CALPASS is not set"]
    missing = problems(MINIMAL.replace('password_env = "CALPASS"',
                                       f'password_file = "{tmp_path}/nope"'), env={})
    assert missing[0].startswith("calendar.password_file: cannot read")
    config = parse_config(MINIMAL.replace('password_env = "CALPASS"', 'password = "inline"'),
                          environ={})
    assert any(w.startswith("calendar.password:") for w in config.warnings)


def test_find_config_order(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user = home / ".config" / "frontdesk" / "frontdesk.toml"
    user.parent.mkdir(parents=True)
    user.write_text(MINIMAL)
    explicit = tmp_path / "x.toml"
    explicit.write_text(MINIMAL)
    env = {"HOME": str(home), "FRONTDESK_CONFIG": str(explicit)}
    assert find_config(None, env) == explicit
    assert find_config(str(explicit), {"HOME": str(home)}) == explicit
    assert find_config(None, {"HOME": str(home)}) == user
    with pytest.raises(ConfigError) as info:
        find_config(str(tmp_path / "absent.toml"), env)
    assert info.value.problems == [
        f"the file {tmp_path}/absent.toml does not exist or is not readable "
        f"(`frontdesk init --config {tmp_path}/absent.toml` writes one)"]


def test_cli_bad_config_exits_78_with_every_problem(frontdesk_bin: str, tmp_path: Path,
                                                    clean_env: dict[str, str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(MINIMAL.replace('"America/Toronto"', '"Montreal"')
                   + "[booking]\nduratoin_minutes = 60\nbuffer_minutes = -1\n")
    for command in (["check", "--offline"], ["slots"]):
        result = subprocess.run([frontdesk_bin, "--config", str(bad), *command],
                                capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                                timeout=60)
        assert result.returncode == 78, result.stderr
        assert "Traceback" not in result.stderr
        assert "freelancer.timezone" in result.stderr
        assert "booking.duratoin_minutes: unknown key, did you mean duration_minutes?" \
            in result.stderr
        assert "booking.buffer_minutes" in result.stderr
        assert "has 3 problems" in result.stderr


def test_cli_not_toml_and_missing_file(frontdesk_bin: str, tmp_path: Path,
                                       clean_env: dict[str, str]) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text("[freelancer\nname = ")
    result = subprocess.run([frontdesk_bin, "--config", str(broken), "check", "--offline"],
                            capture_output=True, text=True, env=clean_env, timeout=60)
    assert result.returncode == 78 and "not valid TOML" in result.stderr
    result = subprocess.run([frontdesk_bin, "check", "--offline"], capture_output=True,
                            text=True, env=clean_env, timeout=60)
    assert result.returncode == 78 and "no configuration file found" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_check_offline_ok(frontdesk_bin: str, tmp_path: Path,
                              clean_env: dict[str, str]) -> None:
    good = tmp_path / "good.toml"
    good.write_text(MINIMAL)
    env = dict(clean_env, CALPASS="x", FRONTDESK_CONFIG=str(good))
    result = subprocess.run([frontdesk_bin, "check", "--offline"], capture_output=True,
                            text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
    assert os.fspath(good) in result.stdout


def test_a_broken_own_template_stops_start_up_with_78(frontdesk_bin: str, tmp_path: Path,
                                                      clean_env: dict[str, str]) -> None:
    own = tmp_path / "templates"
    own.mkdir()
    (own / "booking.fr.txt.j2").write_text("Bonjour {{ clinet_name }}\n{% for s in slots %}")
    config = tmp_path / "c.toml"
    config.write_text(MINIMAL + f'[daemon]\ntemplates_dir = "{own}"\nstate_dir = "{tmp_path}/s"\n')
    for command in (["once"], ["run"]):
        result = subprocess.run([frontdesk_bin, "--config", str(config), *command],
                                capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                                timeout=60)
        assert result.returncode == 78, result.stderr
        assert "daemon.templates_dir:" in result.stderr and "booking.fr.txt.j2" in result.stderr
        assert "Traceback" not in result.stderr


def test_unusable_state_dir_is_one_sentence(frontdesk_bin: str, tmp_path: Path,
                                            clean_env: dict[str, str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    config = tmp_path / "c.toml"
    config.write_text(MINIMAL + f'[daemon]\nstate_dir = "{blocker}/state"\n')
    result = subprocess.run([frontdesk_bin, "--config", str(config), "slots"],
                            capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                            timeout=60)
    assert result.returncode == 78
    assert result.stderr.startswith("frontdesk: daemon.state_dir: cannot use")
    assert "Traceback" not in result.stderr


# --- The new keys (issues 9, 11) -----------------------------------------------------------------


def test_new_keys_have_their_defaults() -> None:
    config = parse_config(MINIMAL + '[mail]\nimap_host = "127.0.0.1"\nsmtp_host = "127.0.0.1"\n'
                          '[[services]]\nname = "Certified translation, per page"\n'
                          'price = "35 €"\n', environ={"CALPASS": "x"})
    assert config.mail is not None
    assert config.mail.authserv_ids == ()
    assert config.mail.max_message_bytes == 25 * 1024 * 1024
    limits = config.policy.limits
    assert (limits.per_hour, limits.per_day, limits.per_sender_per_day, limits.repeat_days,
            limits.declines_per_organizer_per_day) == (30, 200, 3, 1, 10)
    assert config.policy.booking.hold_hours == 24
    assert config.policy.booking.new_client_days == ()
    assert config.policy.terms.cancellation_notice_hours == 24
    assert config.policy.clients.unpaid == ()
    # issue 11 item 13: a service without minutes has no duration (it was 60, shown to clients)
    assert config.policy.services[0].minutes is None
    assert config.policy.booking.duration_minutes == 60


def test_new_keys_are_read() -> None:
    text = MINIMAL + """thursday = ["09:00-12:00"]
[mail]
imap_host = "127.0.0.1"
smtp_host = "127.0.0.1"
authserv_ids = ["MX.Example.org", "mx2.example.org"]
max_message_mb = 0.5
[booking]
hold_hours = 0
new_client_days = ["Thursday", "monday"]
[limits]
per_hour = 5
per_day = 20
per_sender_per_day = 2
repeat_days = 0
declines_per_organizer_per_day = 1
[terms]
cancellation_notice_hours = 48.5
[clients]
unpaid = ["Bob@Example.com", "*@late.example"]
[[services]]
name = "Massage"
minutes = 30
"""
    config = parse_config(text, environ={"CALPASS": "x"})
    assert config.mail is not None
    assert config.mail.authserv_ids == ("mx.example.org", "mx2.example.org")
    assert config.mail.max_message_bytes == 512 * 1024
    assert config.policy.limits.per_hour == 5 and config.policy.limits.repeat_days == 0
    assert config.policy.limits.declines_per_organizer_per_day == 1
    assert config.policy.booking.hold_hours == 0
    assert config.policy.booking.new_client_days == (3, 0)
    assert config.policy.terms.cancellation_notice_hours == 48.5
    assert config.policy.clients.unpaid == ("bob@example.com", "*@late.example")
    assert config.policy.services[0].minutes == 30
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('[mail]\nimap_host = "127.0.0.1"\nsmtp_host = "127.0.0.1"\nauthserv_ids = "mx"\n',
         'mail.authserv_ids: "mx" is not a list'),
        ('[mail]\nimap_host = "127.0.0.1"\nsmtp_host = "127.0.0.1"\n'
         'authserv_ids = ["mx.example.org; spf=pass"]\n',
         'mail.authserv_ids[0]: "mx.example.org; spf=pass" is not an authserv-id'),
        ('[mail]\nimap_host = "127.0.0.1"\nsmtp_host = "127.0.0.1"\nmax_message_mb = 0\n',
         "mail.max_message_mb: 0 must be more than 0"),
        ("[booking]\nhold_hours = -1\n", "booking.hold_hours: -1 must be at least 0"),
        ('[booking]\nnew_client_days = ["mondy"]\n',
         'booking.new_client_days[0]: "mondy" is not a day of the week, did you mean monday?'),
        ("[limits]\nper_hour = 0\n", "limits.per_hour: 0 must be at least 1"),
        ("[limits]\nrepeat_days = -1\n", "limits.repeat_days: -1 must be at least 0"),
        ("[limits]\nper_dya = 3\n", "limits.per_dya: unknown key, did you mean per_day?"),
        ("[limits]\ndeclines_per_organizer_per_day = 1.5\n",
         "limits.declines_per_organizer_per_day: 1.5 is not a whole number"),
        ('[terms]\ncancellation_notice_hours = "24h"\n',
         'terms.cancellation_notice_hours: "24h" is not a number'),
        ('[clients]\nunpaid = ["nobody"]\n', 'clients.unpaid[0]: "nobody" is not an address'),
        ('[[services]]\nname = "Massage"\nminutes = 0\n',
         "services[0].minutes: 0 must be a positive whole number"),
        ('[[services]]\nprice = "95 $"\n', "services[0].name: is required"),
        ('[[services]]\nname = "Massage"\nminuts = 30\n',
         "services[0].minuts: unknown key, did you mean minutes?"),
        ('[mail]\nimap_host = "127.0.0.1"\nsmtp_host = "127.0.0.1"\ninbox = ""\n',
         "mail.inbox: must name a folder"),
        ('[mail]\nimap_host = " "\nsmtp_host = "127.0.0.1"\n', "mail.imap_host: must name a host"),
    ],
)
def test_bad_new_values_name_their_key(section: str, expected: str) -> None:
    found = problems(MINIMAL + section)
    assert any(p.startswith(expected) for p in found), found


def test_a_new_client_day_that_is_a_day_off_is_a_warning() -> None:
    config = parse_config(MINIMAL + '[booking]\nnew_client_days = ["sunday"]\n',
                          environ={"CALPASS": "x"})
    assert config.warnings == ("booking.new_client_days: sunday is not a working day in [hours]: "
                               "no time is offered on it",)


@pytest.mark.parametrize("zone", ["GMT+1", "UTC+2", "gmt-5", "+01:00"])
def test_issue_11_9_an_offset_zone_gets_no_other_offset_suggested(zone: str) -> None:
    found = problems(MINIMAL.replace('"America/Toronto"', f'"{zone}"'))
    assert len(found) == 1 and found[0].startswith(f'freelancer.timezone: "{zone}" is not an IANA')
    assert "did you mean" not in found[0]
    assert "name the place" in found[0]


def test_a_misspelt_zone_still_gets_its_suggestion() -> None:
    found = problems(MINIMAL.replace('"America/Toronto"', '"America/Torontoo"'))
    assert found == ['freelancer.timezone: "America/Torontoo" is not an IANA time zone, '
                     "did you mean America/Toronto?"]


@pytest.mark.parametrize("url", ["https://julie:S3cret@dav.example.org/julie/work/",
                                 "http://julie:S3cret@127.0.0.1:5232/julie/work/",
                                 "https://julie@dav.example.org/julie/work/"])
def test_issue_9_8_credentials_in_a_calendar_url_are_refused_and_never_shown(url: str) -> None:
    found = problems(MINIMAL.replace('"http://127.0.0.1:5232/julie/work/"', f'"{url}"'))
    assert len(found) == 1, found
    assert found[0].startswith("calendar.url: ")
    assert "holds a username or password" in found[0] and "calendar.password_file" in found[0]
    assert "S3cret" not in found[0] and "julie@" not in found[0]


def test_issue_9_8_credentials_in_a_busy_url_are_refused() -> None:
    text = MINIMAL.replace('password_env = "CALPASS"',
                           'password_env = "CALPASS"\n'
                           'busy_urls = ["https://j:S3cret@dav.example.org/j/other/"]')
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("calendar.busy_urls[0]: ")
    assert "S3cret" not in found[0]


# --- A missing password is a configuration error (issue 11, item 9) ------------------------------

REMOTE_MAIL = ('[mail]\nimap_host = "imap.example.org"\nsmtp_host = "smtp.example.org"\n')


def test_issue_11_9_a_missing_mail_password_is_a_problem_naming_the_key() -> None:
    found = problems(MINIMAL + REMOTE_MAIL)
    assert found == ["mail.password_file: is required: no mail password is given, and "
                     "imap.example.org is not on this machine (or set mail.password_env, or hand "
                     "over a systemd credential named mail-password)"]


def test_issue_11_9_a_missing_calendar_password_is_a_problem_naming_the_key() -> None:
    text = MINIMAL.replace('"http://127.0.0.1:5232/julie/work/"',
                           '"https://dav.example.org/julie/work/"').replace(
        'password_env = "CALPASS"\n', "")
    found = problems(text)
    assert len(found) == 1 and found[0].startswith("calendar.password_file: is required")
    assert "dav.example.org" in found[0]


def test_a_loopback_server_may_take_no_password(tmp_path: Path) -> None:
    text = MINIMAL.replace('password_env = "CALPASS"\n', "") + (
        '[mail]\nimap_host = "127.0.0.1"\nsmtp_host = "localhost"\n')
    config = parse_config(text, environ={})
    assert config.calendar.password is None
    assert config.mail is not None and config.mail.password is None
    # a credential the unit hands over is enough too
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mail-password").write_text("m\n")
    config = parse_config(MINIMAL + REMOTE_MAIL, environ={"CALPASS": "x",
                                                          "CREDENTIALS_DIRECTORY": str(creds)})
    assert config.mail is not None and config.mail.password == "m"


def test_cli_check_offline_refuses_a_missing_secret(frontdesk_bin: str, tmp_path: Path,
                                                    clean_env: dict[str, str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text(MINIMAL + REMOTE_MAIL)
    result = subprocess.run([frontdesk_bin, "--config", str(config), "check", "--offline"],
                            capture_output=True, text=True, env=dict(clean_env, CALPASS="x"),
                            timeout=60)
    assert result.returncode == 78, result.stdout + result.stderr
    assert "mail.password_file: is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_two_password_sources_are_one_problem() -> None:
    found = problems(MINIMAL.replace('password_env = "CALPASS"',
                                     'password_env = "CALPASS"\npassword = "x"'))
    assert len(found) == 1 and found[0].startswith("calendar.password_env: give only one of")


# --- Where the configuration is found, where the state is (issue 11, items 1, 2, 4) --------------


def test_the_unit_hands_the_configuration_over_as_a_credential(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "frontdesk.toml").write_text(MINIMAL)
    home = tmp_path / "home"
    env = {"HOME": str(home), "CREDENTIALS_DIRECTORY": str(creds)}
    assert find_config(None, env) == creds / "frontdesk.toml"
    # --config and $FRONTDESK_CONFIG still win
    other = tmp_path / "other.toml"
    other.write_text(MINIMAL)
    assert find_config(str(other), env) == other
    assert find_config(None, dict(env, FRONTDESK_CONFIG=str(other))) == other


def test_no_configuration_names_where_it_looked_and_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_config(None, {"HOME": str(tmp_path), "CREDENTIALS_DIRECTORY": str(tmp_path / "c")})
    message = info.value.problems[0]
    assert message.startswith("no configuration file found (looked at ")
    for where in (tmp_path / "c" / "frontdesk.toml", tmp_path / ".config/frontdesk/frontdesk.toml",
                  "/etc/frontdesk/frontdesk.toml"):
        assert str(where) in message
    assert "frontdesk init" in message and "frontdesk.example.toml" in message


@pytest.mark.parametrize(
    ("path", "env", "expected"),
    [
        ("/etc/frontdesk/frontdesk.toml", {}, "/var/lib/frontdesk"),
        ("/etc/frontdesk/julie.toml", {}, "/var/lib/frontdesk-julie"),
        ("/etc/frontdesk/../frontdesk/julie.toml", {}, "/var/lib/frontdesk-julie"),
        ("/home/j/.config/frontdesk/frontdesk.toml", {"HOME": "/home/j"},
         "/home/j/.local/state/frontdesk"),
        ("/home/j/.config/frontdesk/frontdesk.toml",
         {"HOME": "/home/j", "XDG_STATE_HOME": "/home/j/state"}, "/home/j/state/frontdesk"),
        ("/run/credentials/frontdesk.service/frontdesk.toml",
         {"STATE_DIRECTORY": "/var/lib/frontdesk"}, "/var/lib/frontdesk"),
        ("/etc/frontdesk/frontdesk.toml", {"STATE_DIRECTORY": "/var/lib/x:/var/lib/y"},
         "/var/lib/x"),
    ],
)
def test_issue_11_2_the_state_of_the_service_this_configuration_runs(
        path: str, env: dict[str, str], expected: str) -> None:
    config = parse_config(MINIMAL, path=Path(path), environ=dict(env, CALPASS="x"))
    assert config.daemon.state_dir == Path(expected)
    assert config.daemon.state_dir_from != "daemon.state_dir"
    explicit = parse_config(MINIMAL + '[daemon]\nstate_dir = "/srv/fd"\n', path=Path(path),
                            environ=dict(env, CALPASS="x"))
    assert explicit.daemon.state_dir == Path("/srv/fd")
    assert explicit.daemon.state_dir_from == "daemon.state_dir"


def test_a_password_file_the_unit_did_not_find_is_named(tmp_path: Path) -> None:
    # the units hand a missing password file over as an empty line (SetCredential=)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mail-password").write_text("\n")
    text = MINIMAL + REMOTE_MAIL + 'password_file = "mail-password"\n'
    found = problems(text, env={"CALPASS": "x", "CREDENTIALS_DIRECTORY": str(creds)})
    assert found == [f"mail.password_file: {creds}/mail-password is empty (the unit hands over an "
                     "empty credential mail-password when the file its LoadCredential= names is "
                     "missing)"]
    # with no key at all, an empty conventional credential is no password: the key is named
    found = problems(MINIMAL + REMOTE_MAIL,
                     env={"CALPASS": "x", "CREDENTIALS_DIRECTORY": str(creds)})
    assert len(found) == 1 and found[0].startswith("mail.password_file: is required")


def test_an_absolute_password_file_under_systemd_says_how_to_name_it(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    found = problems(MINIMAL.replace('password_env = "CALPASS"',
                                     'password_file = "/nonexistent/caldav-password"'),
                     env={"CREDENTIALS_DIRECTORY": str(creds)})
    assert found[0].startswith("calendar.password_file: cannot read /nonexistent/caldav-password")
    assert 'write password_file = "caldav-password"' in found[0]
