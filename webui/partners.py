"""The `partners` blueprint (staff): partner police forces, each country's policy, and the
referral templates per language.

A partner's OpenPGP key is checked when it is saved (queues.liaison.partners: a usable
public key that can encrypt, or the form says why not). A country's policy is partner, no
partner, or never with its reason; "never" is then refused at every step of a referral.
Referral templates are staff-edited text rendered in the sandbox (queues.sandbox); the
English one is seeded from templates/mail/referral/. Every change is audited.

Only staff may use it; for everyone else every page here is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from queues.audit import record_staff_change
from queues.liaison import countries, partners, referral
from queues.liaison.cases import LiaisonError
from queues.liaison.countries import CountryError
from queues.liaison.models import Partner, ReferralTemplate
from queues.liaison.partners import PartnerError, PartnerInput, split_list
from queues.models import User
from queues.sandbox import TemplateError, render_untrusted
from webui import db
from webui.login import agent, client_address
from webui.staff import staff_only

bp = Blueprint("partners", __name__, url_prefix="/staff/liaison")
bp.before_request(staff_only)

MAX_FIELD = 2000


def utcnow() -> datetime:
    return datetime.now(UTC)


def _text(name: str, limit: int = MAX_FIELD) -> str:
    return request.form.get(name, "")[:limit]


@bp.route("/")
def index() -> str:
    if db.session().scalar(select(ReferralTemplate.id).limit(1)) is None:
        with db.writing() as writer:  # the shipped English template, to edit or translate
            referral.seed_referral_templates(writer)
    session = db.session()
    return render_template(
        "webui/partners/index.html",
        partners=partners.all_partners(session),
        problems=partners.usability_problems,
        policies=countries.policies(session),
        countries=countries.all_countries(),
        kinds=countries.POLICY_LABELS,
        templates=list(
            session.scalars(select(ReferralTemplate).order_by(ReferralTemplate.language))
        ),
        language_name=countries.language_name,
        country_name=countries.country_name,
    )


# --- partners --------------------------------------------------------------------------------


@dataclass
class PartnerForm:
    name: str = ""
    countries: str = ""
    addresses: str = ""
    report_url: str = ""
    public_key: str = ""
    languages: str = ""
    notes: str = ""
    active: bool = True

    @classmethod
    def of(cls, partner: Partner) -> PartnerForm:
        return cls(
            name=partner.name,
            countries=", ".join(partner.country_codes),
            addresses=", ".join(partner.referral_addresses),
            report_url=partner.report_url,
            public_key=partner.public_key,
            languages=", ".join(partner.languages),
            notes=partner.notes,
            active=partner.active,
        )

    @classmethod
    def posted(cls) -> PartnerForm:
        return cls(
            name=_text("name", 300),
            countries=_text("countries"),
            addresses=_text("addresses"),
            report_url=_text("report_url", partners.MAX_URL + 1),
            public_key=request.form.get("public_key", "")[: partners.MAX_KEY + 1],
            languages=_text("languages"),
            notes=request.form.get("notes", "")[: partners.MAX_NOTES + 1],
            active=request.form.get("active") == "yes",
        )


def _edit(partner_id: int | None) -> str | Response:
    session = db.session()
    partner = session.get(Partner, partner_id) if partner_id is not None else None
    if partner_id is not None and partner is None:
        abort(404)
    page = "webui/partners/edit.html"
    if request.method == "GET":
        form = PartnerForm.of(partner) if partner is not None else PartnerForm()
        return render_template(page, form=form, partner=partner, error="")
    form = PartnerForm.posted()
    data = PartnerInput(
        name=form.name,
        countries=split_list(form.countries),
        referral_addresses=split_list(form.addresses),
        report_url=form.report_url,
        public_key=form.public_key,
        languages=split_list(form.languages),
        notes=form.notes,
        active=form.active,
    )
    me = agent()
    try:
        with db.writing() as writer:
            row = writer.get(Partner, partner_id) if partner_id is not None else None
            saved = partners.save_partner(
                writer,
                row,
                data,
                writer.get_one(User, me.user.id),
                utcnow(),
                client=client_address(),
            )
            name = saved.name
    except PartnerError as exc:
        return render_template(page, form=form, partner=partner, error=str(exc))
    flash(f"The partner force {name!r} is saved.")
    return redirect(url_for("partners.index"), code=303)


@bp.route("/partners/new", methods=["GET", "POST"])
def new() -> str | Response:
    return _edit(None)


@bp.route("/partners/<int:partner_id>", methods=["GET", "POST"])
def edit(partner_id: int) -> str | Response:
    return _edit(partner_id)


# --- country policy --------------------------------------------------------------------------


@bp.route("/countries", methods=["POST"])
def set_policy() -> Response:
    me = agent()
    try:
        with db.writing() as writer:
            row = countries.set_policy(
                writer,
                _text("country", 60),
                _text("policy", 20),
                _text("reason"),
                writer.get_one(User, me.user.id),
                utcnow(),
                client=client_address(),
            )
            message = (
                f"{countries.country_name(row.country)}: {countries.POLICY_LABELS[row.policy]}."
            )
    except CountryError as exc:
        message = str(exc)
    flash(message)
    return redirect(url_for("partners.index", _anchor="countries-heading"), code=303)


# --- referral templates ----------------------------------------------------------------------


@dataclass
class TemplatePreview:
    subject: str
    body: str


def _template_page(
    template: ReferralTemplate | None,
    language: str,
    subject: str,
    body: str,
    error: str = "",
    preview: TemplatePreview | None = None,
) -> str:
    return render_template(
        "webui/partners/template.html",
        template=template,
        language=language,
        subject=subject,
        body=body,
        error=error,
        preview=preview,
        language_name=countries.language_name,
    )


def _edit_template(template_id: int | None) -> str | Response:
    session = db.session()
    template = session.get(ReferralTemplate, template_id) if template_id is not None else None
    if template_id is not None and template is None:
        abort(404)
    if request.method == "GET":
        if template is not None:
            return _template_page(template, template.language, template.subject, template.body)
        subject, body = referral.default_template()
        return _template_page(None, "", subject, body)
    language = template.language if template is not None else _text("language", 40)
    subject = _text("subject", 1000)
    body = request.form.get("body", "")[: referral.MAX_TEMPLATE + 1]
    try:
        if template is None:
            language = countries.parse_language(language)
        if request.form.get("action") == "preview":
            try:
                preview = TemplatePreview(
                    render_untrusted(subject, referral.SAMPLE_CONTEXT),
                    render_untrusted(body, referral.SAMPLE_CONTEXT),
                )
            except TemplateError as exc:
                raise LiaisonError(f"The template cannot be used: {exc}") from None
            return _template_page(template, language, subject, body, preview=preview)
        me = agent()
        with db.writing() as writer:
            row = writer.get(ReferralTemplate, template_id) if template_id is not None else None
            user = writer.get_one(User, me.user.id)
            saved = referral.save_template(writer, row, language, subject, body, user, utcnow())
            record_staff_change(
                writer, user, client_address(), f"referral template {saved.language} saved"
            )
    except (LiaisonError, CountryError) as exc:
        return _template_page(template, language, subject, body, error=str(exc))
    flash(f"The referral template ({countries.language_name(language)}) is saved.")
    return redirect(url_for("partners.index", _anchor="templates-heading"), code=303)


@bp.route("/templates/new", methods=["GET", "POST"])
def new_template() -> str | Response:
    return _edit_template(None)


@bp.route("/templates/<int:referral_template_id>", methods=["GET", "POST"])
def edit_template(referral_template_id: int) -> str | Response:
    return _edit_template(referral_template_id)
