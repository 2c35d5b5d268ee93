"""A consentd client in Python: the common tasks over gRPC with grpcio.

Importing this module generates the Python stubs from the repository's
`proto/` (grpcio-tools' protoc) into a temporary directory that is removed at
exit, so they always match the API and are never committed. Then:

    channel = connect("127.0.0.1:50051", key)      # every call carries the key
    stub = ConsentServiceStub(channel)
    written = record_consent(stub, email=..., user_id=..., idempotency_key=...)
    check_consent(stub, by_email(...), "marketing", min_revision=written.revision)

Run it as a script for a walkthrough of every step against a running
consentd (CONSENTD_ADDR, default 127.0.0.1:50051, and CONSENTD_KEY):

    python consent_client.py
"""

from __future__ import annotations

import atexit
import collections
import os
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from importlib import resources
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from grpc_tools import protoc

# The API's source: proto/ at the root of the repository.
PROTO_DIR = Path(__file__).resolve().parents[2] / "proto"

# A deadline for every unary call: a call without one can wait forever on a
# server that accepted the connection but never answers.
TIMEOUT_SECONDS = 10.0


def generate_stubs(proto_dir: Path = PROTO_DIR) -> Path:
    """Generates the messages (`*_pb2`) and stubs (`*_pb2_grpc`) of every
    .proto under `proto_dir` into a new temporary directory (removed at exit)
    and returns it. Put it on `sys.path` to import `consent.v1.consent_pb2`."""
    out = Path(tempfile.mkdtemp(prefix="consentd-stubs-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    # The well-known types (google/protobuf/timestamp.proto, ...) ship with
    # grpcio-tools.
    well_known = resources.files("grpc_tools") / "_proto"
    files = sorted(str(path.relative_to(proto_dir)) for path in proto_dir.rglob("*.proto"))
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"--proto_path={proto_dir}",
            f"--proto_path={well_known}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            *files,
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed ({code}) on {proto_dir}")
    return out


sys.path.insert(0, str(generate_stubs()))
from consent.v1 import consent_pb2 as pb  # noqa: E402  (generated just above)
from consent.v1.consent_pb2_grpc import ConsentServiceStub  # noqa: E402

# --- Connecting ---


class _CallDetails(
    collections.namedtuple("_CallDetails", "method timeout metadata credentials wait_for_ready compression"),
    grpc.ClientCallDetails,
):
    """A call's details with other metadata (grpc's own interceptor idiom)."""


class BearerKey(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer <key>` to every call: the key names the
    tenant, and its scopes decide what the call may do."""

    def __init__(self, key: str) -> None:
        self._header = ("authorization", f"Bearer {key}")

    def _with_key(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(
            details.method,
            details.timeout,
            [*(details.metadata or ()), self._header],
            details.credentials,
            details.wait_for_ready,
            details.compression,
        )

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._with_key(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._with_key(client_call_details), request)


def connect(address: str, key: str, *, root_certificates: bytes | None = None) -> grpc.Channel:
    """A channel to consentd at `address` (host:port) whose every call carries
    `key`. Plaintext unless `root_certificates` (PEM) is given; then TLS,
    verified against them. Close it when done (it is a context manager)."""
    if root_certificates is None:
        channel = grpc.insecure_channel(address)
    else:
        channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(root_certificates))
    return grpc.intercept_channel(channel, BearerKey(key))


def by_email(email: str) -> pb.SubjectRef:
    """Names a subject by one of its identities (any linked one will do)."""
    return pb.SubjectRef(identity=pb.Identity(namespace="email", value=email))


# --- The common tasks ---


def record_consent(
    stub: ConsentServiceStub,
    *,
    email: str,
    user_id: str,
    idempotency_key: str,
    purposes: Sequence[str] = ("marketing", "analytics"),
    user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
    ip: str = "203.0.113.7",
) -> pb.RecordConsentResponse:
    """Records that a person, known by email and user id, granted `purposes`
    on the cookie banner. The two identities are linked to one subject. A
    retry with the same `idempotency_key` (after a timeout, say) returns the
    first answer and writes nothing; `revision` in the response is the
    write's consistency token."""
    request = pb.RecordConsentRequest(
        identities=[
            pb.Identity(namespace="email", value=email),
            pb.Identity(namespace="user_id", value=user_id),
        ],
        decisions=[pb.PurposeDecision(purpose=purpose, decision=pb.DECISION_GRANTED) for purpose in purposes],
        source="web",
        evidence=pb.Evidence(
            user_agent=user_agent,
            ip=ip,
            uri="https://shop.example/consent-banner",
            notice_version="2026-01",
            policy_version="2026-01",
        ),
        idempotency_key=idempotency_key,
    )
    return stub.RecordConsent(request, timeout=TIMEOUT_SECONDS)


def check_consent(
    stub: ConsentServiceStub,
    subject: pb.SubjectRef,
    purpose: str,
    *,
    min_revision: int = 0,
) -> pb.CheckConsentResponse:
    """May we do `purpose` with the subject now? With a write's `revision` as
    `min_revision` the answer includes that write whichever replica gives it
    (read-your-writes): one that has not reached it yet refuses with
    FAILED_PRECONDITION (REVISION_NOT_REACHED) rather than answer from an
    older state, and a retry succeeds."""
    request = pb.CheckConsentRequest(subject=subject, purpose=purpose, min_revision=min_revision)
    return stub.CheckConsent(request, timeout=TIMEOUT_SECONDS)


def query_history(
    stub: ConsentServiceStub, subject_id: str, *, page_size: int = 100
) -> Iterator[pb.ConsentRecord]:
    """Every record of a subject, oldest revision first, page by page. A page
    can be short, even empty, and still have a next page: follow the token
    until there is none."""
    request = pb.QueryConsentsRequest(subject_id=subject_id, history=True, page_size=page_size)
    while True:
        page = stub.QueryConsents(request, timeout=TIMEOUT_SECONDS)
        yield from page.records
        if not page.next_page_token:
            return
        request.page_token = page.next_page_token


def get_record(stub: ConsentServiceStub, record_id: str) -> pb.ConsentRecord:
    """One record by its id."""
    request = pb.GetConsentRequest(record_id=record_id)
    return stub.GetConsent(request, timeout=TIMEOUT_SECONDS).record


def get_current(stub: ConsentServiceStub, subject: pb.SubjectRef, purpose: str) -> pb.ConsentRecord:
    """The subject's current record for a purpose (any target)."""
    request = pb.GetConsentRequest(current=pb.CurrentRecordKey(subject=subject, purpose=purpose))
    return stub.GetConsent(request, timeout=TIMEOUT_SECONDS).record


def update_decision(
    stub: ConsentServiceStub,
    subject: pb.SubjectRef,
    purpose: str,
    decision: pb.Decision,
    *,
    expected_revision: int,
    idempotency_key: str,
) -> pb.UpdateConsentResponse:
    """Changes the decision for a purpose by appending a new record. It applies
    only while the current record still has `expected_revision` (the one read
    before deciding to change it); otherwise FAILED_PRECONDITION, and nothing
    is written: read again and decide again."""
    request = pb.UpdateConsentRequest(
        subject=subject,
        purpose=purpose,
        decision=decision,
        source="web",
        evidence=pb.Evidence(message="changed in the account's privacy settings"),
        expected_revision=expected_revision,
        idempotency_key=idempotency_key,
    )
    return stub.UpdateConsent(request, timeout=TIMEOUT_SECONDS)


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """The (field path, description) pairs of an INVALID_ARGUMENT's
    google.rpc.BadRequest detail, such as ("identities[0].namespace", ...)."""
    return [
        (violation.field, violation.description)
        for bad_request in _details(error, error_details_pb2.BadRequest)
        for violation in bad_request.field_violations
    ]


def error_reason(error: grpc.RpcError) -> str:
    """The machine-readable reason of a refusal (its google.rpc.ErrorInfo),
    such as REVISION_MISMATCH for an update from a stale read; "" if none."""
    return next((info.reason for info in _details(error, error_details_pb2.ErrorInfo)), "")


def _details(error: grpc.RpcError, kind: type) -> list:
    """The details of type `kind` in the google.rpc.Status that consentd sends
    in the trailers (grpc-status-details-bin) of a failed call."""
    status = rpc_status.from_call(error)
    found = []
    for detail in status.details if status is not None else ():
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            found.append(message)
    return found


# --- Following the change feed ---

# Codes after which resuming cannot help: a bad filter or position, or a key
# that is not (or no longer) good. Anything else (UNAVAILABLE on a restart or
# a broken connection, RESOURCE_EXHAUSTED for a consumer that fell behind, a
# stream the server closed) is resumed after the last position.
FATAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    }
)


class ChangeFollower:
    """Follows Subscribe and never misses an event: it remembers the position
    of the last event or heartbeat (`resume_token`), and whenever the stream
    breaks it reconnects with backoff and resumes after that position.

    Iterate it for the events; `close()` (from any thread) ends the iteration.
    A real consumer stores `resume_token` with the effect of each event and
    passes it back in after a restart.
    """

    def __init__(
        self,
        stub: ConsentServiceStub,
        request: pb.SubscribeRequest,
        *,
        resume_token: str = "",
    ) -> None:
        self._stub = stub
        self._request = request
        self.resume_token = resume_token
        self.resumes = 0  # how often a broken stream was resumed
        self._closed = threading.Event()
        self._call: grpc.Call | None = None
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[pb.ConsentEvent]:
        backoff = 0.1
        try:
            while not self._closed.is_set():
                try:
                    for message in self._open():
                        backoff = 0.1  # the stream works: not the server that is down
                        if message.HasField("event"):
                            self.resume_token = message.event.resume_token
                            yield message.event
                        elif message.heartbeat.resume_token:
                            # Nothing at or below the heartbeat follows: a
                            # checkpoint even when no event matches for hours.
                            self.resume_token = message.heartbeat.resume_token
                except grpc.RpcError as error:
                    if self._closed.is_set():
                        return
                    if error.code() in FATAL_CODES:
                        raise
                if self._closed.wait(backoff):
                    return
                self.resumes += 1
                backoff = min(2 * backoff, 10.0)
        finally:
            # However the iteration ends (close, an error, a consumer that
            # stopped iterating), no stream is left open.
            self.close()

    def _open(self) -> grpc.Call:
        request = pb.SubscribeRequest()
        request.CopyFrom(self._request)
        if self.resume_token:
            # The token replaces where the first request started.
            request.ClearField("after_revision")
            request.from_beginning = False
            request.resume_token = self.resume_token
        with self._lock:
            self._call = self._stub.Subscribe(request)
            if self._closed.is_set():
                self._call.cancel()
            return self._call

    def close(self) -> None:
        """Ends the iteration: the open stream is cancelled."""
        self._closed.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()


# --- The walkthrough ---


def walkthrough(stub: ConsentServiceStub) -> None:
    """Every task once, for one new person, printing what each answered."""
    person = uuid.uuid4().hex[:12]
    email, user_id = f"{person}@example.com", f"user-{person}"
    subject = by_email(email)

    written = record_consent(stub, email=email, user_id=user_id, idempotency_key=f"banner-{person}")
    print(f"1. subject {written.subject_id}: {len(written.records)} records, revision {written.revision}")

    answer = check_consent(stub, subject, "marketing", min_revision=written.revision)
    print(f"2. marketing for {email}: {pb.ConsentStatus.Name(answer.status)}")

    current = get_current(stub, subject, "marketing")
    updated = update_decision(
        stub,
        subject,
        "marketing",
        pb.DECISION_DENIED,
        expected_revision=current.revision,
        idempotency_key=f"settings-{person}",
    )
    answer = check_consent(stub, subject, "marketing", min_revision=updated.revision)
    print(f"3. updated marketing at revision {updated.revision}: now {pb.ConsentStatus.Name(answer.status)}")

    record = get_record(stub, written.records[0].id)
    decision = pb.Decision.Name(record.decision)
    print(f"4. record {record.id}: {record.purpose} {decision}, from {record.evidence.ip}")

    history = list(query_history(stub, written.subject_id, page_size=2))
    print(f"5. history: {[(r.revision, r.purpose, pb.Decision.Name(r.decision)) for r in history]}")

    follower = ChangeFollower(stub, pb.SubscribeRequest(subject_id=written.subject_id, from_beginning=True))
    for event in follower:
        print(f"6. event {event.revision} {pb.EventKind.Name(event.kind)} {event.record.purpose}")
        if event.revision >= updated.revision:
            follower.close()
    print(f"   resume later with resume_token={follower.resume_token}")

    bad = pb.RecordConsentRequest(identities=[pb.Identity(namespace="E-Mail", value=email)])
    try:
        stub.RecordConsent(bad, timeout=TIMEOUT_SECONDS)
    except grpc.RpcError as error:
        print(f"7. a bad request: {error.code().name} {field_violations(error)}")
    else:
        raise AssertionError("consentd accepted a request without decisions")


def main() -> None:
    address = os.environ.get("CONSENTD_ADDR", "127.0.0.1:50051")
    key = os.environ.get("CONSENTD_KEY")
    if not key:
        sys.exit("set CONSENTD_KEY to a consentd API key (consentd keys create --tenant NAME)")
    with connect(address, key) as channel:
        walkthrough(ConsentServiceStub(channel))


if __name__ == "__main__":
    main()
