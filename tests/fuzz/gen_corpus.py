#!/usr/bin/env python3
"""gen_corpus.py - writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

    tests/fuzz/gen_corpus.py [corpus-dir]     (default: the corpus/ beside this script)

The packets are built here, byte by byte after the MQTT 3.1.1 figures, not with the
codec under test, so a seed is also an independent check of the decoder. Every packet
type appears for MQTT 3.1 ("MQIsdp", level 3) and 3.1.1 ("MQTT", level 4) where a
CONNECT is involved. Seeds are named for what they hold; rerunning rewrites them
byte-identically and removes nothing else (reproducers of findings live beside them
as repro-*, which this script never touches).
"""
import os
import struct
import sys

# --- MQTT packets ---------------------------------------------------------------------

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = range(8, 15)


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def fixed(ptype, flags, body):
    return bytes([ptype << 4 | flags]) + varint(len(body)) + body


def s(text):
    """Length-prefixed string or binary data (MQTT 1.5.3, figure 1.1)."""
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">H", len(data)) + data


def connect(client_id, level=4, clean=True, keep_alive=60, will=None, user=None,
            password=None):
    name = "MQIsdp" if level == 3 else "MQTT"
    flags = 0x02 if clean else 0
    payload = s(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | qos << 3 | (0x20 if retain else 0)
        payload += s(topic) + s(message)
    if user is not None:
        flags |= 0x80
        payload += s(user)
    if password is not None:
        flags |= 0x40
        payload += s(password)
    body = s(name) + bytes([level, flags]) + struct.pack(">H", keep_alive) + payload
    return fixed(CONNECT, 0, body)


def connack(present, rc):
    return fixed(CONNACK, 0, bytes([1 if present else 0, rc]))


def publish(topic, payload, qos=0, pid=0, retain=False, dup=False):
    flags = qos << 1 | (1 if retain else 0) | (8 if dup else 0)
    body = s(topic) + (struct.pack(">H", pid) if qos else b"") + payload
    return fixed(PUBLISH, flags, body)


def ack(ptype, pid):
    return fixed(ptype, 2 if ptype == PUBREL else 0, struct.pack(">H", pid))


def subscribe(pid, filters):
    body = struct.pack(">H", pid)
    for f, qos in filters:
        body += s(f) + bytes([qos])
    return fixed(SUBSCRIBE, 2, body)


def suback(pid, codes):
    return fixed(SUBACK, 0, struct.pack(">H", pid) + bytes(codes))


def unsubscribe(pid, filters):
    return fixed(UNSUBSCRIBE, 2, struct.pack(">H", pid) + b"".join(s(f) for f in filters))


def empty(ptype):
    return fixed(ptype, 0, b"")


# --- codec corpus: byte 0 is the max_packet_size class (7 = protocol maximum) -----------

def codec_seeds():
    seeds = {}
    for level, tag in ((3, "v31"), (4, "v311")):
        seeds[f"connect-{tag}-min"] = connect("c1", level)
        seeds[f"connect-{tag}-empty-id"] = connect("", level)
        seeds[f"connect-{tag}-persistent"] = connect("sess", level, clean=False, keep_alive=5)
        for qos in (0, 1, 2):
            seeds[f"connect-{tag}-will-qos{qos}"] = connect(
                "w", level, will=("will/t", b"gone", qos, qos == 1))
        seeds[f"connect-{tag}-user-pass"] = connect("u", level, user="name", password=b"\0pw")
        seeds[f"connect-{tag}-user-only"] = connect("u", level, user="n\u00e9")
        seeds[f"connect-{tag}-all"] = connect(
            "all", level, clean=False, keep_alive=65535, will=("w/\u20ac", b"x" * 40, 2, True),
            user="user", password=b"secret")
    seeds["connect-level5-refused"] = connect("c5", 5)
    seeds["connack"] = connack(False, 0) + connack(True, 0) + connack(False, 5)
    seeds["publish-qos0"] = publish("a/b", b"hello")
    seeds["publish-qos0-empty-retain"] = publish("a", b"", retain=True)
    seeds["publish-qos1"] = publish("a/b/c", b"one", qos=1, pid=1)
    seeds["publish-qos1-dup"] = publish("x", b"again", qos=1, pid=65535, dup=True)
    seeds["publish-qos2-retain"] = publish("r/\U0001F600", b"\x00\xff" * 3, qos=2, pid=7,
                                           retain=True)
    seeds["publish-qos1-200-bytes"] = publish("big", bytes(range(200)), qos=1, pid=2)
    seeds["publish-qos0-20000-bytes"] = publish("bigger", b"z" * 20000)
    for ptype, name in ((PUBACK, "puback"), (PUBREC, "pubrec"), (PUBREL, "pubrel"),
                        (PUBCOMP, "pubcomp"), (UNSUBACK, "unsuback")):
        seeds[name] = ack(ptype, 1) + ack(ptype, 0x1234)
    seeds["subscribe-one"] = subscribe(1, [("a/b", 1)])
    seeds["subscribe-wildcards"] = subscribe(2, [("a/+/c", 0), ("#", 2), ("$SYS/#", 1)])
    seeds["suback"] = suback(2, [0, 1, 2, 0x80])
    seeds["unsubscribe"] = unsubscribe(3, ["a/b", "+/x/#"])
    for ptype, name in ((PINGREQ, "pingreq"), (PINGRESP, "pingresp"),
                        (DISCONNECT, "disconnect")):
        seeds[name] = empty(ptype)
    # Remaining length padded to 2 bytes (0x80 0x00): legal framing our encoder never
    # writes.
    seeds["pingreq-padded-length"] = bytes([PINGREQ << 4, 0x80, 0x00])
    seeds["session-stream-v311"] = (connect("s", 4) + subscribe(1, [("t/#", 2)]) +
                                    publish("t/1", b"p", qos=2, pid=9) + ack(PUBREL, 9) +
                                    empty(PINGREQ) + unsubscribe(2, ["t/#"]) +
                                    empty(DISCONNECT))
    seeds["session-stream-v31"] = (connect("s31", 3, clean=False) + publish("t", b"q", qos=1, pid=1) +
                                   ack(PUBACK, 1) + empty(DISCONNECT))
    out = {}
    for name, pkt in seeds.items():
        out[name] = bytes([7]) + pkt
    # The same CONNECT under the smallest limit (20 bytes) and around the 1->2 byte
    # remaining-length boundary (classes 1 and 2: 129 and 130 bytes).
    out["class0-connect"] = bytes([0]) + connect("c1", 4)
    out["class0-too-large"] = bytes([0]) + publish("t", b"p" * 30)
    out["class1-publish-129"] = bytes([1]) + publish("t", b"p" * 122)
    out["class2-publish-130"] = bytes([2]) + publish("t", b"p" * 123)
    # Bit 3: the topic-list iterator also walks the raw bytes (bit 4: with QoS bytes).
    out["raw-topic-walk"] = bytes([7 | 8 | 16]) + subscribe(5, [("a", 1), ("b/c", 2)])[4:]
    return out


# --- engine corpus: three config bytes, then operations (see fuzz_engine.c) -------------

OPEN, DATA, PACKET, TURN, LOST, LIMIT, DRAIN, BREAK = range(8)
# Config bytes: window 20, backpressure, 1000 queued, 1 MiB output, no keep-alive limit,
# anonymous clients, two workers.
CFG_DEFAULT = bytes([0x03 | 2 << 2, 2 | 3 << 2, 0])


def op(code, slot=0, arg=0):
    return bytes([code << 5 | arg << 3 | slot])


def open_(slot, worker=0):
    return op(OPEN, slot, worker)


def data(slot, payload):
    assert len(payload) < 1024
    return op(DATA, slot, len(payload) >> 8) + bytes([len(payload) & 0xFF]) + payload


def turn(quarter_seconds=0):
    return op(TURN, quarter_seconds & 7, quarter_seconds >> 3)


def packet(slot, kind, p=0, q=1):
    """The target's own packet builder (fuzz_packet): kind 0 CONNECT, 1 SUBSCRIBE,
    2 UNSUBSCRIBE, 3 PUBLISH, 4 large PUBLISH, 5 ack, 6 PINGREQ, 7 DISCONNECT."""
    return op(PACKET, slot) + bytes([kind, p, q])


def client(slot, cid, worker=0, level=4, clean=True, **kw):
    return open_(slot, worker) + data(slot, connect(cid, level, clean, **kw)) + turn()


def engine_seeds():
    e = {}
    for level, tag in ((3, "v31"), (4, "v311")):
        e[f"pubsub-qos0-{tag}"] = (
            client(0, "pub", 0, level) + client(1, "sub", 1, level) +
            data(1, subscribe(1, [("t/#", 0)])) + turn() +
            data(0, publish("t/a", b"hi")) + turn() +
            data(0, empty(DISCONNECT)) + data(1, empty(DISCONNECT)) + turn())
        e[f"qos1-across-workers-{tag}"] = (
            client(0, "pub", 0, level) + client(1, "sub", 1, level) +
            data(1, subscribe(1, [("t/+", 1)])) + turn() +
            data(0, publish("t/a", b"one", qos=1, pid=1)) + turn() +
            data(1, ack(PUBACK, 1)) + turn())
        e[f"qos2-both-legs-{tag}"] = (
            client(0, "pub", 0, level) + client(1, "sub", 0, level) +
            data(1, subscribe(1, [("t/a", 2)])) + turn() +
            data(0, publish("t/a", b"two", qos=2, pid=5)) + turn() +
            data(0, publish("t/a", b"two", qos=2, pid=5, dup=True)) +
            data(0, ack(PUBREL, 5)) + turn() +
            data(1, ack(PUBREC, 1)) + turn() + data(1, ack(PUBCOMP, 1)) + turn())
        e[f"takeover-same-worker-{tag}"] = (
            client(0, "a", 0, level, clean=False) + data(0, subscribe(1, [("x", 1)])) +
            client(1, "a", 0, level, clean=False) + turn() +
            data(1, empty(PINGREQ)) + turn())
        e[f"takeover-across-workers-{tag}"] = (
            client(0, "a", 0, level, clean=False, will=("t/a", b"w", 1, False)) +
            data(0, subscribe(1, [("t/#", 1)])) + client(2, "obs", 1, level) +
            data(2, subscribe(1, [("t/a", 1)])) + turn() +
            client(1, "a", 1, level, clean=False) + turn() + turn() +
            data(2, publish("t/b", b"after", qos=1, pid=2)) + turn())
    e["offline-queue-resume"] = (
        client(0, "a", 0, clean=False) + data(0, subscribe(1, [("t/#", 1)])) + turn() +
        op(LOST, 0) + turn() + client(1, "p", 1) +
        b"".join(data(1, publish("t/a", bytes([i]), qos=1, pid=i + 1)) for i in range(4)) +
        data(1, publish("t/b", b"q0")) + turn() +
        client(2, "a", 1, clean=False) + turn() +
        data(2, ack(PUBACK, 1) + ack(PUBACK, 2)) + turn())
    e["resume-resends-unacked"] = (
        client(0, "a", 0, clean=False) + data(0, subscribe(1, [("t/a", 2)])) +
        client(1, "p", 0) + data(1, publish("t/a", b"m", qos=2, pid=3)) + turn() +
        op(LOST, 0) + turn() + client(2, "a", 0, clean=False) + turn() +
        data(2, ack(PUBREC, 1)) + turn() + data(2, ack(PUBCOMP, 1)) + turn())
    e["retained-set-deliver-clear"] = (
        client(0, "p", 0) + data(0, publish("t/a", b"keep", qos=1, pid=1, retain=True)) +
        turn() + client(1, "s", 1) + data(1, subscribe(1, [("t/#", 1), ("#", 0)])) +
        turn() + data(0, publish("t/a", b"", retain=True)) + turn() +
        client(2, "s2", 0) + data(2, subscribe(1, [("+/+", 2)])) + turn())
    e["will-on-lost-connection"] = (
        client(0, "obs", 1) + data(0, subscribe(1, [("t/will", 2)])) +
        client(1, "w", 0, will=("t/will", b"gone", 2, True)) + turn() +
        op(LOST, 1, 1) + turn() + client(2, "late", 1) +
        data(2, subscribe(1, [("t/will", 0)])) + turn())
    e["will-not-sent-on-disconnect"] = (
        client(0, "obs", 0) + data(0, subscribe(1, [("t/will", 1)])) +
        client(1, "w", 1, will=("t/will", b"x", 1, False)) +
        data(1, empty(DISCONNECT)) + turn())
    e["keepalive-timeout"] = (client(0, "k", 0, keep_alive=1) + turn(4) + turn(4) +
                              data(0, empty(PINGREQ)) + turn(8))
    e["connect-timeout"] = open_(0) + open_(1, 1) + turn(31) + turn(31)
    e["backpressure-slow-subscriber"] = (
        client(0, "sub", 1, clean=False) + data(0, subscribe(1, [("t/#", 1)])) +
        op(LIMIT, 0, 0) + client(1, "pub", 0) +
        b"".join(data(1, publish("t/a", b"x" * 50, qos=1, pid=i + 1)) for i in range(8)) +
        turn() + op(LIMIT, 0, 1) + turn() + op(DRAIN, 0) + turn() +
        data(0, ack(PUBACK, 1)) + turn())
    e["write-error"] = (client(0, "sub", 0) + data(0, subscribe(1, [("t/a", 0)])) +
                        op(BREAK, 0, 0) + client(1, "pub", 1) +
                        data(1, publish("t/a", b"boom")) + turn() + turn())
    e["refused-level-and-empty-id"] = (
        open_(0) + data(0, connect("x", 5)) + open_(1) + data(1, connect("", clean=False)) +
        client(2, "", clean=True) + turn())
    e["malformed-after-connect"] = (client(0, "m") + data(0, bytes([0x30, 0x02, 0x00, 0x00])) +
                                    client(1, "n", 1) + data(1, bytes([0xF0, 0x00])) + turn())
    e["split-packets"] = (
        open_(0) + data(0, connect("split")[:5]) + turn() + data(0, connect("split")[5:]) +
        data(0, subscribe(1, [("a/b", 1)])[:3]) + data(0, subscribe(1, [("a/b", 1)])[3:]) +
        data(0, publish("a/b", b"self", qos=1, pid=1) + publish("a/b", b"x", qos=1, pid=2)[:4]) +
        turn() + data(0, publish("a/b", b"x", qos=1, pid=2)[4:]) + turn())
    e["unsubscribe-and-ping"] = (
        client(0, "u") + data(0, subscribe(1, [("t/a", 1), ("t/#", 2)])) +
        data(0, unsubscribe(2, ["t/#", "nope"])) + data(0, empty(PINGREQ)) +
        data(0, publish("t/a", b"me", qos=2, pid=1)) + turn())
    e["packet-ops"] = (
        open_(0) + packet(0, 0, 0x04) + open_(1, 1) + packet(1, 0, 0x05) +
        packet(1, 1, 0x12) + turn() + packet(0, 3, 0x08, 9) + packet(0, 4, 0x04, 10) +
        turn() + packet(1, 5, 0x00, 1) + packet(0, 5, 0x02, 9) + packet(0, 6) +
        open_(2) + packet(2, 0, 0x00) + turn() + packet(2, 7) + turn())
    e["window-of-one-drop-oldest"] = (
        bytes([0x00 | 1 << 2, 0x00 | 3 << 2, 0]) +
        client(0, "s", 0, clean=False) + data(0, subscribe(1, [("t/a", 1)])) +
        client(1, "p", 1) +
        b"".join(data(1, publish("t/a", bytes([i]), qos=1, pid=i + 1)) for i in range(5)) +
        turn() + data(0, ack(PUBACK, 1)) + turn())
    e["limits-small"] = (
        bytes([0x80 | 0x20 | 0x10, 0x40 | 0x80 | 1 << 2, 0]) +
        client(0, "a", 0) + client(1, "b", 1) + client(2, "c", 0) + client(3, "d", 1) +
        data(0, subscribe(1, [("t/#", 1)])) + data(1, publish("t/a", b"r", retain=True)) +
        data(1, publish("t/a", b"y" * 60, qos=1, pid=1)) + turn())
    e["no-anonymous-one-worker"] = (
        bytes([0x03 | 2 << 2, 2 | 3 << 2, 1 | 4]) +
        client(0, "anon") + client(1, "user", 1, user="u", password=b"p") +
        open_(2) + packet(2, 0, 0x00, 0x0C) + turn())
    return {name: CFG_DEFAULT + ops if not name.startswith(("window", "limits", "no-anon"))
            else ops for name, ops in e.items()}


def write_corpus(root, target, seeds):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print(f"{d}: {len(seeds)} seeds")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    write_corpus(root, "codec", codec_seeds())
    write_corpus(root, "engine", engine_seeds())


if __name__ == "__main__":
    main()
