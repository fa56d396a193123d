"""A bounded property-based test of the central API (issue 12, finding 18): schemathesis
generates requests from the service's own OpenAPI schema, valid ones and ones that break
it, and sends them with the kiosk's client certificate to a real service over HTTPS.

The schema is off in production (``openapi = false``); this test's service turns it on.
Bounded and repeatable: a fixed number of cases per operation, ``derandomize=True`` (the
same cases on every run), no example database.

Every answer must be below 500, and every refusal (4xx) a typed JSON answer: a JSON
object with ``detail``, never a server error page or a bare status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

from tests.fixtures.central import CentralService, start_central

pytest_plugins = ["tests.fixtures.central"]

#: Cases per operation and generation mode: 10 operations x 2 modes x 12 = 240 requests.
CASES = 12


@pytest.fixture(scope="module")
def central_with_schema(
    tmp_path_factory: pytest.TempPathFactory,
    jpki,  # noqa: ANN001
) -> Iterator[CentralService]:
    service = start_central(tmp_path_factory.mktemp("central-openapi"), pki=jpki, openapi=True)
    yield service
    service.stop()


def assert_typed_answer(response, where: str) -> None:  # noqa: ANN001
    assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or ""
        if isinstance(content_type, list):  # schemathesis keeps every value of a header
            content_type = content_type[0] if content_type else ""
        assert content_type.startswith("application/json"), (
            f"{where}: {response.status_code} is not JSON: {response.text[:300]}"
        )
        body = response.json()
        assert isinstance(body, dict) and "detail" in body, f"{where}: {body!r}"[:400]


@pytest.mark.slow
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_generated_request_gets_a_server_error(
    central_with_schema: CentralService, mode: GenerationMode
) -> None:
    svc = central_with_schema
    transport = {
        "verify": str(svc.ca_cert),
        "cert": (str(svc.client_cert), str(svc.client_key)),
        "timeout": 30,
    }
    with svc.session() as kiosk:
        document = kiosk.get(svc.base_url + "/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    tested = 0
    for operation in operations:

        @settings(
            max_examples=CASES,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def check(case) -> None:  # noqa: ANN001
            with svc.session() as session:
                response = case.call(base_url=svc.base_url, session=session, **transport)
            assert_typed_answer(response, f"{case.method} {case.formatted_path}")

        try:
            check()
        except Unsatisfiable:  # nothing to break: no body or parameter (negative mode)
            assert mode is GenerationMode.NEGATIVE, operation.label
            continue
        tested += 1
    assert tested >= 4


def test_a_refusal_is_recognised_as_typed(tmp_path: Path) -> None:
    """The check itself: a bare 503 and an HTML 400 are not typed answers."""

    class Answer:
        def __init__(self, status: int, content_type: str, text: str) -> None:
            self.status_code, self.text = status, text
            self.headers = {"content-type": content_type}

        def json(self) -> object:
            import json

            return json.loads(self.text)

    assert_typed_answer(Answer(422, "application/json", '{"detail": []}'), "ok")
    for bad in (Answer(503, "", ""), Answer(400, "text/html", "<html>")):
        with pytest.raises(AssertionError):
            assert_typed_answer(bad, "bad")
