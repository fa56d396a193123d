"""The operator console and the metrics endpoint: the central service's second listener.

Kiosks talk to the kiosk listener (mutual TLS, a kiosk certificate required). People who
run the fleet use this one: HTTPS with the same server certificate, no client
certificate needed, bound to loopback unless configured otherwise (``[operator]`` in
``central.toml``). A client that presents a kiosk certificate here is refused (403), and
the kiosk listener refuses ``/console`` and ``/metrics`` (403): a kiosk never sees the
fleet.

Operators log in (``central/console/auth.py``); the session cookie is Secure, HttpOnly,
SameSite=Strict and expires with the session. Every form carries a CSRF token: the
session's, or before login a double-submit cookie. Viewers see; admins also mark kiosks
out of service and publish the catalog or the campaigns. Pages are Japanese first
(``?lang=en`` switches, remembered in a cookie). Nothing shown is personal: counts,
status codes, receipt numbers' status; never a MyKey ID, a 決済サービスID, a security
code or a certificate.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import secrets
import ssl
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from central.catalog import _entries
from central.console.auth import SESSION_SECONDS, LoginRefused, Operators, Session
from central.console.data import DAYS_SHOWN, HOURS_SHOWN, ConsoleData
from central.console.svg import bar_chart
from central.metrics import CONTENT_TYPE, CentralMetrics

_HERE = Path(__file__).resolve().parent
LANGS = ("ja", "en")
SESSION_COOKIE = "mnp_console"
LOGIN_CSRF_COOKIE = "mnp_login_csrf"
LANG_COOKIE = "mnp_lang"
MAX_FORM_BYTES = 64 * 1024


def _load_texts() -> dict[str, dict[str, str]]:
    return {
        lang: tomllib.loads((_HERE / "locales" / f"{lang}.toml").read_text(encoding="utf-8"))
        for lang in LANGS
    }


TEXTS = _load_texts()
_env = Environment(
    loader=FileSystemLoader(str(_HERE / "templates")), autoescape=select_autoescape(["html"])
)


def _client_cert_cn(request: Request) -> str | None:
    return request.scope.get("extensions", {}).get("tls", {}).get("client_cert_cn")


def operator_uvicorn_options(config: Any, http_protocol: Any) -> dict[str, Any]:
    """HTTPS with the service's certificate; a client certificate optional (a kiosk's is
    read only to refuse it)."""
    return {
        "host": config.operator_host,
        "port": config.operator_port,
        "ssl_certfile": str(config.tls_cert),
        "ssl_keyfile": str(config.tls_key),
        "ssl_ca_certs": str(config.client_ca),
        "ssl_cert_reqs": ssl.CERT_OPTIONAL,
        "http": http_protocol,
        "log_level": "info",
        "access_log": False,
        "timeout_graceful_shutdown": config.shutdown_grace_seconds,
    }


class _Limit:
    """A form body over MAX_FORM_BYTES is refused before it is parsed."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            declared = dict(scope["headers"]).get(b"content-length")
            if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
                response = Response("too large", status_code=413)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_operator_app(
    config: Any,
    store: Any,
    metrics: CentralMetrics,
    clock: Callable[[], float],
) -> FastAPI:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False)
    app.add_middleware(_Limit)
    operators = Operators(store, clock)
    data = ConsoleData(store, config.stale_minutes)
    app.state.operators, app.state.data = operators, data

    @app.middleware("http")
    async def refuse_kiosks(request: Request, call_next: Any) -> Response:
        if _client_cert_cn(request):
            lang = _lang(request)
            return _page(
                request,
                "message.html",
                None,
                lang,
                status=403,
                message=TEXTS[lang]["kiosk_cert_refused"],
            )
        response = await call_next(request)
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self';"
            " frame-ancestors 'none'"
        )
        response.headers["Referrer-Policy"] = "no-referrer"
        q = request.query_params.get("lang")
        if q in LANGS:
            response.set_cookie(LANG_COOKIE, q, secure=True, httponly=True, samesite="strict")
        return response

    def current(request: Request) -> Session | None:
        return operators.session(request.cookies.get(SESSION_COOKIE))

    def need_session(request: Request) -> Session | Response:
        session = current(request)
        if session is None:
            expired = "1" if request.cookies.get(SESSION_COOKIE) else "0"
            return RedirectResponse(f"/console/login?expired={expired}", status_code=303)
        return session

    def refuse(request: Request, session: Session | None, key: str, status: int) -> Response:
        lang = _lang(request)
        return _page(
            request, "message.html", session, lang, status=status, message=TEXTS[lang][key]
        )

    def form_guard(request: Request, csrf: str | None, admin: bool) -> Session | Response:
        """The session of a state-changing form, or the refusal (nothing changes)."""
        session = current(request)
        if session is None:
            return refuse(request, None, "session_expired", 401)
        if not Operators.csrf_ok(session, csrf):
            return refuse(request, session, "csrf_refused", 403)
        if admin and session.role != "admin":
            return refuse(request, session, "admin_only", 403)
        return session

    @app.get("/")
    def root() -> Response:
        return RedirectResponse("/console/", status_code=303)

    @app.get("/console/login")
    def login_page(request: Request, expired: str = "0") -> Response:
        lang = _lang(request)
        token = secrets.token_urlsafe(32)
        response = _page(
            request,
            "login.html",
            None,
            lang,
            login_csrf=token,
            message=TEXTS[lang]["session_expired"] if expired == "1" else "",
        )
        response.set_cookie(
            LOGIN_CSRF_COOKIE,
            token,
            secure=True,
            httponly=True,
            samesite="strict",
            path="/console/login",
            max_age=3600,
        )
        return response

    @app.post("/console/login")
    def login(
        request: Request,
        name: str = Form("", max_length=64),
        password: str = Form("", max_length=200),
        csrf: str = Form("", max_length=100),
    ) -> Response:
        lang = _lang(request)
        cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not cookie or not secrets.compare_digest(cookie, csrf):
            return refuse(request, None, "csrf_refused", 403)
        try:
            token, _session = operators.login(name, password)
        except LoginRefused as refused:
            key = "login_locked" if refused.reason == "locked" else "login_wrong"
            return _page(
                request,
                "login.html",
                None,
                lang,
                status=401,
                login_csrf=cookie,
                message=TEXTS[lang][key],
            )
        response = RedirectResponse("/console/", status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            token,
            secure=True,
            httponly=True,
            samesite="strict",
            max_age=SESSION_SECONDS,
            path="/",
        )
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
        return response

    @app.post("/console/logout")
    def logout(request: Request, csrf: str = Form("", max_length=100)) -> Response:
        guard = form_guard(request, csrf, admin=False)
        if isinstance(guard, Response):
            return guard
        operators.logout(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/console/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/console/")
    def kiosks(request: Request, page: int = 1, alerts: str = "") -> Response:
        session = need_session(request)
        if isinstance(session, Response):
            return session
        rows, pages, alerting = data.kiosk_page(clock(), page, alerts_only=alerts == "1")
        return _page(
            request,
            "kiosks.html",
            session,
            _lang(request),
            refresh=30,
            kiosks=rows,
            page=min(max(1, page), pages),
            pages=pages,
            alerting=alerting,
            alerts_only=alerts == "1",
        )

    @app.post("/console/kiosks/{kiosk_id}/service")
    def set_service(
        request: Request,
        kiosk_id: str,
        out_of_service: str = Form("", max_length=1),
        csrf: str = Form("", max_length=100),
    ) -> Response:
        guard = form_guard(request, csrf, admin=True)
        if isinstance(guard, Response):
            return guard
        if out_of_service not in ("0", "1") or not data.known_kiosk(kiosk_id):
            return refuse(request, guard, "not_found", 404)
        data.set_out_of_service(kiosk_id, out_of_service == "1", guard.name, clock())
        return RedirectResponse("/console/", status_code=303)

    @app.get("/console/charts")
    def charts(
        request: Request, campaign: str = "", service: str = "", procedure: str = ""
    ) -> Response:
        session = need_session(request)
        if isinstance(session, Response):
            return session
        lang = _lang(request)
        now = clock()
        wanted = (campaign[:64], service[:64], procedure[:64])
        hours = data.counts("hour", now, *wanted)
        days = data.counts("day", now, *wanted)
        campaigns, procedures, services = data.choices(now)
        breakdown: Counter[tuple[str, str, str]] = Counter()
        for _b, c, p, s, n in days:
            breakdown[(c, p, s)] += n
        return _page(
            request,
            "charts.html",
            session,
            lang,
            hour_svg=bar_chart(TEXTS[lang]["per_hour"], _series(hours, "hour", now), "per-hour"),
            day_svg=bar_chart(TEXTS[lang]["per_day"], _series(days, "day", now), "per-day"),
            campaigns=campaigns,
            procedures=procedures,
            services=services,
            campaign=campaign,
            procedure=procedure,
            service=service,
            breakdown=sorted(breakdown.items()),
        )

    @app.get("/console/export.csv")
    def export(
        request: Request,
        campaign: str = "",
        service: str = "",
        period: str = "hour",
        procedure: str = "",
    ) -> Response:
        session = need_session(request)
        if isinstance(session, Response):
            return session
        period = "day" if period == "day" else "hour"
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow([period, "campaign_id", "procedure", "service_code", "accepted"])
        for row in data.counts(period, clock(), campaign[:64], service[:64], procedure[:64]):
            writer.writerow(row)
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="enrollments-per-{period}.csv"'},
        )

    @app.get("/console/lookup")
    def lookup(request: Request, receipt_no: str = "") -> Response:
        session = need_session(request)
        if isinstance(session, Response):
            return session
        receipt_no = receipt_no.strip()[:64]
        rows = data.receipt(receipt_no) if receipt_no else []
        return _page(
            request, "lookup.html", session, _lang(request), receipt_no=receipt_no, rows=rows
        )

    @app.get("/console/catalog")
    def catalog_page(request: Request) -> Response:
        session = need_session(request)
        if isinstance(session, Response):
            return session
        if session.role != "admin":
            return refuse(request, session, "admin_only", 403)
        return _page(request, "catalog.html", session, _lang(request))

    @app.post("/console/catalog")
    def publish(
        request: Request,
        kind: str = Form("", max_length=16),
        text: str = Form("", max_length=MAX_FORM_BYTES),
        csrf: str = Form("", max_length=100),
    ) -> Response:
        guard = form_guard(request, csrf, admin=True)
        if isinstance(guard, Response):
            return guard
        lang = _lang(request)
        target = {"services": config.services_file, "campaigns": config.campaigns_file}.get(kind)
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            doc = None
        if target is None or doc is None or not _entries(doc, kind):
            return _page(
                request,
                "catalog.html",
                guard,
                lang,
                status=400,
                message=TEXTS[lang]["catalog_invalid"],
            )
        _write_atomically(Path(target), text)
        return _page(
            request,
            "catalog.html",
            guard,
            lang,
            message=TEXTS[lang]["published"],
            message_class="ok",
        )

    @app.get("/metrics")
    def prometheus() -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return app


