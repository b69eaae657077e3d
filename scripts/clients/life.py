"""A call's life through the Python client openapi-python-client generates from the live document.

Usage: python life.py GENERATED_DIR BASE_URL ADMIN_KEY — GENERATED_DIR holds the `sessions_client`
package. The server runs in keys mode: the admin key mints a project key (`createKey`), and the
call's life runs with it (`AuthenticatedClient`).
Written as a user would: the operations by their operationId, request bodies built with the
generated models, responses read through the generated models (`parsed`), problems as typed
`Problem`s. Exits non-zero at the first step that does not behave.
"""

import enum
import importlib
import pkgutil
import sys
import typing
import uuid
from http import HTTPStatus

sys.path.insert(0, sys.argv[1])
BASE_URL = sys.argv[2]
ADMIN_KEY = sys.argv[3]

import sessions_client  # noqa: E402
import sessions_client.api  # noqa: E402
from sessions_client import AuthenticatedClient, Client  # noqa: E402


def operation(name):
    """The module of the operation `name` (snake case of its operationId), whatever its tag."""
    for module in pkgutil.walk_packages(sessions_client.api.__path__, "sessions_client.api."):
        if module.name.rsplit(".", 1)[-1] == name:
            return importlib.import_module(module.name)
    raise AssertionError(f"the client has no operation {name}")


def body_of(op, value):
    """The operation's request body model, built from `value` (its wire form)."""
    hint = typing.get_type_hints(op.sync_detailed)["body"]
    model = next(t for t in typing.get_args(hint) or (hint,) if hasattr(t, "from_dict"))
    return model.from_dict(value)


def enum_of(op, name, value):
    """The value of the operation's enum parameter `name`, through its generated enum."""
    hint = typing.get_type_hints(op.sync_detailed)[name]
    kind = next(t for t in typing.get_args(hint) or (hint,) if isinstance(t, type) and issubclass(t, enum.Enum))
    return kind(value)


def check(ok, what):
    if not ok:
        raise AssertionError(what)
    print(f"  ok  {what}")


def check_problem(response, code, what):
    """A 409 whose body the client parsed as a `Problem` with this code."""
    problem, kind = wire(response)
    check(
        response.status_code == HTTPStatus.CONFLICT and kind == "Problem" and problem["code"] == code,
        f"{what}: 409, a Problem with code {code}",
    )


def wire(response):
    """The parsed model's wire form, and the model's class name."""
    parsed = response.parsed
    return parsed.to_dict() if hasattr(parsed, "to_dict") else parsed, type(parsed).__name__


def utterance(i):
    return {
        "text": f"utterance {i}",
        "confidence": 0.93,
        "final": True,
        "words": [{"word": "utterance", "startMs": 120 * i, "endMs": 120 * i + 90}],
        "speaker": {"role": "bot" if i % 2 else "caller", "channel": i},
    }


