"""Who wrote: a machine sending in bulk or on its own, even without List-* headers.

RFC 3834 silence (`etiquette.not_for_us`) catches what declares itself automatic. Marketing and
notification platforms often declare nothing: they are recognised here by the sending platform's
own headers (Feedback-ID, Mailgun, Amazon SES, SendGrid, Mailchimp, HubSpot...), a bounce
(VERP) envelope sender, a no-reply address, and the machine's words in the new text (unsubscribe
links, "do not reply", "automatically generated").

Who may be answered, and at which address, is another question: `rules.senders`.
"""

from __future__ import annotations

import re

from rules.model import InboundMessage

# Header names (lower-case) or prefixes that only bulk and notification platforms add.
_PLATFORM_HEADERS = (
    "feedback-id",
    "x-feedback-id",
    "x-campaign",
    "x-campaignid",
    "x-campaign-id",
    "x-mailgun-",
    "x-ses-",
    "x-sg-",
    "x-sendgrid-",
    "x-mc-user",
    "x-mandrill-",
    "x-mailjet-",
    "x-sib-",
    "x-brevo-",
    "x-hubspot-",
    "x-sfmc-",
    "x-marketo-",
    "x-klaviyo-",
    "x-mailchimp-",
    "x-cmail-",  # Campaign Monitor
    "x-ctct-",  # Constant Contact
    "x-mailer-recptid",
    "x-job",  # Salesforce Marketing Cloud
    "x-rpcampaign",
    "x-newsletter",
    "x-listmonk-",
    "x-entity-ref-id",
)
_PLATFORM_EXACT = frozenset(h for h in _PLATFORM_HEADERS if not h.endswith("-"))
_PLATFORM_PREFIXES = tuple(h for h in _PLATFORM_HEADERS if h.endswith("-"))
_PLATFORM_MAILERS = re.compile(
    r"mailchimp|hubspot|sendgrid|mailgun|mailjet|sendinblue|brevo|constant ?contact|"
    r"campaign ?monitor|klaviyo|marketo|salesforce|mailerlite|acoustic|braze|customer\.io|"
    r"iterable|listmonk|mautic|phplist|sympa|cakemail|substack|newsletter",
    re.IGNORECASE,
)
_NOREPLY_LOCAL = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|donotreply|ne[-_.]?pas[-_.]?repondre|"
    r"nepasrepondre|notifications?|notify|alerts?|alertes?|newsletters?|news|mailer|bounces?|"
    r"marketing|campaigns?|automated|robot|system)(?:[-_.+].*)?$|(?:^|[-_.])no[-_.]?reply(?:[-_.]|$)"
)
_BOUNCE = re.compile(r"(?:^|[-_.+])bounces?(?:[-_.+]|$)|^bnc|^bo-|^msprvs1=|^prvs=|^srs[01]=")


# Addresses of a role in an organisation rather than of a person: a client writes from their own.
_ROLE_LOCAL = re.compile(
    r"^(?:recrutement|recruit\w*|careers?|jobs?|talents?|hr|rh|rrhh|sales|ventes?|marketing|"
    r"billing|facturation|accounts?|invoices?|orders?|commandes?|support|vendors?|partners?|"
    r"partenariats?|business|team|equipe|"
    r"communication|press|presse|missions?|webinars?|events?|membership|members|registrar|"
    r"renewals?|rappels?|reminders?|rendezvous|booking|reservations?|gestion|ap)$"
)


def role_address(address: str) -> bool:
    """Whether the address names a role ("recrutement@", "billing@", "team@") not a person."""
    return bool(_ROLE_LOCAL.match(address.rpartition("@")[0].lower()))


def machine_signals(msg: InboundMessage) -> tuple[str, ...]:
    """Why the message looks sent by a platform or a robot rather than by a person (headers and
    addresses only; the body's words are the reader's to weigh)."""
    found: list[str] = []
    for name, value in msg.headers:
        if name in _PLATFORM_EXACT or name.startswith(_PLATFORM_PREFIXES):
            shown = "-".join(part.capitalize() for part in name.split("-"))
            label = f"bulk-mail header {shown}"
            if label not in found:
                found.append(label)
        elif name == "x-mailer" and _PLATFORM_MAILERS.search(value):
            found.append(f"bulk-mail X-Mailer: {value[:40]}")
    local = msg.from_address.rpartition("@")[0]
    if local and _NOREPLY_LOCAL.search(local):
        found.append(f"no-reply sender address {msg.from_address}")
    path = msg.return_path or ""
    path_local, _, path_domain = path.rpartition("@")
    from_domain = msg.from_address.rpartition("@")[2]
    if (
        path
        and path != msg.from_address
        and (
            _BOUNCE.search(path_local)
            or "bounce" in path_domain.split(".")[0:3]
            or any(part.startswith("bounce") for part in path_domain.split("."))
        )
    ):
        found.append(f"bounce-handling envelope sender {path}")
    elif (
        path_domain
        and from_domain
        and not _same_site(path_domain, from_domain)
        and _BOUNCE.search(path_local)
    ):
        found.append(f"envelope sender {path} of another domain")
    return tuple(found)


def _same_site(a: str, b: str) -> bool:
    """Whether two domains share their last two labels (mail.x.example and x.example do)."""
    return a.split(".")[-2:] == b.split(".")[-2:]
