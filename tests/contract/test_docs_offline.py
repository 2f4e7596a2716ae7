"""The interactive documentation works on a closed network: every asset it loads is served by SBT itself."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.slow  # a hardening suite: run by ./test and CI; ./test --fast leaves it out


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_documentation_pages_load_nothing_from_other_hosts(client: TestClient, page: str) -> None:
    response = client.get(page)
    assert response.status_code == 200
    html = response.text
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html) + re.findall(r"""url:\s*'([^']+)'""", html)
    assert assets, "the page loads its scripts and styles"
    assert [asset for asset in assets if re.match(r"^(https?:)?//", asset)] == []
    for asset in assets:
        assert client.get(asset).status_code == 200, asset