def main():
    create, append = operation("create_session"), operation("append_event")
    complete, list_events = operation("complete_session"), operation("list_events")
    get_session, list_sessions = operation("get_session"), operation("list_sessions")
    session_id = f"py-{uuid.uuid4().hex[:12]}"

    # without a key: a typed 401 problem
    anonymous = Client(base_url=BASE_URL, raise_on_unexpected_status=True)
    refused = get_session.sync_detailed(session_id, client=anonymous)
    problem, kind = wire(refused)
    check(
        refused.status_code == HTTPStatus.UNAUTHORIZED and kind == "Problem" and problem["code"] == "unauthorized",
        "without a key: 401, a Problem with code unauthorized",
    )

    # the admin key mints a project key; the call's life runs with it
    admin = AuthenticatedClient(base_url=BASE_URL, token=ADMIN_KEY, raise_on_unexpected_status=True)
    create_key = operation("create_key")
    wanted = {
        "project": f"py-{uuid.uuid4().hex[:8]}",
        "scopes": ["read", "write", "delete"],
        "name": "client-check",
    }
    minted = create_key.sync_detailed(client=admin, body=body_of(create_key, wanted))
    key, kind = wire(minted)
    check(
        minted.status_code == HTTPStatus.CREATED and kind == "CreatedKey" and key["key"].startswith(key["id"]),
        "mint a key: 201, a CreatedKey with its text",
    )
    client = AuthenticatedClient(base_url=BASE_URL, token=key["key"], raise_on_unexpected_status=True)
    webhooks(admin, wanted["project"])

    # create, then replay
    body = {
        "sessionId": session_id,
        "language": "en-US",
        "metadata": {"from": "+15550100", "campaign": {"id": 7, "tags": ["spring", "retention"]}},
    }
    created = create.sync_detailed(client=client, body=body_of(create, body))
    session, kind = wire(created)
    check(created.status_code == HTTPStatus.CREATED and kind == "Session", "create: 201 with a Session")
    check(session["sessionId"] == session_id and session["metadata"] == body["metadata"], "create: as sent")
    again = create.sync_detailed(client=client, body=body_of(create, body))
    check(
        again.status_code == HTTPStatus.OK
        and again.headers.get("Idempotent-Replayed") == "true"
        and wire(again)[0]["createdAt"] == session["createdAt"],
        "create again: 200, Idempotent-Replayed, the stored session",
    )

    # append five events, then replay the first
    for i in range(1, 6):
        event = {"eventId": f"e{i}", "type": "user_speech", "payload": utterance(i)}
        appended = append.sync_detailed(session_id, client=client, body=body_of(append, event))
        stored, kind = wire(appended)
        check(
            appended.status_code == HTTPStatus.CREATED and kind == "Event" and stored["seq"] == i,
            f"append e{i}: 201, an Event with seq {i}",
        )
        check(stored["payload"] == utterance(i), f"append e{i}: payload as sent")
    first = {"eventId": "e1", "type": "user_speech", "payload": utterance(1)}
    replay = append.sync_detailed(session_id, client=client, body=body_of(append, first))
    check(
        replay.status_code == HTTPStatus.OK
        and replay.headers.get("Idempotent-Replayed") == "true"
        and wire(replay)[0]["seq"] == 1,
        "append e1 again: 200, Idempotent-Replayed, seq 1",
    )

    # the same id with other content: a typed problem
    other = {"eventId": "e1", "type": "user_speech", "payload": {"text": "something else"}}
    conflict = append.sync_detailed(session_id, client=client, body=body_of(append, other))
    check_problem(conflict, "event-conflict", "append e1 with other content")

    # page through with cursors
    seen, cursor = [], None
    for _ in range(10):
        kwargs = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = list_events.sync_detailed(session_id, client=client, **kwargs)
        data, kind = wire(page)
        check(page.status_code == HTTPStatus.OK and kind == "EventPage", "a page: 200, an EventPage")
        seen += [e["eventId"] for e in data["data"]]
        if not data["hasMore"]:
            break
        cursor = data["nextCursor"]
    check(seen == ["e1", "e2", "e3", "e4", "e5"], f"pages of 2 walk e1..e5 once, in order ({seen})")

    # the recogniser's final result replaces its interim: a correction, then the current view
    final = {"eventId": "e5-final", "type": "user_speech", "payload": {"text": "utterance 5, final"}, "supersedes": "e5"}
    fixed = append.sync_detailed(session_id, client=client, body=body_of(append, final))
    correction, kind = wire(fixed)
    check(
        fixed.status_code == HTTPStatus.CREATED and kind == "Event" and correction["supersedes"] == "e5",
        "correct e5: 201, an Event that supersedes e5",
    )
    current = list_events.sync_detailed(session_id, client=client, view=enum_of(list_events, "view", "current"))
    standing, kind = wire(current)
    check(
        kind == "EventPage" and [e["eventId"] for e in standing["data"]] == ["e1", "e2", "e3", "e4", "e5-final"],
        "view=current: e5 replaced by e5-final",
    )
    get_event = operation("get_event")
    corrected, kind = wire(get_event.sync_detailed(session_id, "e5", client=client))
    check(kind == "Event" and corrected["supersededBy"] == "e5-final", "e5 read back: supersededBy e5-final")

    # complete without a body, then no new events
    completed = complete.sync_detailed(session_id, client=client)
    ended, kind = wire(completed)
    check(
        completed.status_code == HTTPStatus.OK and ended["status"] == "completed" and ended["endedAt"],
        "complete without a body: 200, completed, endedAt set",
    )
    late = {"eventId": "e6", "type": "system", "payload": {"reason": "too late"}}
    closed = append.sync_detailed(session_id, client=client, body=body_of(append, late))
    check_problem(closed, "session-closed", "append after complete")

    read = get_session.sync_detailed(session_id, client=client)
    whole, kind = wire(read)
    check(
        kind == "SessionWithEvents" and whole["eventCount"] == 6 and len(whole["events"]["data"]) == 6,
        "read back: a SessionWithEvents with its 6 events",
    )

    # find it among the completed sessions, newest first
    listed = list_sessions.sync_detailed(client=client, status="completed", limit=500)
    found, kind = wire(listed)
    check(
        listed.status_code == HTTPStatus.OK
        and kind == "SessionPage"
        and any(s["sessionId"] == session_id and s["eventCount"] == 6 for s in found["data"]),
        "list completed sessions: 200, a SessionPage holding it",
    )

    # redact one event, then erase the session
    redact, erase = operation("redact_event"), operation("erase_session")
    redacted = redact.sync_detailed(session_id, "e1", client=client)
    blank, kind = wire(redacted)
    check(
        redacted.status_code == HTTPStatus.OK and kind == "Event" and blank["payload"] == {} and blank["redactedAt"],
        "redact: 200, an Event with an empty payload and redactedAt",
    )
    erased = erase.sync_detailed(session_id, client=client)
    check(erased.status_code == HTTPStatus.NO_CONTENT, "erase: 204")
    gone = get_session.sync_detailed(session_id, client=client)
    problem, kind = wire(gone)
    check(
        gone.status_code == HTTPStatus.GONE and kind == "Problem" and problem["code"] == "session-erased",
        "read after erase: 410, a Problem with code session-erased",
    )


