"""The example client against a running consentd: CONSENTD_ADDR (host:port)
and CONSENTD_KEY (a key with the default scopes) name it.

    python -m unittest -v test_example

Each test writes for people of its own (random emails), so the suite can
run against a server that already holds records.
"""

from __future__ import annotations

import contextlib
import faulthandler
import io
import os
import queue
import socket
import threading
import unittest
import uuid

import grpc

import consent_client as client
from consent_client import pb

# A wait that never ends is a failure too: after five minutes every thread's
# stack is printed and the run exits (CI must never hang on a stream).
faulthandler.dump_traceback_later(300, exit=True)


def new_person() -> tuple[str, str]:
    """A fresh email and user id."""
    person = uuid.uuid4().hex
    return f"{person}@example.com", f"user-{person}"


class CuttableProxy:
    """A loopback TCP proxy to consentd that the test can cut: every open
    connection is closed and new ones refused until it is restored, as a
    network failure or a restart would do to a stream."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self._target = (host, int(port))
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._cut = threading.Event()
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                inbound, _ = self._listener.accept()
            except OSError:
                return  # closed
            # Under the lock, so a cut either sees this connection or
            # refuses it.
            with self._lock:
                if self._cut.is_set():
                    inbound.close()
                    continue
                outbound = socket.create_connection(self._target)
                self._sockets.update((inbound, outbound))
            threading.Thread(target=self._pump, args=(inbound, outbound), daemon=True).start()
            threading.Thread(target=self._pump, args=(outbound, inbound), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        with self._lock:
            self._cut.set()
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread
        self._listener.close()
        self.cut()


class ExampleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.address = os.environ.get("CONSENTD_ADDR", "")
        key = os.environ.get("CONSENTD_KEY", "")
        if not cls.address or not key:
            raise RuntimeError(
                "set CONSENTD_ADDR (host:port) and CONSENTD_KEY to a running consentd and its key"
            )
        cls.key = key
        cls.channel = client.connect(cls.address, key)
        cls.stub = client.ConsentServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.channel.close()

    def record(self, **kwargs) -> tuple[str, pb.RecordConsentResponse]:
        email, user_id = new_person()
        written = client.record_consent(
            self.stub,
            email=email,
            user_id=user_id,
            idempotency_key=uuid.uuid4().hex,
            **kwargs,
        )
        return email, written

    def test_a_recorded_grant_is_granted_by_either_identity(self) -> None:
        email, user_id = new_person()
        written = client.record_consent(
            self.stub, email=email, user_id=user_id, idempotency_key=uuid.uuid4().hex
        )
        self.assertEqual([r.purpose for r in written.records], ["marketing", "analytics"])
        self.assertEqual(written.revision, max(r.revision for r in written.records))
        for record in written.records:
            self.assertEqual(record.subject_id, written.subject_id)
            self.assertEqual(record.decision, pb.DECISION_GRANTED)
            self.assertEqual(record.evidence.ip, "203.0.113.7")
            self.assertIn("Firefox", record.evidence.user_agent)
            self.assertEqual(
                {(i.namespace, i.value) for i in record.identities},
                {("email", email), ("user_id", user_id)},
            )

        by_user_id = pb.SubjectRef(identity=pb.Identity(namespace="user_id", value=user_id))
        for subject in (client.by_email(email), by_user_id):
            for purpose in ("marketing", "analytics"):
                answer = client.check_consent(self.stub, subject, purpose, min_revision=written.revision)
                self.assertEqual(answer.status, pb.CONSENT_STATUS_GRANTED, purpose)
                self.assertGreaterEqual(answer.revision, written.revision)
                self.assertEqual(answer.record.subject_id, written.subject_id)
        unknown = client.check_consent(
            self.stub,
            client.by_email(email),
            "sale_sharing",
            min_revision=written.revision,
        )
        self.assertEqual(unknown.status, pb.CONSENT_STATUS_UNKNOWN)

    def test_a_retry_with_the_same_idempotency_key_writes_nothing(self) -> None:
        email, user_id = new_person()
        key = uuid.uuid4().hex
        first = client.record_consent(self.stub, email=email, user_id=user_id, idempotency_key=key)
        again = client.record_consent(self.stub, email=email, user_id=user_id, idempotency_key=key)
        self.assertEqual(again.revision, first.revision)
        self.assertEqual([r.id for r in again.records], [r.id for r in first.records])
        self.assertEqual(len(list(client.query_history(self.stub, first.subject_id))), 2)

    def test_an_update_with_the_expected_revision_denies(self) -> None:
        email, written = self.record()
        subject = client.by_email(email)
        current = client.get_current(self.stub, subject, "marketing")
        self.assertEqual(current.id, written.records[0].id)

        updated = client.update_decision(
            self.stub,
            subject,
            "marketing",
            pb.DECISION_DENIED,
            expected_revision=current.revision,
            idempotency_key=uuid.uuid4().hex,
        )
        self.assertEqual(updated.record.kind, pb.EVENT_KIND_UPDATED)
        answer = client.check_consent(self.stub, subject, "marketing", min_revision=updated.revision)
        self.assertEqual(answer.status, pb.CONSENT_STATUS_DENIED)
        self.assertEqual(answer.record.id, updated.record.id)
        # The other purpose is untouched.
        other = client.check_consent(self.stub, subject, "analytics", min_revision=updated.revision)
        self.assertEqual(other.status, pb.CONSENT_STATUS_GRANTED)

        # A second update from the same (now stale) read is refused.
        with self.assertRaises(grpc.RpcError) as refused:
            client.update_decision(
                self.stub,
                subject,
                "marketing",
                pb.DECISION_GRANTED,
                expected_revision=current.revision,
                idempotency_key=uuid.uuid4().hex,
            )
        self.assertEqual(refused.exception.code(), grpc.StatusCode.FAILED_PRECONDITION)
        self.assertEqual(client.error_reason(refused.exception), "REVISION_MISMATCH")
        still = client.check_consent(self.stub, subject, "marketing")
        self.assertEqual(still.status, pb.CONSENT_STATUS_DENIED)

    def test_get_returns_the_record_written(self) -> None:
        email, written = self.record()
        for record in written.records:
            got = client.get_record(self.stub, record.id)
            self.assertEqual(got, record)
        current = client.get_current(self.stub, client.by_email(email), "analytics")
        self.assertEqual(current, written.records[1])
        with self.assertRaises(grpc.RpcError) as missing:
            client.get_current(self.stub, client.by_email(email), "sale_sharing")
        self.assertEqual(missing.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_paging_returns_every_record_exactly_once(self) -> None:
        purposes = [f"purpose_{n}" for n in range(5)]
        email, written = self.record(purposes=purposes)
        subject = client.by_email(email)
        ids = [r.id for r in written.records]
        for purpose in purposes[:3]:
            current = client.get_current(self.stub, subject, purpose)
            updated = client.update_decision(
                self.stub,
                subject,
                purpose,
                pb.DECISION_DENIED,
                expected_revision=current.revision,
                idempotency_key=uuid.uuid4().hex,
            )
            ids.append(updated.record.id)

        first_page = self.stub.QueryConsents(
            pb.QueryConsentsRequest(subject_id=written.subject_id, history=True, page_size=3),
            timeout=client.TIMEOUT_SECONDS,
        )
        self.assertEqual(len(first_page.records), 3)
        self.assertTrue(first_page.next_page_token, "eight records do not fit a page of three")

        records = list(client.query_history(self.stub, written.subject_id, page_size=3))
        self.assertEqual([r.id for r in records], ids)  # each once, in revision order
        revisions = [r.revision for r in records]
        self.assertEqual(revisions, sorted(set(revisions)))

    def test_subscribe_resumes_after_a_disconnect_without_gaps_or_duplicates(
        self,
    ) -> None:
        email, written = self.record()
        subject = client.by_email(email)
        proxy = CuttableProxy(self.address)
        self.addCleanup(proxy.close)
        channel = client.connect(proxy.address, self.key)
        self.addCleanup(channel.close)
        follower = client.ChangeFollower(
            client.ConsentServiceStub(channel),
            pb.SubscribeRequest(subject_id=written.subject_id, from_beginning=True),
        )
        self.addCleanup(follower.close)
        events: queue.Queue[pb.ConsentEvent | BaseException] = queue.Queue()

        def consume() -> None:
            try:
                for event in follower:
                    events.put(event)
            except BaseException as error:  # handed to the test thread
                events.put(error)

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()

        def next_events(count: int) -> list[pb.ConsentEvent]:
            got = []
            for _ in range(count):
                item = events.get(timeout=30)
                if isinstance(item, BaseException):
                    raise item
                got.append(item)
            return got

        seen = next_events(2)  # the replayed record
        self.assertEqual([e.record.id for e in seen], [r.id for r in written.records])

        # The connection breaks; three updates are made while the follower
        # cannot reach the server, then the network comes back.
        proxy.cut()
        expected = [r.id for r in written.records]
        for decision in (pb.DECISION_DENIED, pb.DECISION_GRANTED, pb.DECISION_DENIED):
            current = client.get_current(self.stub, subject, "marketing")
            updated = client.update_decision(
                self.stub,
                subject,
                "marketing",
                decision,
                expected_revision=current.revision,
                idempotency_key=uuid.uuid4().hex,
            )
            expected.append(updated.record.id)
        proxy.restore()

        seen += next_events(3)
        follower.close()
        consumer.join(timeout=30)
        self.assertFalse(consumer.is_alive())

        self.assertEqual([e.record.id for e in seen], expected)
        revisions = [e.revision for e in seen]
        self.assertEqual(revisions, sorted(set(revisions)), "strictly increasing: no duplicate")
        self.assertEqual([e.kind for e in seen[2:]], [pb.EVENT_KIND_UPDATED] * 3)
        self.assertGreaterEqual(follower.resumes, 1, "the stream broke and was resumed")
        self.assertEqual(follower.resume_token, seen[-1].resume_token)
        self.assertTrue(events.empty(), "nothing after the last update")

    def test_a_bad_request_is_invalid_argument_naming_the_field(self) -> None:
        email, _ = new_person()
        bad = pb.RecordConsentRequest(
            identities=[pb.Identity(namespace="E-Mail", value=email)],
            decisions=[pb.PurposeDecision(purpose="marketing", decision=pb.DECISION_GRANTED)],
        )
        with self.assertRaises(grpc.RpcError) as refused:
            self.stub.RecordConsent(bad, timeout=client.TIMEOUT_SECONDS)
        self.assertEqual(refused.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        violations = client.field_violations(refused.exception)
        self.assertEqual([field for field, _ in violations], ["identities[0].namespace"], violations)
        self.assertTrue(violations[0][1])
        # Nothing was written.
        answer = client.check_consent(self.stub, client.by_email(email), "marketing")
        self.assertEqual(answer.status, pb.CONSENT_STATUS_UNKNOWN)

    def test_a_wrong_key_is_unauthenticated(self) -> None:
        with (
            client.connect(self.address, "ck_0000000000000000.not-a-key") as channel,
            self.assertRaises(grpc.RpcError) as refused,
        ):
            client.check_consent(
                client.ConsentServiceStub(channel), client.by_email("a@example.com"), "marketing"
            )
        self.assertEqual(refused.exception.code(), grpc.StatusCode.UNAUTHENTICATED)

    def test_the_walkthrough_runs_every_step(self) -> None:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            client.walkthrough(self.stub)
        lines = printed.getvalue()
        self.assertIn("CONSENT_STATUS_GRANTED", lines)
        self.assertIn("now CONSENT_STATUS_DENIED", lines)
        self.assertIn("EVENT_KIND_UPDATED", lines)
        self.assertIn("7. a bad request: INVALID_ARGUMENT", lines)


if __name__ == "__main__":
    unittest.main()
