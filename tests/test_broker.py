"""The embedded broker (graphs/runner/broker.py): kombu's memory transport, woken by puts and acks
instead of polling. Real kombu connections, producer and consumer on different threads."""

from __future__ import annotations

import threading

from kombu import Connection, Exchange, Queue

from graphs.runner.broker import Transport


def consumer_setup(name: str):
    connection = Connection("memory://localhost/", transport=Transport)
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name)
    received: list = []

    def on_message(body, message):
        received.append(body)
        message.ack()

    consumer = connection.Consumer(queue, callbacks=[on_message], accept=["json"])
    consumer.consume()
    return connection, queue, received


def count_looks(connection) -> list[int]:
    """Count how often the transport looks into its queues (what polling does all the time)."""
    transport = connection.transport
    looks = [0]
    real_get = transport.cycle.get

    def get(*args, **kwargs):
        looks[0] += 1
        return real_get(*args, **kwargs)

    transport.cycle.get = get
    return looks


def test_a_message_sent_from_another_thread_wakes_the_waiting_consumer():
    connection, queue, received = consumer_setup("wake-test")
    looks = count_looks(connection)

    def send() -> None:
        with Connection("memory://localhost/", transport=Transport) as producer_conn:
            producer_conn.Producer().publish({"n": 1}, exchange=queue.exchange, routing_key="wake-test",
                                             declare=[queue], serializer="json")

    timer = threading.Timer(0.3, send)
    timer.start()
    connection.drain_events(timeout=20)  # returns on delivery, long before the timeout
    timer.join()
    assert received == [{"n": 1}]
    assert looks[0] <= 3, f"looked {looks[0]} times: it polled instead of waiting to be woken"
    connection.release()


def test_an_idle_consumer_sleeps_instead_of_polling():
    connection, _queue, received = consumer_setup("idle-test")
    looks = count_looks(connection)
    try:
        connection.drain_events(timeout=0.5)
    except TimeoutError:
        pass
    assert received == []
    assert looks[0] <= 2, f"looked {looks[0]} times in an idle half second (kombu's 5 ms polling: ~100)"
    connection.release()
