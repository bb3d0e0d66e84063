"""Does a costly request stall the server? $lookup latency while maximal inline expansions run.

Run: python bench/bench_blocking.py  (starts its own `termserver serve` on a free loopback port)

The request is the largest inline value set the server accepts (50 regex filters over FSIII);
two clients send it in a loop while a third times 40 $lookup requests.
"""

import json
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

FSIII = "urn:oid:1.2.208.176.2.21"
FFB = "urn:oid:1.2.208.176.2.22"
VASKE = "885400cc-dd71-479e-8993-3fc48fdd6710"
flt = [
    {"property": "display", "op": "regex", "value": "(.*a.*|.*e.*)*" + "x?" * 90} for _ in range(50)
]
vs = {
    "resourceType": "ValueSet",
    "url": "http://example.org/vs",
    "status": "draft",
    "compose": {"include": [{"system": FSIII, "filter": flt}]},
}
body = json.dumps(
    {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]}
).encode()
s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
srv = subprocess.Popen(
    [sys.executable, "-m", "termserver", "serve", "--port", str(port), "--log-level", "warning"],
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
base = f"http://127.0.0.1:{port}"
try:
    for _ in range(300):
        try:
            urllib.request.urlopen(base + "/fhir/metadata", timeout=1)
            break
        except OSError:
            time.sleep(0.1)

    def heavy():
        req = urllib.request.Request(
            base + "/fhir/ValueSet/$expand",
            data=body,
            headers={"content-type": "application/fhir+json"},
        )
        t = time.perf_counter()
        r = urllib.request.urlopen(req, timeout=120)
        r.read()
        return time.perf_counter() - t

    alone = [heavy() for _ in range(3)]
    print(
        f"max-size inline expand (50 regex filters over FSIII) alone: min {min(alone):.2f} s, median {statistics.median(alone):.2f} s"
    )
    stop = False

    def load():
        while not stop:
            heavy()

    threads = [threading.Thread(target=load) for _ in range(2)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    lat = []
    for _ in range(40):
        t = time.perf_counter()
        urllib.request.urlopen(f"{base}/fhir/CodeSystem/$lookup?system={FFB}&code={VASKE}").read()
        lat.append((time.perf_counter() - t) * 1000)
    stop = True
    for t in threads:
        t.join()
    lat.sort()
    print(
        f"$lookup while 2 such expands run: min {lat[0]:.1f} ms, median {statistics.median(lat):.1f} ms, max {lat[-1]:.1f} ms"
    )
finally:
    srv.terminate()
    srv.wait(10)
