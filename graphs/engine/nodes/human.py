"""What the human node kinds (approval, input) share: the timeout and its default action, and
how a node takes its answer or waits for one.

A human node never blocks a worker. With no answer yet it raises ``WaitForHuman``: the engine
settles it as ``waiting`` and, once nothing else can run, the run parks (status ``waiting``,
no lease, no worker). People answer through the server, which validates the answer with the
kind's ``answer_issues`` and re-enqueues the run; the resumed node finds the answer in
``ctx.human_answer()``, emits ``human_answered`` and produces its outputs.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, Field, StringConstraints

from .base import NodeConfig, NodeContext, NodeKind, WaitForHuman

MAX_WAIT_S = 90 * 24 * 3600  # a person may take up to 90 days
ROLE_PREFIX = "role:"
ROLES = ("viewer", "runner", "editor", "admin")  # a workspace's roles, least first


def _assignee(value: str) -> str:
    if value.startswith(ROLE_PREFIX) and value[len(ROLE_PREFIX):] not in ROLES:
        raise ValueError(f"unknown role {value[len(ROLE_PREFIX):]!r}: use one of " + ", ".join(ROLE_PREFIX + r for r in ROLES))
    return value


# A workspace member by username or email, or ``role:<role>`` (members with that role or above).
Assignee = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=254), AfterValidator(_assignee)]


class HumanConfig(NodeConfig):
    question: str = Field("", max_length=4000, description="What the person is asked (shown above the form).")
    answer_timeout_s: float | None = Field(
        None, gt=0, le=MAX_WAIT_S, description="Take the default action after this many seconds without an answer (empty: wait forever).")
    assignees: list[Assignee] = Field(
        default_factory=list, max_length=20,
        description="Who must answer: workspace members by username or email, or a role as role:editor (that role "
                    "and above). Empty: any member who may run the graph. Workspace admins may always answer.")


HumanConfigT = TypeVar("HumanConfigT", bound=HumanConfig)


class HumanKind(NodeKind[HumanConfigT]):
    """A node kind answered by a person."""

    category = "human"
    human: ClassVar[bool] = True

    def request(self, config: HumanConfigT, inputs: dict[str, Any]) -> dict[str, Any]:
        """What the person sees: the kind, the question, the inputs, the form (JSON Schema)."""
        return {"kind": self.kind, "question": config.question, "inputs": inputs, "form": self.form(config),
                "timeout_s": config.answer_timeout_s, "on_timeout": self.on_timeout(config),
                "assignees": list(config.assignees)}

    def form(self, config: HumanConfigT) -> dict[str, Any]:
        raise NotImplementedError

    def on_timeout(self, config: HumanConfigT) -> str | None:
        return None

    def answer_issues(self, config: HumanConfigT, answer: Any) -> list[tuple[str, str]]:
        """(path, message) for each problem with a person's answer; [] when it is acceptable."""
        raise NotImplementedError

    def timeout_answer(self, config: HumanConfigT) -> dict[str, Any]:
        """The answer given on the person's behalf when the timeout lapses."""
        return {"action": "fail"}

    def outputs_for(self, config: HumanConfigT, inputs: dict[str, Any], answer: dict[str, Any], source: str) -> dict[str, Any]:
        """The node's outputs for an answer (``source``: user, or timeout for the default action)."""
        raise NotImplementedError

    async def run(self, ctx: NodeContext, config: HumanConfigT, inputs: dict[str, Any]) -> dict[str, Any]:
        given = ctx.human_answer()
        if given is None:
            raise WaitForHuman(self.request(config, inputs))
        await ctx.emit("human_answered", {k: given.get(k) for k in ("answer", "by", "at", "source")})
        return self.outputs_for(config, inputs, given.get("answer") or {}, str(given.get("source") or "user"))