def _series(
    rows: list[tuple[str, str, str, str, int]], period: str, now: float
) -> list[tuple[str, int]]:
    """One bar per bucket of the window, oldest first, empty buckets as 0."""
    totals: Counter[str] = Counter()
    for bucket, *_key, n in rows:
        totals[bucket] += n
    if period == "hour":
        step, count, width = 3600, HOURS_SHOWN, 13
    else:
        step, count, width = 86400, DAYS_SHOWN, 10
    labels = [
        dt.datetime.fromtimestamp(now - i * step, dt.UTC).strftime("%Y-%m-%dT%H")[:width]
        for i in range(count - 1, -1, -1)
    ]
    return [(label, totals.get(label, 0)) for label in labels]


def _lang(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in LANGS:
        return q
    c = request.cookies.get(LANG_COOKIE)
    return c if c in LANGS else "ja"


def _page(
    request: Request,
    template: str,
    session: Session | None,
    lang: str,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    values.setdefault("message", "")
    values.setdefault("message_class", "")
    values.setdefault("refresh", 0)
    html = _env.get_template(template).render(
        t=TEXTS[lang],
        lang=lang,
        other_lang="en" if lang == "ja" else "ja",
        session=session,
        **values,
    )
    return HTMLResponse(html, status_code=status)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
