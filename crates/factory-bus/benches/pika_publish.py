"""The peer of benches/publish.rs: pika publishing the same messages (a JSON-lines file of
routing key, properties and body, written by the Rust benchmark) to the same exchange, with
publisher confirms and the same number of messages in flight, on pika's asynchronous
SelectConnection (its blocking connection waits for each confirm in turn, which measures
round trips, not a publisher). Prints `pika: N events in S s`."""

import json
import sys
import time

import pika

url, exchange, path, window = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open(path, encoding="utf-8") as f:
    messages = [json.loads(line) for line in f]

state = {"next": 0, "acked": 0, "start": None}


def publish_more(channel):
    while state["next"] < len(messages) and state["next"] - state["acked"] < window:
        m = messages[state["next"]]
        props = pika.BasicProperties(
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
            message_id=m["id"],
            headers=m["headers"],
        )
        channel.basic_publish(exchange, m["topic"], m["body"].encode("utf-8"), props)
        state["next"] += 1


def on_confirm(frame, channel, connection):
    method = frame.method
    if isinstance(method, pika.spec.Basic.Nack):
        raise SystemExit("nacked")
    tag = method.delivery_tag
    state["acked"] = tag if method.multiple else max(state["acked"], tag)
    if state["acked"] >= len(messages):
        elapsed = time.monotonic() - state["start"]
        print(f"pika: {len(messages)} events in {elapsed:.3f} s", flush=True)
        connection.close()
        return
    publish_more(channel)


def on_channel(channel, connection):
    def confirmed(_frame):
        state["start"] = time.monotonic()
        publish_more(channel)

    channel.confirm_delivery(lambda f: on_confirm(f, channel, connection), callback=confirmed)


def on_open(connection):
    connection.channel(on_open_callback=lambda ch: on_channel(ch, connection))


connection = pika.SelectConnection(
    pika.URLParameters(url),
    on_open_callback=on_open,
    on_close_callback=lambda conn, _reason: conn.ioloop.stop(),
)
connection.ioloop.start()
