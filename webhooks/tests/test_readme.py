"""The receiver the README shows verifies real deliveries, so the README cannot drift from the code."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from requests.structures import CaseInsensitiveDict

README = Path(__file__).resolve().parents[2] / "README.md"

pytestmark = pytest.mark.django_db


def readme_verify():
    section = README.read_text().split("## Webhooks", 1)[1]
    [code] = [block for block in re.findall(r"```python\n(.*?)```", section, re.S) if "def verify" in block]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 -- our own README
    return namespace["verify"]


@pytest.mark.parametrize("secret", ["plain-secret", "whsec_" + base64.b64encode(b"sixteen byte key").decode()])
def test_the_readme_receiver_accepts_real_deliveries_and_rejects_tampering(receiver, make_webhook, emit, secret):
    verify = readme_verify()
    make_webhook(secret=secret)
    emit()
    [request] = receiver.wait_for(1)
    headers = CaseInsensitiveDict(request.headers)
    assert verify(secret, headers, request.body)
    assert not verify(secret, headers, request.body.replace(b"SKU-1", b"SKU-2"))
    assert not verify("wrong", headers, request.body)
    replayed = CaseInsensitiveDict({**headers, "webhook-timestamp": str(int(headers["webhook-timestamp"]) - 3600)})
    assert not verify(secret, replayed, request.body)
