"""The one settings object: defaults, then an optional TOML file, then SWITCHBOARD_* variables.

Every key has a default so that `make run` works on a fresh machine. Settings are passed
in explicitly (never read from a global) so tests and several processes can differ.

Environment variables are the upper-cased key with the SWITCHBOARD_ prefix, e.g.
SWITCHBOARD_DATABASE_URL or SWITCHBOARD_ACK_PER_SENDER_PER_DAY. Mappings and lists are
only set from the TOML file.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "SWITCHBOARD_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the key."""


@dataclass(frozen=True)
class ImapMailbox:
    """One IMAP mailbox to fetch from (a [[switchboard.imap]] table in the TOML file).

    security: "tls" (IMAPS, default port 993), "starttls" or "none" (port 143).
    password: taken from the environment variable `password_env` or the file
        `password_file` (first line), never from the settings file itself.
    after: what to do with the server copy once the import is committed:
        "move:<Folder>", "seen", "delete" or "keep".
    """

    name: str
    host: str
    username: str
    port: int = 0
    security: str = "tls"
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    after: str = "seen"
    queue_address: str = ""  # treat mail from this mailbox as sent to this address of ours

    def __post_init__(self) -> None:
        if self.security not in ("tls", "starttls", "none"):
            raise SettingsError(f"imap {self.name}: security must be tls, starttls or none")
        if not (self.after in ("seen", "delete", "keep") or self.after.startswith("move:")):
            raise SettingsError(
                f"imap {self.name}: after must be move:<Folder>, seen, delete or keep"
            )
        if not self.port:
            object.__setattr__(self, "port", 993 if self.security == "tls" else 143)

    def password(self, environ: Mapping[str, str] | None = None) -> str:
        env = os.environ if environ is None else environ
        if self.password_env:
            value = env.get(self.password_env)
            if value is None:
                raise SettingsError(f"imap {self.name}: ${self.password_env} is not set")
            return value
        if self.password_file:
            try:
                return Path(self.password_file).read_text().splitlines()[0]
            except (OSError, IndexError) as exc:
                raise SettingsError(f"imap {self.name}: cannot read {self.password_file}") from exc
        raise SettingsError(f"imap {self.name}: set password_env or password_file")


def _default_addresses() -> dict[str, str]:
    return {"help@localhost": "general-help", "safety@localhost": "specialist-safety"}


def _default_retention() -> dict[str, int]:
    # General help for a year, safety cases for two; police-liaison cases are kept for ever
    # (a court may ask years later) and their tickets are on legal hold anyway.
    return {"general-help": 365, "specialist-safety": 730, "police-liaison": 0}


