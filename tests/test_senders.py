"""rules/senders.py: where an automatic reply may go (STANDARDS §1 "Where a reply goes";
RFC 8601, RFC 7489, RFC 3834 §4), over the Authentication-Results shapes real servers write."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.mailparse import parse_message
from rules.model import InboundMessage
from rules.senders import (
    Confidence,
    ReplyTarget,
    ascii_domain,
    canonical_address,
    organizational_domain,
    rate_key,
    reply_target,
)

CLIENT = "marie@client.example"


def inbound(
    *results: str,
    sender: str = CLIENT,
    return_path: str | None = CLIENT,
    reply_to: str = "",
    other: tuple[tuple[str, str], ...] = (),
) -> InboundMessage:
    """A message as mailparse decodes it: every header (lower-cased name, one-line value), the
    Authentication-Results first, in the order given (the topmost first)."""
    headers = tuple(("authentication-results", " ".join(r.split())) for r in results)
    return InboundMessage(
        message_id="m@client.example",
        from_address=sender,
        reply_to=reply_to,
        return_path=return_path,
        headers=(*headers, *other, ("from", sender)),
    )


def judged(msg: InboundMessage, *trusted: str) -> ReplyTarget:
    target = reply_target(msg, trusted)
    assert "\n" not in target.reason and target.reason
    assert (target.address is None) == (
        target.confidence in (Confidence.UNVERIFIED, Confidence.FORGED)
    )
    return target


# --- Real receiving servers ---------------------------------------------------------------------

GMAIL_PASS = """mx.google.com;
       dkim=pass header.i=@client.example header.s=s1 header.b=AbCdEf12;
       spf=pass (google.com: domain of marie@client.example designates 203.0.113.5 as
       permitted sender) smtp.mailfrom=marie@client.example;
       dmarc=pass (p=QUARANTINE sp=QUARANTINE dis=NONE) header.from=client.example"""

GMAIL_FORGED = """mx.google.com;
       spf=pass (google.com: domain of a@evil.example designates 198.51.100.7 as permitted
       sender) smtp.mailfrom=a@evil.example;
       dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=client.example"""

OFFICE365 = """spf=pass (sender IP is 203.0.113.5) smtp.mailfrom=client.example; dkim=pass
       (signature was verified) header.d=client.example;dmarc=pass action=none
       header.from=client.example;compauth=pass reason=100"""

FASTMAIL = """mx3.messagingengine.com;
    dkim=pass (2048-bit rsa key sha256) header.d=client.example header.i=@client.example
      header.b=Kx7aBc header.a=rsa-sha256 header.s=fm2 x-bits=2048;
    dmarc=pass policy.published-domain-policy=reject policy.published-subdomain-policy=reject
      policy.applied-disposition=none policy.evaluated-disposition=none
      (p=reject,sp=reject,d=none,d.eval=none) policy.policy-from=p header.from=client.example;
    iprev=pass smtp.remote-ip=203.0.113.5 (mail.client.example);
    spf=pass smtp.mailfrom=marie@client.example smtp.helo=mail.client.example;
    x-aligned-from=pass (Address match);
    x-me-sender=none;
    x-ptr=pass smtp.helo=mail.client.example policy.ptr=mail.client.example;
    x-return-mx=pass header.domain=client.example policy.is_org=yes
      (MX Records found: mx1.client.example,mx2.client.example);
    x-tls=pass smtp.version=TLSv1.3 smtp.cipher=TLS_AES_256_GCM_SHA384 smtp.bits=256/256;
    x-vs=clean score=-100 state=0"""

RSPAMD = """mail.freelance.example;
	dkim=pass header.d=client.example header.s=dkim header.b=XyZ12;
	spf=pass (mail.freelance.example: domain of "marie@client.example" designates 203.0.113.5
	as permitted sender) smtp.mailfrom=marie@client.example;
	dmarc=pass (policy=none) header.from=client.example"""

# Postfix with three milters: each writes its own instance; OpenDMARC's ends up on top.
OPENDMARC = "mail.freelance.example; dmarc=pass (p=none dis=none) header.from=client.example"
POLICYD_SPF = "mail.freelance.example; spf=pass smtp.mailfrom=client.example"
OPENDKIM = """mail.freelance.example;
	dkim=pass (2048-bit key; unprotected) header.d=client.example header.i=@client.example
	header.b="AbCd1234"; dkim-atps=neutral"""


@pytest.mark.parametrize(
    ("results", "trusted"),
    [
        ((GMAIL_PASS,), "mx.google.com"),
        ((FASTMAIL,), "mx3.messagingengine.com"),
        ((RSPAMD,), "mail.freelance.example"),
        ((OPENDMARC, POLICYD_SPF, OPENDKIM), "mail.freelance.example"),
    ],
    ids=["gmail", "fastmail", "dovecot-rspamd", "postfix-opendmarc"],
)
def test_rfc8601_trusted_dmarc_pass_is_authenticated(
    results: tuple[str, ...], trusted: str
) -> None:
    # An envelope from elsewhere does not matter once the From domain is authenticated.
    target = judged(inbound(*results, return_path="bounce-77@esp.example"), trusted)
    assert target == ReplyTarget(CLIENT, Confidence.AUTHENTICATED, target.reason)
    assert "DMARC passed for client.example" in target.reason
    assert trusted in target.reason


def test_rfc8601_authserv_id_is_compared_case_insensitively() -> None:
    target = judged(inbound(GMAIL_PASS), "MX.Google.COM")
    assert target.confidence is Confidence.AUTHENTICATED


def test_rfc8601_result_version_number_is_read() -> None:
    value = "mx.google.com 1; dmarc=pass header.from=client.example"
    assert judged(inbound(value), "mx.google.com").confidence is Confidence.AUTHENTICATED
    # An unknown version cannot be read: nothing is assumed from it.
    unknown = "mx.google.com 2; dmarc=pass header.from=client.example"
    assert judged(inbound(unknown), "mx.google.com").confidence is Confidence.UNVERIFIED


def test_rfc7489_trusted_dmarc_fail_is_forged_and_sends_nothing() -> None:
    target = judged(inbound(GMAIL_FORGED, return_path="a@evil.example"), "mx.google.com")
    assert (target.address, target.confidence) == (None, Confidence.FORGED)
    assert target.reason == (
        "mx.google.com says DMARC failed for client.example: the From address is forged"
    )


def test_dmarc_fail_wins_over_an_aligned_dkim_pass() -> None:
    # adkim=s: the domain owner wants strict alignment; their verdict beats our relaxed one.
    value = (
        "mx.google.com; dkim=pass header.d=client.example; "
        "dmarc=fail (p=REJECT) header.from=mail.client.example"
    )
    msg = inbound(
        value, sender="marie@mail.client.example", return_path="marie@mail.client.example"
    )
    assert judged(msg, "mx.google.com").confidence is Confidence.FORGED


def test_dmarc_fail_without_header_from_is_still_forged() -> None:
    target = judged(inbound("mx.google.com; dmarc=fail"), "mx.google.com")
    assert target.confidence is Confidence.FORGED


def test_dmarc_pass_without_header_from_is_not_enough() -> None:
    # Which From did the server judge? Without header.from the pass proves nothing about ours.
    target = judged(
        inbound("mx.google.com; dmarc=pass", return_path="x@esp.example"), "mx.google.com"
    )
    assert target.confidence is Confidence.UNVERIFIED


def test_dmarc_judged_for_another_from_domain_is_unverified() -> None:
    # Two From headers: the server judged the other one.
    value = "mx.google.com; dmarc=pass header.from=evil.example"
    target = judged(inbound(value), "mx.google.com")
    assert target.confidence is Confidence.UNVERIFIED
    assert "evil.example" in target.reason and "client.example" in target.reason


# --- SPF and DKIM alignment (RFC 7489 §3.1, relaxed) --------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "mx.google.com; dkim=pass header.d=client.example; dmarc=none header.from=client.example",
        "mx.google.com; dkim=pass header.i=@client.example",
        "mx.google.com; spf=pass smtp.mailfrom=bounces@client.example",
        "mx.google.com; spf=pass smtp.mailfrom=mail.client.example",
        # the subdomain a bulk sender signs with belongs to the same organization
        "mx.google.com; dkim=pass header.d=news.client.example",
    ],
)
def test_rfc7489_aligned_spf_or_dkim_pass_is_authenticated(value: str) -> None:
    target = judged(inbound(value, return_path="x@esp.example"), "mx.google.com")
    assert (target.address, target.confidence) == (CLIENT, Confidence.AUTHENTICATED)
    assert "aligned" in target.reason


def test_rfc7489_subdomain_from_aligns_with_the_organizational_domain() -> None:
    msg = inbound(
        "mx.google.com; dkim=pass header.d=client.example",
        sender="marie@eu.mail.client.example",
        return_path="x@esp.example",
    )
    assert judged(msg, "mx.google.com").address == "marie@eu.mail.client.example"


@pytest.mark.parametrize(
    ("sender", "signer"),
    [
        ("ceo@bank.example", "bank.example.evil.net"),  # the name inside another domain
        ("ceo@bank.example", "bank-example.com"),
        ("ceo@bank.example", "bank.examp1e"),
        ("ceo@bank.co.uk", "evil.co.uk"),  # a public suffix is no organization
        ("alice@alice.github.io", "mallory.github.io"),  # nor is a private-section suffix
        ("ceo@apple.com", "xn--pple-43d.com"),  # Cyrillic а: a homograph
        ("ceo@xn--pple-43d.com", "apple.com"),
    ],
)
def test_look_alike_signers_do_not_align(sender: str, signer: str) -> None:
    msg = inbound(
        f"mx.google.com; dkim=pass header.d={signer}; spf=pass smtp.mailfrom={signer}",
        sender=sender,
        return_path=f"bounce@{signer}",
    )
    target = judged(msg, "mx.google.com")
    assert (target.address, target.confidence) == (None, Confidence.UNVERIFIED)


def test_a_domain_inside_an_attackers_domain_is_the_attackers() -> None:
    # bank.example.evil.net really is evil.net's: answering it reaches whoever wrote it.
    msg = inbound(
        "mx.google.com; dkim=pass header.d=evil.net",
        sender="ceo@bank.example.evil.net",
        return_path="x@esp.example",
    )
    assert judged(msg, "mx.google.com").address == "ceo@bank.example.evil.net"


def test_failed_or_neutral_results_vouch_for_nothing() -> None:
    value = (
        "mx.google.com; dkim=fail header.d=client.example; spf=neutral "
        "smtp.mailfrom=client.example; dkim=temperror header.d=client.example; "
        "dmarc=none header.from=client.example"
    )
    target = judged(inbound(value, return_path="x@esp.example"), "mx.google.com")
    assert target.confidence is Confidence.UNVERIFIED


# --- IDN domains --------------------------------------------------------------------------------


def test_idn_from_domain_matches_its_a_label_in_the_results() -> None:
    # mailparse gives A-labels; a server may write either form.
    for sender, written in [
        ("marie@xn--bcher-kva.example", "bücher.example"),
        ("marie@bücher.example", "xn--bcher-kva.example"),
        ("marie@xn--bcher-kva.example", "BÜCHER.example"),
    ]:
        msg = inbound(
            f"mx.google.com; dmarc=pass header.from={written}",
            sender=sender,
            return_path="x@esp.example",
        )
        target = judged(msg, "mx.google.com")
        assert (target.address, target.confidence) == (sender, Confidence.AUTHENTICATED)


def test_idn_reply_to_in_the_same_organization() -> None:
    msg = inbound(
        "mx.google.com; dkim=pass header.d=xn--e1afmkfd.xn--p1ai",
        sender="anna@пример.рф",
        reply_to="office@почта.пример.рф",
        return_path="x@esp.example",
    )
    assert judged(msg, "mx.google.com").address == "office@почта.пример.рф"


def test_non_ascii_in_a_trusted_header_does_not_make_it_unreadable() -> None:
    value = (
        "mx.google.com; spf=fail (domaine de clïent@exämple.example) "
        "smtp.mailfrom=clïent@exämple.example; dmarc=fail header.from=client.example"
    )
    assert judged(inbound(value), "mx.google.com").confidence is Confidence.FORGED


# --- Reply-To -----------------------------------------------------------------------------------


def test_authenticated_reply_to_in_the_same_organization_is_answered() -> None:
    msg = inbound(GMAIL_PASS, reply_to="bookings@office.client.example")
    target = judged(msg, "mx.google.com")
    assert (target.address, target.confidence) == (
        "bookings@office.client.example",
        Confidence.AUTHENTICATED,
    )


def test_authenticated_reply_to_elsewhere_is_not_answered_from_is() -> None:
    msg = inbound(GMAIL_PASS, reply_to="assistant@gmail.example")
    target = judged(msg, "mx.google.com")
    assert (target.address, target.confidence) == (CLIENT, Confidence.AUTHENTICATED)
    assert "Reply-To assistant@gmail.example is elsewhere" in target.reason


def test_reply_to_is_never_answered_on_an_unauthenticated_message() -> None:
    same_org = inbound(reply_to="bookings@client.example")
    target = judged(same_org)
    assert (target.address, target.confidence) == (CLIENT, Confidence.ENVELOPE)
    assert "Reply-To bookings@client.example is not vouched for" in target.reason


# --- Forged and untrusted instances --------------------------------------------------------------

FORGED_PASS = (
    "mx.google.com; dmarc=pass header.from=client.example; dkim=pass header.d=client.example"
)


@pytest.mark.parametrize("where", ["above", "below"])
def test_rfc8601_untrusted_authserv_id_is_ignored_above_or_below(where: str) -> None:
    fake = "mail.freelance.example; dmarc=pass header.from=client.example"
    real = "mx.google.com; dmarc=fail header.from=client.example"
    order = (fake, real) if where == "above" else (real, fake)
    assert judged(inbound(*order), "mx.google.com").confidence is Confidence.FORGED
    # and a fake pass never authenticates a spoofed From on its own
    spoof = inbound(fake, return_path="a@evil.example")
    assert judged(spoof, "mx.google.com").confidence is Confidence.UNVERIFIED


def test_rfc8601_only_the_topmost_trusted_instance_counts() -> None:
    # The sender wrote a trusted-looking instance into their message; the server's own is above.
    real = (
        "mx.google.com; spf=none smtp.mailfrom=evil.example; dmarc=none header.from=client.example"
    )
    msg = inbound(real, FORGED_PASS, return_path="a@evil.example")
    target = judged(msg, "mx.google.com")
    assert (target.address, target.confidence) == (None, Confidence.UNVERIFIED)
    # The same forged instance above a real fail (impossible for a server that adds its own on
    # top, but a misordered list must not turn a fail into a pass either way round).
    assert judged(inbound(GMAIL_FORGED, FORGED_PASS), "mx.google.com").confidence is (
        Confidence.FORGED
    )


def test_office365_results_carry_no_authserv_id_and_are_never_trusted() -> None:
    # Exchange Online writes no authserv-id: nothing names it, so nothing can trust it.
    for trusted in ("spf=pass", "outlook.com", "protection.outlook.com"):
        spoof = judged(inbound(OFFICE365, return_path="a@evil.example"), trusted)
        assert spoof.confidence is Confidence.UNVERIFIED
    # the envelope still answers a From that is the envelope sender
    assert judged(inbound(OFFICE365), "outlook.com").confidence is Confidence.ENVELOPE


def test_spoofed_from_with_the_attackers_envelope_is_unverified() -> None:
    msg = inbound(
        sender="ceo@bank.example",
        return_path="attacker@evil.example",
        reply_to="attacker@evil.example",
    )
    target = judged(msg, "mx.google.com")
    assert (target.address, target.confidence) == (None, Confidence.UNVERIFIED)
    assert target.reason == (
        "no trusted Authentication-Results; From ceo@bank.example is neither the envelope "
        "sender attacker@evil.example nor in its domain"
    )


def test_spoofed_envelope_disowned_by_trusted_spf_is_unverified() -> None:
    # From and envelope both forged: SPF failed for that envelope, so it vouches for nothing.
    value = (
        "mx.google.com; spf=fail smtp.mailfrom=ceo@bank.example; "
        "dmarc=none header.from=bank.example"
    )
    msg = inbound(value, sender="ceo@bank.example", return_path="ceo@bank.example")
    target = judged(msg, "mx.google.com")
    assert (target.address, target.confidence) == (None, Confidence.UNVERIFIED)
    assert "SPF fail for the envelope sender" in target.reason
    softfail = inbound(
        value.replace("spf=fail", "spf=softfail"),
        sender="ceo@bank.example",
        return_path="ceo@bank.example",
    )
    assert judged(softfail, "mx.google.com").confidence is Confidence.UNVERIFIED


def test_unreadable_trusted_instance_is_unverified_not_envelope() -> None:
    # The receiving server's own verdict is unreadable: it is not treated as absent.
    for garbage in (
        "mx.google.com; dmarc",
        "mx.google.com;;;",
        "mx.google.com; ((((",
    ):
        target = judged(inbound(garbage), "mx.google.com")
        assert target.confidence is Confidence.UNVERIFIED
        assert "could not be read" in target.reason


def test_trusted_instance_with_no_verdict_falls_back_on_the_envelope() -> None:
    target = judged(inbound("mx.google.com; none"), "mx.google.com")
    assert (target.address, target.confidence) == (CLIENT, Confidence.ENVELOPE)
    assert target.reason.startswith("mx.google.com vouched for nothing about client.example")


def test_no_trusted_authserv_id_configured_ignores_every_instance() -> None:
    msg = inbound(GMAIL_PASS, return_path="x@esp.example")
    target = judged(msg)
    assert target.confidence is Confidence.UNVERIFIED
    assert target.reason.startswith("no trusted authserv-id configured")


# --- The envelope (Pigeonhole's rule) -----------------------------------------------------------


@pytest.mark.parametrize(
    ("sender", "return_path", "reply_to", "expected"),
    [
        (CLIENT, CLIENT, "", Confidence.ENVELOPE),
        ("Marie@Client.Example", "marie@client.example", "", Confidence.ENVELOPE),
        (CLIENT, "marie+bounce@client.example", "", Confidence.ENVELOPE),
        ("marie+news@client.example", CLIENT, "", Confidence.ENVELOPE),
        (CLIENT, "bounces@mail.client.example", "", Confidence.ENVELOPE),
        (CLIENT, "bounces@client.example", "marie@client.example", Confidence.ENVELOPE),
        (CLIENT, "bounces@client.example", "other@client.example", Confidence.UNVERIFIED),
        (CLIENT, "bounce-123@mcsv.example", "", Confidence.UNVERIFIED),
        (CLIENT, "marie@client.example.evil.net", "", Confidence.UNVERIFIED),
        ("marie@xn--bcher-kva.example", "marie@bücher.example", "", Confidence.ENVELOPE),
    ],
)
def test_rfc3834_4_envelope_fallback(
    sender: str, return_path: str, reply_to: str, expected: Confidence
) -> None:
    target = judged(inbound(sender=sender, return_path=return_path, reply_to=reply_to))
    assert target.confidence is expected
    assert target.address == (sender if expected is Confidence.ENVELOPE else None)


@pytest.mark.parametrize(
    ("return_path", "why"), [(None, "no Return-Path"), ("", "null Return-Path")]
)
def test_missing_or_null_return_path_is_never_answered(return_path: str | None, why: str) -> None:
    target = judged(inbound(return_path=return_path))
    assert (target.address, target.confidence) == (None, Confidence.UNVERIFIED)
    assert why in target.reason


def test_no_from_address_is_never_answered() -> None:
    target = judged(inbound(GMAIL_PASS, sender=""), "mx.google.com")
    assert (target.address, target.confidence) == (None, Confidence.UNVERIFIED)


# --- Through the real decoder -------------------------------------------------------------------


def test_folded_gmail_header_through_parse_message() -> None:
    raw = (
        b"Return-Path: <bounce-1@esp.example>\r\n"
        b"Authentication-Results: mx.google.com;\r\n"
        b"       dkim=pass header.i=@client.example header.s=s1 header.b=AbCdEf12;\r\n"
        b"       spf=pass (google.com: domain of bounce-1@esp.example designates 203.0.113.5\r\n"
        b"       as permitted sender) smtp.mailfrom=bounce-1@esp.example;\r\n"
        b"       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=client.example\r\n"
        b"Authentication-Results: mx.google.com; dmarc=fail header.from=client.example\r\n"
        b"From: Marie <Marie@Client.Example>\r\nTo: jane@freelance.example\r\n"
        b"Subject: rdv\r\n\r\nBonjour\r\n"
    )
    target = reply_target(parse_message(raw), ("mx.google.com",))
    assert (target.address, target.confidence) == (CLIENT, Confidence.AUTHENTICATED)


# --- rate keys and domains ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("Marie@Client.Example", "marie@client.example"),
        ("marie+bookings@client.example", "marie@client.example"),
        ("Marie+A+B@client.example", "marie@client.example"),
        ("+only@client.example", "+only@client.example"),
        ("marie@Bücher.example", "marie@xn--bcher-kva.example"),
        ("Clïent+x@xn--bcher-kva.example", "clïent@xn--bcher-kva.example"),
        ("  no-at-sign ", "no-at-sign"),
        ("", ""),
    ],
)
def test_rate_key_folds_case_tags_and_idn(address: str, key: str) -> None:
    assert rate_key(address) == key


@pytest.mark.parametrize(
    ("domain", "ascii", "org"),
    [
        ("Mail.Client.Example.", "mail.client.example", "client.example"),
        ("bücher.example", "xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("straße.de", "xn--strae-oqa.de", "xn--strae-oqa.de"),  # IDNA 2008, not "strasse"
        ("a.b.example.co.uk", "a.b.example.co.uk", "example.co.uk"),
        ("co.uk", "co.uk", "co.uk"),
        ("bad domain", "", ""),
        ("a..b", "", ""),
        ("", "", ""),
        ("x" * 64 + ".example", "", ""),
    ],
)
def test_ascii_and_organizational_domains(domain: str, ascii: str, org: str) -> None:
    assert ascii_domain(domain) == ascii
    assert organizational_domain(domain) == org


# --- Properties ---------------------------------------------------------------------------------

LOCALS = st.sampled_from(["marie", "Marie", "marie+x", "bounce-1", "ceo", "clïent", "+", "a.b"])
DOMAINS = st.sampled_from(
    [
        "client.example",
        "mail.client.example",
        "Client.Example",
        "evil.example",
        "client.example.evil.net",
        "bücher.example",
        "xn--bcher-kva.example",
        "co.uk",
        "bank.co.uk",
        "alice.github.io",
        "github.io",
        "x",
        "",
        "ex ample",
        "a..b",
    ]
)
ADDRESSES = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", LOCALS, DOMAINS), st.text(max_size=30)
)
NOT_TRUSTED_RESULTS = st.lists(
    st.one_of(
        st.sampled_from([GMAIL_PASS, FASTMAIL, RSPAMD, OFFICE365, OPENDMARC, FORGED_PASS]),
        st.text(max_size=80),
    ),
    max_size=4,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sender=ADDRESSES,
    return_path=st.one_of(st.none(), ADDRESSES),
    reply_to=st.one_of(st.just(""), ADDRESSES),
    results=NOT_TRUSTED_RESULTS,
    trusted=st.sampled_from([(), ("mx.example.net",), ("nobody.example", "")]),
)
def test_without_a_trusted_result_the_reply_goes_only_to_the_envelope_sender(
    sender: str,
    return_path: str | None,
    reply_to: str,
    results: list[str],
    trusted: tuple[str, ...],
) -> None:
    msg = inbound(*results, sender=sender, return_path=return_path, reply_to=reply_to)
    target = reply_target(msg, trusted)
    assert target.confidence in (Confidence.ENVELOPE, Confidence.UNVERIFIED)
    if target.address is not None:
        assert return_path
        assert target.address == sender
        rp_domain = return_path.rpartition("@")[2]
        same_mailbox = rate_key(target.address) == rate_key(return_path)
        same_org = organizational_domain(target.address.rpartition("@")[2]) == (
            organizational_domain(rp_domain)
        )
        assert same_mailbox or (same_org and organizational_domain(rp_domain))


@settings(max_examples=300, deadline=None)
@given(
    sender=st.one_of(ADDRESSES, st.text()),
    return_path=st.one_of(st.none(), st.text(), ADDRESSES),
    reply_to=st.one_of(st.text(), ADDRESSES),
    headers=st.lists(
        st.tuples(st.sampled_from(["authentication-results", "received", "x"]), st.text()),
        max_size=5,
    ),
    trusted=st.lists(st.text(max_size=20), max_size=3),
)
def test_reply_target_and_rate_key_never_raise(
    sender: str,
    return_path: str | None,
    reply_to: str,
    headers: list[tuple[str, str]],
    trusted: list[str],
) -> None:
    msg = InboundMessage(
        message_id="x",
        from_address=sender,
        return_path=return_path,
        reply_to=reply_to,
        headers=tuple(headers),
    )
    for ids in (trusted, [v.split(";")[0] for _, v in headers]):
        target = reply_target(msg, ids)
        assert target.address in (None, sender, reply_to)
        assert "\n" not in target.reason and "\r" not in target.reason
    assert isinstance(rate_key(sender), str)


@pytest.mark.parametrize(
    ("address", "canonical"),
    [
        ("Clïent@Bücher.example", "clïent@xn--bcher-kva.example"),
        ("cli\u0308ent@example.org", "clïent@example.org"),
        ("Marie+Tag@Client.Example.", "marie+tag@client.example"),
        ("no-at-sign", ""),
        ("@client.example", ""),
        ("marie@bad domain", ""),
    ],
)
def test_canonical_address_is_what_mailparse_decodes_to(address: str, canonical: str) -> None:
    assert canonical_address(address) == canonical
