"""The independent DKIM verifier of missive's tests: dkimpy (Debian's
python3-dkim, with python3-nacl for ed25519-sha256).

Usage: dkim_verify.py MESSAGE RECORDS.json
RECORDS.json maps "selector._domainkey.domain." to the TXT record. Every
DKIM-Signature in MESSAGE is verified; one line per signature:
"N pass|fail a=ALG d=DOMAIN s=SELECTOR h=HEADERS". Exit 0 only if there is at
least one signature and every one passes.
"""
import json
import re
import sys

import dkim

raw = open(sys.argv[1], "rb").read()
records = json.load(open(sys.argv[2]))
# Delivered mail has LF line ends (testbed README): back to CRLF.
msg = re.sub(rb"\r?\n", b"\r\n", raw)


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    rec = records.get(name) or records.get(name.rstrip(".") + ".")
    return rec.encode() if rec else None


d = dkim.DKIM(msg)
sigs = [v for (k, v) in d.headers if k.lower() == b"dkim-signature"]
ok = bool(sigs)
for i, sig in enumerate(sigs):
    try:
        good = d.verify(idx=i, dnsfunc=dnsfunc)
    except Exception as e:  # a verifier error is a failure, with its reason
        print(f"{i} error {e}")
        good = False
    tags = dict(
        (t.split(b"=", 1)[0].strip().decode(), re.sub(rb"\s+", b"", t.split(b"=", 1)[1]).decode())
        for t in sig.split(b";")
        if b"=" in t
    )
    print(f"{i} {'pass' if good else 'fail'} a={tags.get('a')} d={tags.get('d')} s={tags.get('s')} c={tags.get('c')} h={tags.get('h')}")
    ok = ok and good
sys.exit(0 if ok else 1)
