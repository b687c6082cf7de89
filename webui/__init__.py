"""The agents' web UI: the Flask app factory (one blueprint per module, `init_app` hooks).

    create_app()                      settings from SWITCHBOARD_* and SWITCHBOARD_CONFIG
    create_app(settings=settings)     what `switchboard web` does
    create_app({"TESTING": True})     extra or overriding config (see webui.config)

Production: `switchboard web` (waitress), or any WSGI server with the factory, e.g.
gunicorn 'webui:create_app()', behind a TLS reverse proxy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from queues.resources import templates_dir
from queues.settings import Settings, load_settings
from webui import (
    account,
    apply,
    auth,
    config,
    dashboard,
    db,
    errors,
    escalate,
    home,
    i18n,
    labels,
    liaison,
    lists,
    login,
    mentor,
    navigation,
    partners,
    report,
    rota,
    rota_staff,
    security,
    staff,
    staff_abuse,
    staff_ack,
    staff_mail,
    staff_rules,
    staff_templates,
    staff_triage,
    staffhub,
    status,
    targets,
    team,
    tickets,
    twofactor,
    work,
)


def create_app(
    test_config: Mapping[str, Any] | None = None, *, settings: Settings | None = None
) -> Flask:
    app = Flask(__name__, template_folder=str(templates_dir()), static_folder="static")
    app.config.from_mapping(config.base_config(settings or load_settings()))
    if test_config is not None:
        app.config.from_mapping(test_config)
    config.finish_config(app.config)
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    db.init_app(app)
    login.init_app(app)
    csrf = CSRFProtect(app)  # every POST, PUT, PATCH and DELETE needs the form's token
    # Before security's hooks: a password someone else set is replaced before anything
    # else, the enrolment of a second factor included (webui.account).
    account.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    labels.init_app(app)
    i18n.init_app(app)
    navigation.init_app(app)
    twofactor.init_app(app)  # sign-in codes and enrolment (issue 12)
    mentor.init_app(app)  # replies waiting for review, and the navigation's "Reviews"
    for module in (apply, team):  # applications, vetting, agents' pages (issue 12)
        app.register_blueprint(module.bp)
    for module in (auth, home, staff, tickets, work, lists, escalate):
        app.register_blueprint(module.bp)
    for module in (staffhub, staff_templates, staff_rules, staff_mail, staff_triage):
        app.register_blueprint(module.bp)
    liaison.init_app(app)  # its blueprint and the source ticket's police status
    # Response targets, the dashboard and the abuse controls (issue 13); the first and the
    # last also give the ticket page and the lists what is due and the sender's standing.
    targets.init_app(app)
    app.register_blueprint(dashboard.bp)
    staff_abuse.init_app(app)
    for module in (rota, rota_staff):  # the rota and on call (issue 12)
        app.register_blueprint(module.bp)
    app.register_blueprint(partners.bp)
    for module in (report, status, staff_ack):  # the reporter's pages (issue 13)
        app.register_blueprint(module.bp)
    # The public forms check their token in their own form (Flask-WTF's FlaskForm), so a
    # stale one shows the form again with what the reporter wrote, not an error page.
    csrf.exempt(report.bp)
    csrf.exempt(status.bp)
    return app
