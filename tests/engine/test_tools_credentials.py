"""A stored credential goes only to the hosts its admin named: an HTTP tool that would send it to
another host fails its node with the tool, the host and the credential, and the other host (a
second real server) never receives the secret."""

from __future__ import annotations

import json

import pytest

from graphs.engine.tools import StoredCredential, credential_allows, host_rule_problem
from tests.fakellm import ToolCalls
from tests.toolservers import ToolAPI

from .test_tools import agent_graph

SECRET = "sk-only-for-the-first-host-0123456789"


@pytest.fixture
def second_api():
    api = ToolAPI().start()
    yield api
    api.stop()


def echo(name, api):
    return {"type": "http", "name": name, "url": f"{api.url}/echo-headers",
            "headers": [{"name": "Authorization", "value": "Bearer {{secret}}", "credential": "api"}]}


def resolver(hosts_by_lookup):
    """The run driver's lookup: the key with the hosts it may go to (``hosts_by_lookup`` gives the
    hosts of each successive lookup, as if an admin changed them meanwhile)."""
    lookups = []

    async def resolve(name):
        if name != "api":
            return None
        lookups.append(name)
        return StoredCredential(SECRET, hosts_by_lookup[min(len(lookups), len(hosts_by_lookup)) - 1])

    return resolve


def everything_heard(*apis):
    return json.dumps([r for api in apis for r in api.requests])


async def test_a_credential_is_never_sent_to_a_host_outside_its_allowed_hosts(harness, tool_api, second_api):
    harness.fake.script("both", replies=[ToolCalls(("mine", {}), ("elsewhere", {})), {"answer": "ok"}])
    doc = agent_graph([echo("mine", tool_api), echo("elsewhere", second_api)])
    result = await harness.run(doc, {"task": "both"}, tools_allow_private=True,
                               tool_credentials=resolver([[tool_api.url]]))  # the first server's origin only
    assert result.status == "failed"
    port = second_api.url.rsplit(":", 1)[1]
    assert result.error["type"] == "credential_host" and result.error["node"] == "helper"
    assert result.error["tool"] == "elsewhere" and result.error["credential"] == "api"
    assert result.error["host"] == f"127.0.0.1:{port}" and result.error["allowed_hosts"] == [tool_api.url]
    assert "elsewhere" in result.error["message"] and "'api'" in result.error["message"]
    # refused before any call: the model was never asked, and neither server heard anything
    assert harness.fake.calls("both") == [] and tool_api.requests == [] and second_api.requests == []
    assert SECRET not in json.dumps(harness.events.events) + json.dumps(harness.checkpoints.saved)


async def test_the_allowed_host_gets_the_secret(harness, tool_api, second_api):
    harness.fake.script("mine", replies=[ToolCalls(("mine", {})), {"answer": "ok"}])
    result = await harness.run(agent_graph([echo("mine", tool_api)]), {"task": "mine"}, tools_allow_private=True,
                               tool_credentials=resolver([["127.0.0.1"]]))  # a host rule: any port on it
    assert result.status == "succeeded", result.error
    assert tool_api.calls("/echo-headers")[0]["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert second_api.requests == []


async def test_hosts_changed_during_a_run_are_checked_again_at_the_call(harness, tool_api, second_api):
    """Allowed when the node started, refused when the call is made (an admin narrowed the hosts):
    the call is not made, nothing is journaled as started, the node fails naming the host."""
    harness.fake.script("later", replies=[ToolCalls(("mine", {})), {"answer": "ok"}])
    result = await harness.run(agent_graph([echo("mine", tool_api)]), {"task": "later"}, tools_allow_private=True,
                               tool_credentials=resolver([[tool_api.url], [second_api.url]]))
    assert result.status == "failed" and result.error["type"] == "credential_host"
    assert result.error["tool"] == "mine" and result.error["allowed_hosts"] == [second_api.url]
    assert SECRET not in everything_heard(tool_api, second_api) and tool_api.requests == []
    assert harness.checkpoints.saved["r1"]["helper"]["tool_calls"] == []


async def test_a_credential_with_no_hosts_goes_nowhere(harness, tool_api):
    result = await harness.run(agent_graph([echo("mine", tool_api)]), {"task": "x"}, tools_allow_private=True,
                               tool_credentials=resolver([[]]))
    assert result.status == "failed" and result.error["type"] == "credential_host"
    assert "an admin must set its allowed hosts" in result.error["message"] and tool_api.requests == []


@pytest.mark.parametrize(("rules", "url", "allowed"), [
    (["api.example.com"], "https://api.example.com/v1?q=1", True),
    (["api.example.com"], "http://api.example.com:8080/", True),
    (["API.example.com"], "https://api.example.com/", True),
    (["api.example.com"], "https://api.example.com.evil.net/", False),
    (["api.example.com"], "https://evil.net/?api.example.com", False),
    (["api.example.com"], "https://api.example.com@evil.net/", False),
    (["*.example.com"], "https://eu.api.example.com/", True),
    (["*.example.com"], "https://example.com/", False),
    (["*.example.com"], "https://badexample.com/", False),
    (["https://api.example.com"], "https://api.example.com:443/x", True),
    (["https://api.example.com"], "http://api.example.com/x", False),
    (["https://api.example.com:8443"], "https://api.example.com/x", False),
    ([], "https://api.example.com/", False),
])
def test_host_rules(rules, url, allowed):
    assert credential_allows(rules, url) is allowed


@pytest.mark.parametrize("rule", ["api.example.com", "*.example.com", "https://api.example.com:8443", "10.0.0.1"])
def test_good_rules(rule):
    assert host_rule_problem(rule) == ""


@pytest.mark.parametrize("rule", ["", "ftp://x.org", "https://x.org/path", "a b", "*", "https://user@x.org", "x.org:99999"])
def test_bad_rules(rule):
    assert host_rule_problem(rule)
