#!/usr/bin/env bash
# dnssec-up.sh - NSD on 127.0.0.1:$TB_DNSSEC_PORT (5354), authoritative for a
# private DNSSEC tree signed here with ldns: its own root ".", "test." and
# child zones, for missive's DANE tests (RFC 7672). Never recursive, never forwards.
#
#   ./dnssec-up.sh          start (regenerates keys, certificates and zones; restarts NSD)
#   ./dnssec-up.sh stop     stop the NSD started here (pid file)
#   ./dnssec-up.sh status
#
# Everything goes to $TESTBED_DIR/dnssec/ (keys are made fresh at each start and
# never committed):
#   root.key        the trust anchor: the root's DNSKEY in zone-file form
#                   (missive send --dnssec-trust-anchor root.key)
#   root.ds/test.ds the same as DS records, of the root and of test.
#   ca.crt/ca.key   a CA of its own (not the testbed's, so PKIX cannot vouch for it)
#   mx.crt/mx.key   leaf for every mx-*.dane.test name, signed by ca.crt;
#   mx-chain.pem    mx.crt then ca.crt (DANE-TA needs the TA in the chain, RFC 7672 §3.2.2)
#   ee.crt/ee.key   self-signed, for the name "unrelated.invalid" only (DANE-EE
#                   ignores names and dates, RFC 7672 §3.1.1)
#
# Zones (every address is loopback; the MX hosts are the tests' `missive serve`s):
#   .               signed; delegates test. (DS)
#   test.           signed; delegates dane.test., bogus.test. and n3.test. (DS), insecure.test. (no DS)
#   dane.test.      signed:
#     ee.dane.test       MX 10 mx-ee      127.0.0.31  TLSA 3 1 1 sha256(ee SPKI)
#     ta.dane.test       MX 10 mx-ta      127.0.0.32  TLSA 2 0 1 sha256(ca.crt)
#     bad.dane.test      MX 10 mx-bad     127.0.0.33  TLSA 3 1 1 (a wrong hash)
#     second.dane.test   MX 10 mx-bad, MX 20 mx-ee    (the first mismatches, the second matches)
#     notlsa.dane.test   MX 10 mx-notlsa  127.0.0.34  (no TLSA: proven absent)
#     plain.dane.test    MX 10 mx-plain   127.0.0.35  TLSA 3 1 1 sha256(ee SPKI)  (the test's server offers no STARTTLS)
#     pkix.dane.test     MX 10 mx-pkix    127.0.0.36  TLSA 1 1 1 / 0 0 1 only (unusable, RFC 7672 §3.1.3)
#     cross.dane.test    MX 10 mx.insecure.test       (a secure MX whose host is in the unsigned zone)
#     alias.dane.test    CNAME ee.dane.test           (a signed alias of a secure MX set)
#   n3.test.        signed with NSEC3 (0 iterations, no salt, RFC 9276), so the
#                   denials below are NSEC3 proofs:
#     ee.n3.test         MX 10 mx-ee.n3.test 127.0.0.31  TLSA 3 1 1 sha256(ee SPKI)
#     notlsa.n3.test     MX 10 mx-notlsa.n3.test 127.0.0.34  (no TLSA: NSEC3 no-data)
#     unsigned.n3.test.  delegated without DS (NSEC3-proven insecure): MX 10
#                        mx.unsigned.n3.test 127.0.0.37 with a wrong TLSA record
#   insecure.test.  unsigned, no DS in test.: MX 10 mx.insecure.test 127.0.0.37,
#                   which has a TLSA record that must be ignored (insecure);
#                   alias.insecure.test CNAME ee.dane.test (an unsigned link
#                   to a secure MX set: the answer is insecure, RFC 7672 §2.1.3)
#   bogus.test.     signed, then the RRSIG over its MX set altered: bogus
#     bogus.test         MX 10 mx.bogus.test 127.0.0.38 (bogus MX answer)
#     tlsa.bogus.test    MX 10 mx-tlsa.bogus.test 127.0.0.39, whose TLSA RRSIG is altered
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TB_NAME=dnssec
. "$HERE/common.sh"

TB_DNSSEC_PORT="${TB_DNSSEC_PORT:-5354}"
D="$TESTBED_DIR/dnssec"
PIDF="$D/nsd.pid"

case "${1:-start}" in
  stop) tb_kill_pidfile "$PIDF" "nsd"; exit 0 ;;
  status)
    if p=$(tb_pid_alive "$PIDF"); then tb_log "nsd running, pid $p"; else tb_log "nsd not running"; fi
    exit 0 ;;
  start|up|"") ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac

[ "$(id -u)" = 0 ] || tb_die "run as root"
for b in nsd ldns-keygen ldns-signzone openssl; do
  command -v "$b" >/dev/null || tb_die "$b not installed - run install.sh"
done
T0=$(tb_now)
if p=$(tb_pid_alive "$PIDF"); then
  tb_log "nsd already running (pid $p) - restarting with fresh zones"
  tb_kill_pidfile "$PIDF" "nsd"
