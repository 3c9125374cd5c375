#!/usr/bin/python3
"""churn.py PORT SECONDS - session churn against a broker on 127.0.0.1:PORT, with
paho-mqtt (Debian's python3-paho-mqtt), bounded by SECONDS.

Twelve threads connect again and again with client ids drawn from a set of six, with
random cleanSession, subscribe, and leave with DISCONNECT or by dropping the socket:
constant takeovers, across workers when the broker runs several. Three publishers
send QoS 0/1/2 messages (some retained) meanwhile. Prints one line of counts; exits 0
when it ran to the end (connection errors are counted, not fatal: a takeover may
close a socket at any moment)."""
import random
import sys
import threading
import time

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
stop = time.time() + float(sys.argv[2])
counts = {"connects": 0, "errors": 0, "published": 0}
lock = threading.Lock()


def bump(key, n=1):
    with lock:
        counts[key] += n


def churn(seed):
    r = random.Random(seed)
    while time.time() < stop:
        c = mqtt.Client(client_id="churn%d" % r.randrange(6), clean_session=r.random() < 0.5)
        try:
            c.connect("127.0.0.1", port, keepalive=5)
            c.loop_start()
            c.subscribe([("t/%d" % r.randrange(4), r.randrange(3)), ("t/#", 1)])
            bump("connects")
            time.sleep(r.random() * 0.05)
            if r.random() < 0.5:
                c.disconnect()
            elif c.socket() is not None:
                c.socket().close()
        except Exception:
            bump("errors")
            time.sleep(0.01)
        finally:
            c.loop_stop()


def publish(n):
    c = mqtt.Client(client_id="churn-pub%d" % n)
    c.connect("127.0.0.1", port)
    c.loop_start()
    i = 0
    while time.time() < stop:
        c.publish("t/%d" % (i % 4), b"x" * (i % 200), qos=i % 3, retain=(i % 50 == 0))
        i += 1
        if i % 100 == 0:
            time.sleep(0.01)
    bump("published", i)
    c.disconnect()
    c.loop_stop()


# A socket closed under paho's network thread raises there; that is expected churn.
threading.excepthook = lambda args: bump("errors")

threads = [threading.Thread(target=churn, args=(i,)) for i in range(12)]
threads += [threading.Thread(target=publish, args=(i,)) for i in range(3)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("connects=%(connects)d errors=%(errors)d published=%(published)d" % counts)