def webhooks(admin, project):
    """The webhook endpoint operations, with the admin key: register, list, change, rotate, see its
    deliveries, send again, delete."""
    create, list_ = operation("create_webhook"), operation("list_webhooks")
    get, update = operation("get_webhook"), operation("update_webhook")
    rotate, delete = operation("rotate_webhook_secret"), operation("delete_webhook")
    wanted = {"project": project, "url": "https://hooks.example.com/calls", "events": ["session.completed"]}
    created = create.sync_detailed(client=admin, body=body_of(create, wanted))
    endpoint, kind = wire(created)
    check(
        created.status_code == HTTPStatus.CREATED
        and kind == "WebhookWithSecret"
        and endpoint["secret"].startswith("whsec_")
        and endpoint["enabled"] is True,
        "register a webhook endpoint: 201, a WebhookWithSecret with its secret",
    )
    listed = list_.sync_detailed(client=admin, project=project)
    found, kind = wire(listed)
    check(
        listed.status_code == HTTPStatus.OK
        and kind == "WebhookList"
        and [w["id"] for w in found["data"]] == [endpoint["id"]]
        and "secret" not in found["data"][0],
        "list webhook endpoints: 200, a WebhookList without secrets",
    )
    changed = update.sync_detailed(endpoint["id"], client=admin, body=body_of(update, {"enabled": False, "events": ["event.appended", "session.created"]}))
    patched, kind = wire(changed)
    check(
        changed.status_code == HTTPStatus.OK
        and kind == "WebhookInfo"
        and patched["enabled"] is False
        and patched["events"] == ["session.created", "event.appended"],
        "change a webhook endpoint: 200, a WebhookInfo as changed",
    )
    rotated = rotate.sync_detailed(endpoint["id"], client=admin)
    renewed, kind = wire(rotated)
    check(
        rotated.status_code == HTTPStatus.OK and kind == "WebhookWithSecret" and renewed["secret"] != endpoint["secret"],
        "rotate its secret: 200, a new secret",
    )
    deliveries = operation("list_webhook_deliveries")
    replay, resend = operation("replay_webhook_messages"), operation("resend_webhook_message")
    page = deliveries.sync_detailed(endpoint["id"], client=admin, status=enum_of(deliveries, "status", "failed"), limit=10)
    listed, kind = wire(page)
    check(
        page.status_code == HTTPStatus.OK and kind == "DeliveryPage" and listed["data"] == [] and listed["hasMore"] is False,
        "list its deliveries: 200, an empty DeliveryPage",
    )
    replayed = replay.sync_detailed(endpoint["id"], client=admin, body=body_of(replay, {"since": "2026-01-01T00:00:00Z"}))
    counted, kind = wire(replayed)
    check(
        replayed.status_code == HTTPStatus.ACCEPTED and kind == "Resent" and counted["resent"] == 0,
        "replay since a time: 202, Resent 0",
    )
    unknown = resend.sync_detailed(endpoint["id"], "msg_00000000000000ff", client=admin)
    problem, kind = wire(unknown)
    check(
        unknown.status_code == HTTPStatus.NOT_FOUND and kind == "Problem" and problem["code"] == "not-found",
        "send an unknown message again: 404, a Problem",
    )
    check(delete.sync_detailed(endpoint["id"], client=admin).status_code == HTTPStatus.NO_CONTENT, "delete it: 204")
    gone = get.sync_detailed(endpoint["id"], client=admin)
    problem, kind = wire(gone)
    check(
        gone.status_code == HTTPStatus.NOT_FOUND and kind == "Problem" and problem["code"] == "not-found",
        "read it after deletion: 404, a Problem with code not-found",
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as error:  # noqa: BLE001 - any failure is reported as one line
        print(f"  FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