fi
rm -rf "$D"; mkdir -p "$D/keys" "$D/zones"; chmod 755 "$TESTBED_DIR" "$D"

# --- certificates and the TLSA data computed from them ---------------------
cd "$D"
cat > ext.cnf <<'EOF'
[dane_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[dane_mx]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx-ee.dane.test, DNS:mx-ta.dane.test, DNS:mx-bad.dane.test, DNS:mx-notlsa.dane.test, DNS:mx-plain.dane.test, DNS:mx-pkix.dane.test, DNS:mx.insecure.test, DNS:mx.bogus.test, DNS:mx-tlsa.bogus.test, DNS:mx-notlsa.n3.test, DNS:mx.unsigned.n3.test
[dane_ee]
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:unrelated.invalid
EOF
q() { "$@" >/dev/null 2>&1; }
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.crt \
  -days 30 -subj "/CN=missive DANE test CA" -extensions dane_ca -config <(cat /etc/ssl/openssl.cnf ext.cnf)
q openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout mx.key -out mx.csr -subj "/CN=mx-ta.dane.test"
q openssl x509 -req -in mx.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out mx.crt -days 30 -extfile ext.cnf -extensions dane_mx
cat mx.crt ca.crt > mx-chain.pem
q openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ee.key -out ee.crt \
  -days 30 -subj "/CN=unrelated.invalid" -extensions dane_ee -config <(cat /etc/ssl/openssl.cnf ext.cnf)
chmod 644 ./*.key ./*.crt ./*.pem   # test processes (maybe not root) read them
EE_SPKI=$(openssl x509 -in ee.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
CA_CERT=$(openssl x509 -in ca.crt -outform DER | sha256sum | cut -d' ' -f1)
MX_SPKI=$(openssl x509 -in mx.crt -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)
WRONG=$(printf 'not the key' | sha256sum | cut -d' ' -f1)

# --- zones -----------------------------------------------------------------
soa() { # $1 zone
  printf '$TTL 300\n%s IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n%s IN NS ns.test.\n' "$1" "$1"
}
{ soa dane.test.
  for h in ee:31 ta:32 bad:33 notlsa:34 plain:35 pkix:36; do
    echo "mx-${h%%:*}.dane.test. IN A 127.0.0.${h##*:}"
  done
  cat <<EOF
ee.dane.test. IN MX 10 mx-ee.dane.test.
_25._tcp.mx-ee.dane.test. IN TLSA 3 1 1 $EE_SPKI
ta.dane.test. IN MX 10 mx-ta.dane.test.
_25._tcp.mx-ta.dane.test. IN TLSA 2 0 1 $CA_CERT
bad.dane.test. IN MX 10 mx-bad.dane.test.
_25._tcp.mx-bad.dane.test. IN TLSA 3 1 1 $WRONG
second.dane.test. IN MX 10 mx-bad.dane.test.
second.dane.test. IN MX 20 mx-ee.dane.test.
notlsa.dane.test. IN MX 10 mx-notlsa.dane.test.
plain.dane.test. IN MX 10 mx-plain.dane.test.
_25._tcp.mx-plain.dane.test. IN TLSA 3 1 1 $EE_SPKI
pkix.dane.test. IN MX 10 mx-pkix.dane.test.
_25._tcp.mx-pkix.dane.test. IN TLSA 1 1 1 $MX_SPKI
_25._tcp.mx-pkix.dane.test. IN TLSA 0 0 1 $CA_CERT
cross.dane.test. IN MX 10 mx.insecure.test.
alias.dane.test. IN CNAME ee.dane.test.
EOF
} > zones/dane.test.zone
{ soa insecure.test.
  cat <<EOF
insecure.test. IN MX 10 mx.insecure.test.
mx.insecure.test. IN A 127.0.0.37
_25._tcp.mx.insecure.test. IN TLSA 3 1 1 $WRONG
alias.insecure.test. IN CNAME ee.dane.test.
EOF
} > zones/insecure.test.zone
{ soa bogus.test.
  cat <<EOF
bogus.test. IN MX 10 mx.bogus.test.
mx.bogus.test. IN A 127.0.0.38
tlsa.bogus.test. IN MX 10 mx-tlsa.bogus.test.
mx-tlsa.bogus.test. IN A 127.0.0.39
_25._tcp.mx-tlsa.bogus.test. IN TLSA 3 1 1 $EE_SPKI
EOF
} > zones/bogus.test.zone

{ soa n3.test.
  cat <<EOF
ee.n3.test. IN MX 10 mx-ee.n3.test.
mx-ee.n3.test. IN A 127.0.0.31
_25._tcp.mx-ee.n3.test. IN TLSA 3 1 1 $EE_SPKI
notlsa.n3.test. IN MX 10 mx-notlsa.n3.test.
mx-notlsa.n3.test. IN A 127.0.0.34
unsigned.n3.test. IN NS ns.test.
EOF
} > zones/n3.test.zone
{ soa unsigned.n3.test.
  cat <<EOF
unsigned.n3.test. IN MX 10 mx.unsigned.n3.test.
mx.unsigned.n3.test. IN A 127.0.0.37
_25._tcp.mx.unsigned.n3.test. IN TLSA 3 1 1 $WRONG
EOF
} > zones/unsigned.n3.test.zone
cp zones/unsigned.n3.test.zone zones/unsigned.n3.test.zone.signed

# One key per zone (a combined signing key, flags 257), ECDSA P-256 (algorithm 13).
keygen() { # $1 zone -> prints the key's base name
  (cd keys && ldns-keygen -a ECDSAP256SHA256 -k "$1")
}
sign() { # $1 zone file's base name  $2 origin  $3 key base name
  ldns-signzone -f "zones/$1.zone.signed" -o "$2" "zones/$1.zone" "keys/$3" >/dev/null
}
K_DANE=$(keygen dane.test.); sign dane.test dane.test. "$K_DANE"
K_BOGUS=$(keygen bogus.test.); sign bogus.test bogus.test. "$K_BOGUS"
K_N3=$(keygen n3.test.)
ldns-signzone -n -t 0 -f zones/n3.test.zone.signed -o n3.test. zones/n3.test.zone "keys/$K_N3" >/dev/null
# Break the signatures over bogus.test's MX set and mx-tlsa's TLSA set: flip
# the signature's first base64 character (the records stay; only the proof fails).
awk '$4 == "RRSIG" && ($5 == "MX" && $1 == "bogus.test." || $5 == "TLSA") {
       sig = $NF; c = substr(sig, 1, 1); $NF = (c == "A" ? "B" : "A") substr(sig, 2)
     } { print }' zones/bogus.test.zone.signed > zones/bogus.tmp
mv zones/bogus.tmp zones/bogus.test.zone.signed
cp zones/insecure.test.zone zones/insecure.test.zone.signed

{ soa test.
  cat <<EOF
ns.test. IN A 127.0.0.1
dane.test. IN NS ns.test.
bogus.test. IN NS ns.test.
insecure.test. IN NS ns.test.
n3.test. IN NS ns.test.
EOF
  cat "keys/$K_DANE.ds" "keys/$K_BOGUS.ds" "keys/$K_N3.ds"
} > zones/test.zone
K_TEST=$(keygen test.); sign test test. "$K_TEST"

{ printf '$TTL 300\n. IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300\n. IN NS ns.test.\n'
  echo "test. IN NS ns.test."
  echo "ns.test. IN A 127.0.0.1"
  cat "keys/$K_TEST.ds"
} > zones/root.zone
K_ROOT=$(keygen .); sign root . "$K_ROOT"
# The trust anchor: the root's DNSKEY (the KSK) in zone-file form; the
# same as DS records of the root and of test. (anchors of either kind).
grep -P '\sDNSKEY\s' "keys/$K_ROOT.key" > root.key
cp "keys/$K_ROOT.ds" root.ds
cp "keys/$K_TEST.ds" test.ds
chmod 644 root.key root.ds test.ds

# --- NSD -------------------------------------------------------------------
cat > nsd.conf <<EOF
# generated by dnssec-up.sh
server:
  ip-address: 127.0.0.1
  port: $TB_DNSSEC_PORT
  username: ""
  chroot: ""
  zonesdir: "$D/zones"
  database: ""
  zonelistfile: "$D/zone.list"
  xfrdfile: "$D/xfrd.state"
  xfrdir: "$D"
  pidfile: "$PIDF"
  logfile: "$D/nsd.log"
  server-count: 1
  verbosity: 1
remote-control:
  control-enable: no
EOF
for z in . test. dane.test. insecure.test. bogus.test. n3.test. unsigned.n3.test.; do
  f=${z%.}; [ -z "$f" ] && f=root
  printf 'zone:\n  name: "%s"\n  zonefile: "%s.zone.signed"\n' "$z" "$f" >> nsd.conf
done
nsd-checkconf nsd.conf
: > nsd.stderr
tb_spawn "$D/nsd.stderr" nsd -c "$D/nsd.conf" || { cat nsd.stderr nsd.log; tb_die "nsd failed to start"; }
tb_wait_listen udp 127.0.0.1 "$TB_DNSSEC_PORT" 10 || { cat nsd.log; tb_die "nsd not listening"; }
for i in $(seq 1 30); do tb_pid_alive "$PIDF" >/dev/null && break; sleep 0.1; done

tb_log "started in $(tb_elapsed "$T0") s: nsd pid $(tb_pid_alive "$PIDF" || echo '?') on 127.0.0.1:$TB_DNSSEC_PORT"
tb_log "  trust anchor $D/root.key; try: dig @127.0.0.1 -p $TB_DNSSEC_PORT +dnssec MX ee.dane.test"
tb_log "stop with: $HERE/dnssec-up.sh stop"
