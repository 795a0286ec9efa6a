"""The OpenAPI document checked against the running API by schemathesis (issue 18, item 5):
generated requests, valid and not, to the real server on the real database; every answer
must be one the document describes, and no request gets a 500. Examples are bounded so the
suite stays quick on two cores."""

from __future__ import annotations

from collections.abc import Callable

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.integration.api_helpers import Api

EXAMPLES = 25  # per operation
# A request the document allows may still be refused for what it means (a number no phone
# has, a call before the log began): that is a 400 the document lists, not a disagreement.
MEANING_CHECKED = [schemathesis.checks.positive_data_acceptance]


def test_the_api_answers_as_its_document_says(api: Api, make_token: Callable[..., str]) -> None:
    schema = schemathesis.openapi.from_url(f"{api.base}/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {make_token('lookup', 'calls', name='schemathesis')}"}

    @given(case=schema.as_strategy())
    @settings(
        max_examples=EXAMPLES * len(list(schema.get_all_operations())),
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def answers_as_documented(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=api.base, headers=headers, excluded_checks=MEANING_CHECKED)

    answers_as_documented()
