"""Every listing reads ``pagination.next_page`` by one rule: a link, or the end."""

from __future__ import annotations

import json
from typing import Any

import pytest

from zuora_wf_async._core.responses import RawResponse
from zuora_wf_async._core.workflow_readers import read_task_page, read_workflow_page
from zuora_wf_async._errors import ResponseDecodeError

TASK = {"id": 1, "name": "t", "status": "Error", "instance": False, "tags": []}
WORKFLOW = {"id": 7, "name": "w", "status": "Active"}
READERS = [
    pytest.param(read_task_page, TASK, id="tasks"),
    pytest.param(read_workflow_page, WORKFLOW, id="workflows"),
]
NEXT = "https://rest.zuora.com/workflows/tasks?page=2&page_length=20"


def _page(items: list[Any], pagination: object) -> RawResponse:
    body = json.dumps({"data": items, "pagination": pagination}).encode()
    return RawResponse(status=200, headers={"Content-Type": "application/json"}, body=body)


@pytest.mark.parametrize(("read", "item"), READERS)
@pytest.mark.parametrize(
    ("pagination", "expected"),
    [
        ({"next_page": NEXT}, NEXT),
        ({"next_page": None}, None),
        ({"next_page": ""}, None),
        ({}, None),
        (None, None),
    ],
)
def test_a_link_or_the_end(read: Any, item: dict[str, Any], pagination: object, expected: object):
    assert read(_page([item], pagination)).next_page == expected


@pytest.mark.parametrize(("read", "item"), READERS)
def test_an_empty_page_ends_the_listing_whatever_it_names(read: Any, item: dict[str, Any]):
    assert read(_page([], {"next_page": NEXT})).next_page is None


@pytest.mark.parametrize(("read", "item"), READERS)
@pytest.mark.parametrize("link", [12, ["x"], {"href": NEXT}, True])
def test_a_link_that_is_no_text_is_refused(read: Any, item: dict[str, Any], link: object):
    # Taken for the end, it cut the listing short without a word.
    with pytest.raises(ResponseDecodeError) as caught:
        read(_page([item], {"next_page": link}))
    assert caught.value.field == "pagination.next_page"