@dataclass(frozen=True)
class Settings:
    """All configuration of a Switchboard installation.

    database_url: SQLAlchemy URL; default SQLite file in `var_dir`.
    var_dir: where the embedded installation keeps its database and mail.
    addresses: our receiving addresses, each mapped to the queue slug it feeds.
    default_queue: queue for mail to none of `addresses` (e.g. imported files).
    own_addresses: further addresses that are ours (never auto-replied to).
    organisation: shown in mail templates.
    ticket_tag_prefix: the tag in subjects is "[<prefix><number>]", e.g. "[Ticket#2026...]".
    loop_header: our loop-detection header, set on every automatic mail.
    ack_per_sender_per_day / ack_global_per_day: caps on acknowledgements.
    max_message_bytes: larger messages are refused by the gateway (552).
    ingest_max_attempts: processing attempts before a message is quarantined.
    ingest_max_crashes: started attempts that never ended (the runner died, or ran past its
        lease, each time) after which a message is quarantined when it is next due. Higher
        than ingest_max_attempts: a runner killed by a restart or the OOM killer dies with
        an innocent message in hand, and that must not quarantine someone's report.
    ingest_runners: ingest runner threads in `work` and `serve`; 0 = automatic: one on SQLite
        (its single writer gains nothing from more), two on PostgreSQL (one decides while
        the other waits for the server).
    ingest_poll_seconds: how often an ingest runner with nothing to do looks for stored
        mail; mail from the gateway wakes it at once (in `serve` directly, in `work` through
        its doorbell, var_dir/run/ingest.bell), so this only bounds how late mail stored
        another way is picked up.
    ingest_lease_seconds: how long an ingest runner's claim on stored mail lasts. If the
        runner dies, another one takes the mail over once the lease has run out; a runner
        starts a claimed message only within the first half of its lease (the rest is
        given back), so processing one message must take less than half of it.
    rule_timeout_seconds: time limit for one routing-rule regular expression.
    blocked_sender_tickets: whether mail from blocked senders still becomes a ticket
        (never acknowledged); when false it is kept as ignored inbound mail.
    emergency_text: the "if someone is at immediate risk" line of the acknowledgement.
    hostname: our name in SMTP greetings, Received headers and Message-IDs.
    gateway_host / gateway_port: where `switchboard gateway` listens (SMTP or LMTP).
    gateway_tls_cert / gateway_tls_key: PEM files; when both are set, STARTTLS is offered.
    gateway_max_connections_per_client: concurrent connections per client IP (then 421).
    gateway_max_messages_per_minute_per_client: accepted messages per IP per minute (then 451).
    relay_host: where the outbox sends mail; empty = write it to a Maildir in var_dir/outgoing.
    relay_port / relay_security ("none", "starttls", "tls") / relay_username /
        relay_password_env: the relay connection; the password only from the environment.
    outbox_deadline_hours: a message that could not be delivered by then is failed.
    outbox_lease_seconds: how long an outbox runner's claim on queued mail lasts; a runner
        that dies mid-send leaves it to run out, then the mail is sent by another (the relay
        may then see it twice, with the same Message-ID: at-least-once, never lost).
    imap: the IMAP mailboxes `switchboard fetch` imports from (ImapMailbox).
    imap_poll_seconds: polling interval where the server offers no IDLE.
    web_host / web_port: where `switchboard web` and `serve` listen.
    triage_min_recall / triage_min_precision: the thresholds of `switchboard triage
        evaluate` (per language and overall): below them it exits 1.
    triage_model: whether the wording model (queues.triage.model) judges new mail beside
        the lexicon, as trained (`make triage-model`); off: the lexicon alone decides.
    trusted_authserv_ids: the authserv-ids of our own border MTA's milters (OpenDKIM,
        OpenDMARC, rspamd; RFC 8601). Behind Postfix (LMTP) the verdict is read only from
        Authentication-Results fields with one of these ids, above Postfix's Received field;
        () = none is trusted, so mail through LMTP has verdict "none" (queues.trust).
    sender_checks: the embedded SMTP gateway checks DKIM, SPF and DMARC itself
        (mailgate.senderauth); off: verdict "none" for every message.
    dns_servers: resolvers for those checks, "ip" or "ip:port"; () = the system's
        (/etc/resolv.conf).
    dns_timeout_seconds: the longest one DNS lookup of those checks may take.
    sender_check_seconds: the longest all checks of one message may take together; what
        has not finished by then is "temperror" (unknown, which changes nothing).
    gnupg_home: the installation's own OpenPGP keyring, holding the organisation's key that
        signs evidence packages; "" = var_dir/gnupg. gpg puts its agent's socket there, so
        the path must stay short (about 80 characters at most).
    gpg_binary: the gpg program (Debian's /usr/bin/gpg, found on PATH by default).
    evidence_key_fingerprint: the signing key in gnupg_home; "" = the one secret key there
        (`switchboard init` creates it when there is none).
    timestamp_url: an RFC 3161 timestamp authority; when set, every evidence package carries
        SHA256SUMS.tsr, a token over SHA256SUMS. "" = no timestamp.
    timestamp_ca_file: PEM certificates the timestamp authority chains to; when set,
        `switchboard evidence verify` also checks the token's chain (openssl ts -verify).
    timestamp_timeout_seconds: how long to wait for the timestamp authority.
    retention_days: days a closed ticket is kept, per queue slug, before `purge` removes its
        content (0 = for ever); only from the TOML file. A queue's own `retention_days`
        column, when set, wins over this.
    retention_default_days: the same for queues named neither there nor on the queue.
    purge_interval_hours: how often `switchboard work` applies retention (0 = never; then
        run `switchboard purge` from cron).
    geoip_database: a MaxMind-format country database (.mmdb, e.g. GeoLite2-Country) used to
        suggest where a harasser's IP addresses are (queues.liaison.geo); "" = none, the
        country is then entered by hand. A suggestion is never applied without a person.
    placeholder_markers: text that marks a gap in a reply template (besides bracketed
        instructions such as "[What happens next.]"); a reply holding one is not sent, and
        the agent is told where (queues.placeholders). () = bracketed instructions only.
    liaison_max_mail_bytes: a police referral whose mail (the encrypted evidence package,
        encoded) would be larger than this is handed over by download instead (staff only,
        audited, after the same two approvals).
    web_base_url: the web UI's address as people reach it (e.g. https://switchboard.example.org),
        for links in mail; "" = the address of the request that caused the mail where there
        is one (a staff member approving an application), else mail names no link.
    team_sender_address: the From of mail to applicants and agents (application received,
        approved, declined, a reply waiting for review); "" = our first receiving address.
    apply_per_client_per_day / apply_per_address_per_day: applications to volunteer taken
        per client (IPv4 address, IPv6 /64) and per e-mail address in 24 hours; beyond the
        client's the page says to try later, beyond the address's it answers as always and
        stores nothing (it never tells who applied).
    set_password_hours: how long the single-use set-password link of an approved
        application works.
    twofactor_required_roles: roles that must sign in with a second factor (TOTP) and enrol
        at their next sign-in before any other page; staff may require it of others one by
        one (queues.team.twofactor).
    twofactor_key_file: the key that encrypts TOTP secrets in the database (created on
        first use, mode 0600); "" = var_dir/twofactor_key. Copy it to every web host; a
        lost key means everyone enrols again.
    oncall_queues: the queues whose new tickets the agents on duty are told of at once
        (queues.team.oncall): a ticket created there or moved or escalated into them.
    oncall_backup_minutes: when nobody has taken such a ticket (set an owner) this long
        after the agents on duty were told, the shift's backup (else the next agents on
        duty) and staff are told; then again after each further interval of this length.
    oncall_max_steps: how many times at most the backup and staff are told about one ticket
        (8 at 15 minutes: two hours of reminders); 0 = tell the agents on duty only.
    oncall_poll_seconds: how often the on-call runner in `work` and `serve` looks for new
        tickets (mail that becomes a ticket there wakes it at once; while mail streams in,
        it looks at most every 0.25 s, queues.team.oncall.GATHER_SECONDS).
    target_check_seconds: how often `work` and `serve` look for tickets past their response
        target (queues.targets.breaches); the targets themselves are per queue, set by staff
        (defaults in queues/targets/defaults.toml).
    abuse_blocked_action: what becomes of mail from a blocked sender (queues.abuse): "hold"
        (kept for staff to release or discard) or "ignore" (kept as ignored mail, listed
        and releasable all the same); never a ticket of its own until released.
    abuse_tickets_per_sender_per_day: new tickets one sender may open in 24 hours; beyond
        it their mail is added to their newest open ticket (0 = no cap).
    abuse_flood_window_minutes / abuse_flood_min_senders / abuse_flood_max_distance /
        abuse_flood_min_words: a report whose similarity key (queues.abuse.similarity) is
        within `abuse_flood_max_distance` bits of reports from at least
        `abuse_flood_min_senders` senders (its own included) in the window is collapsed into
        the first of them, which counts them; reports of fewer than `abuse_flood_min_words`
        words are never collapsed. abuse_flood_min_senders 0 or 1 = never collapse.
    status_mail_per_day: status mails (queues.reporter.status: taken, waiting for the
        reporter, passed to specialists, closed) sent for one ticket in 24 hours at most;
        further changes are recorded on the ticket, not mailed. 0 = no status mail.
    report_per_client_per_hour / report_per_client_per_day: reports the public form
        (/report) takes from one client (IPv4 address, IPv6 /64); beyond them the form
        asks to write by mail or try later, and keeps what was written.
    report_max_attachment_bytes: the public form's attachments together at most
        (images, PDF and plain text only; webui.report).
    status_messages_per_day: messages a status page (/status/<token>) takes for one
        ticket, and new status links a client may ask for, in 24 hours.
    """

    database_url: str = ""
    var_dir: Path = Path("var")
    addresses: Mapping[str, str] = field(default_factory=_default_addresses)
    default_queue: str = "general-help"
    own_addresses: tuple[str, ...] = ()
    organisation: str = "Switchboard help team"
    ticket_tag_prefix: str = "Ticket#"
    loop_header: str = "X-Switchboard-Loop"
    ack_per_sender_per_day: int = 5
    ack_global_per_day: int = 2000
    max_message_bytes: int = 35 * 1024 * 1024
    ingest_max_attempts: int = 3
    ingest_lease_seconds: float = 300.0
    ingest_runners: int = 0
    ingest_poll_seconds: float = 1.0
    ingest_max_crashes: int = 5
    rule_timeout_seconds: float = 0.25
    blocked_sender_tickets: bool = False
    emergency_text: str = (
        "If you or someone else is in immediate danger, call your local emergency number "
        "now (112 in Europe, 911 in North America, 999 in the UK)."
    )

    hostname: str = "localhost"
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8025
    gateway_tls_cert: str = ""
    gateway_tls_key: str = ""
    gateway_max_connections_per_client: int = 20
    gateway_max_messages_per_minute_per_client: int = 600
    relay_host: str = ""
    relay_port: int = 25
    relay_security: str = "none"
    relay_username: str = ""
    relay_password_env: str = ""
    outbox_deadline_hours: float = 48.0
    outbox_lease_seconds: float = 300.0
    imap: tuple[ImapMailbox, ...] = ()
    imap_poll_seconds: float = 60.0
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    triage_min_recall: float = 0.95
    triage_min_precision: float = 0.75
    triage_model: bool = True
    trusted_authserv_ids: tuple[str, ...] = ()
    sender_checks: bool = True
    dns_servers: tuple[str, ...] = ()
    dns_timeout_seconds: float = 2.0
    sender_check_seconds: float = 5.0
    gnupg_home: str = ""
    gpg_binary: str = "gpg"
    evidence_key_fingerprint: str = ""
    timestamp_url: str = ""
    timestamp_ca_file: str = ""
    timestamp_timeout_seconds: float = 30.0
    retention_days: Mapping[str, int] = field(default_factory=_default_retention)
    retention_default_days: int = 0
    purge_interval_hours: float = 24.0
    geoip_database: str = ""
    liaison_max_mail_bytes: int = 20 * 1024 * 1024
    placeholder_markers: tuple[str, ...] = ("[[", "]]", "TODO:")
    web_base_url: str = ""
    team_sender_address: str = ""
    apply_per_client_per_day: int = 5
    apply_per_address_per_day: int = 2
    set_password_hours: float = 72.0
    twofactor_required_roles: tuple[str, ...] = ("specialist", "staff")
    twofactor_key_file: str = ""
    status_mail_per_day: int = 4
    report_per_client_per_hour: int = 5
    report_per_client_per_day: int = 20
    report_max_attachment_bytes: int = 10 * 1024 * 1024
    status_messages_per_day: int = 20
    oncall_queues: tuple[str, ...] = ("specialist-safety",)
    oncall_backup_minutes: float = 15.0
    oncall_max_steps: int = 8
    oncall_poll_seconds: float = 5.0
    target_check_seconds: float = 60.0
    abuse_blocked_action: str = "hold"
    abuse_tickets_per_sender_per_day: int = 5
    abuse_flood_window_minutes: float = 60.0
    abuse_flood_min_senders: int = 3
    abuse_flood_max_distance: int = 8
    abuse_flood_min_words: int = 8

    def __post_init__(self) -> None:
        if self.relay_security not in ("none", "starttls", "tls"):
            raise SettingsError("relay_security must be none, starttls or tls")
        if self.abuse_blocked_action not in ("hold", "ignore"):
            raise SettingsError("abuse_blocked_action must be hold or ignore")
        if not self.database_url:
            db = (Path(self.var_dir) / "switchboard.db").resolve()
            object.__setattr__(self, "database_url", f"sqlite:///{db}")
        normalized = {k.strip().lower(): v for k, v in self.addresses.items()}
        object.__setattr__(self, "addresses", normalized)
        own = tuple(a.strip().lower() for a in self.own_addresses)
        object.__setattr__(self, "own_addresses", own)
        for key in (
            "ack_per_sender_per_day",
            "ack_global_per_day",
            "ingest_max_attempts",
            "ingest_runners",
            "ingest_max_crashes",
            "liaison_max_mail_bytes",
            "apply_per_client_per_day",
            "apply_per_address_per_day",
            "status_mail_per_day",
            "report_per_client_per_hour",
            "report_per_client_per_day",
            "report_max_attachment_bytes",
            "status_messages_per_day",
            "oncall_max_steps",
            "abuse_tickets_per_sender_per_day",
            "abuse_flood_min_senders",
            "abuse_flood_max_distance",
            "abuse_flood_min_words",
        ):
            if getattr(self, key) < 0:
                raise SettingsError(f"{key} must not be negative")
        if self.retention_default_days < 0 or any(d < 0 for d in self.retention_days.values()):
            raise SettingsError("retention_days must not be negative (0 keeps for ever)")
        for key in (
            "ingest_lease_seconds",
            "ingest_poll_seconds",
            "outbox_lease_seconds",
            "set_password_hours",
            "oncall_backup_minutes",
            "oncall_poll_seconds",
            "target_check_seconds",
            "abuse_flood_window_minutes",
        ):
            if getattr(self, key) <= 0:
                raise SettingsError(f"{key} must be positive")
        roles = tuple(r.strip().lower() for r in self.twofactor_required_roles)
        if not set(roles) <= {"volunteer", "specialist", "staff"}:
            raise SettingsError("twofactor_required_roles: use volunteer, specialist or staff")
        object.__setattr__(self, "twofactor_required_roles", roles)

    @property
    def all_own_addresses(self) -> frozenset[str]:
        """Every address that is ours: receiving addresses plus `own_addresses`."""
        return frozenset(self.addresses) | frozenset(self.own_addresses)

    @property
    def outgoing_maildir(self) -> Path:
        return Path(self.var_dir) / "outgoing"

    @property
    def gnupg_dir(self) -> Path:
        return Path(self.gnupg_home) if self.gnupg_home else Path(self.var_dir) / "gnupg"


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def _convert(key: str, value: Any) -> Any:
    """Coerce a TOML or environment value to the field's type, or raise SettingsError."""
    default = _FIELDS[key].default
    kind = type(default) if default is not dataclasses.MISSING else None
    try:
        if key == "var_dir":
            return Path(value)
        if key == "addresses":
            if not isinstance(value, Mapping):
                raise TypeError("a table of address = queue")
            return {str(k): str(v) for k, v in value.items()}
        if key == "retention_days":
            if not isinstance(value, Mapping):
                raise TypeError("a table of queue slug = days")
            return {str(k): int(v) for k, v in value.items()}
        if key == "imap":
            if not isinstance(value, list):
                raise TypeError("a list of [[switchboard.imap]] tables")
            return tuple(_imap(i, table) for i, table in enumerate(value, 1))
        if key in (
            "own_addresses",
            "trusted_authserv_ids",
            "dns_servers",
            "twofactor_required_roles",
            "placeholder_markers",
            "oncall_queues",
        ):
            items = value.split(",") if isinstance(value, str) else value
            return tuple(str(a) for a in items if str(a).strip())
        if kind is bool:
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("1", "true", "yes", "on"):
                return True
            if str(value).lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"not a boolean: {value!r}")
        if kind is int:
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {key!r}: {exc}") from exc


def _imap(index: int, table: Any) -> ImapMailbox:
    if not isinstance(table, Mapping):
        raise TypeError(f"imap entry {index} is not a table")
    known = {f.name for f in dataclasses.fields(ImapMailbox)}
    unknown = set(table) - known
    if unknown:
        raise TypeError(f"imap entry {index}: unknown keys {', '.join(sorted(unknown))}")
    data = {"name": f"imap{index}", **table}
    if "port" in data:
        data["port"] = int(data["port"])
    return ImapMailbox(**data)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build Settings from defaults, then `config_file` (TOML), then the environment.

    Unknown keys in the file are an error (a typo must not silently fall back to a default).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file or env.get(ENV_PREFIX + "CONFIG")
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise SettingsError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {path} is not valid TOML: {exc}") from exc
        table = data.get("switchboard", data)
        for key, value in table.items():
            if key not in _FIELDS:
                raise SettingsError(f"unknown setting {key!r} in {path}")
            values[key] = _convert(key, value)
    for key in _FIELDS:
        raw = env.get(ENV_PREFIX + key.upper())
        if raw is not None and key not in ("addresses", "imap", "retention_days"):
            values[key] = _convert(key, raw)
    values.update(overrides)
    return Settings(**values)
