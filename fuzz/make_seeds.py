#!/usr/bin/env python3
"""Writes the seed corpus in seeds/<target>/ from hand-written transcripts in
the styles of Postfix, Exim, OpenSMTPD, Office 365 and Gmail. Run it again
after editing; the files are committed, so the fuzzers need no Python."""

import base64
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))
SEEDS = os.path.join(HERE, "seeds")


def crlf(text):
    return "".join(line + "\r\n" for line in text.strip("\n").split("\n")).encode()


def b64(s):
    return base64.b64encode(s.encode()).decode()


# ---- server replies, one transcript each, in the order a client reads them

POSTFIX = crlf("""
220 mail.example.com ESMTP Postfix (Debian/GNU)
250-mail.example.com
250-PIPELINING
250-SIZE 10240000
250-VRFY
250-ETRN
250-STARTTLS
250-ENHANCEDSTATUSCODES
250-8BITMIME
250-DSN
250-SMTPUTF8
250 CHUNKING
220 2.0.0 Ready to start TLS
250-mail.example.com
250-PIPELINING
250-SIZE 10240000
250-AUTH PLAIN LOGIN
250-ENHANCEDSTATUSCODES
250-8BITMIME
250-DSN
250 CHUNKING
235 2.7.0 Authentication successful
250 2.1.0 Ok
250 2.1.5 Ok
550 5.1.1 <b@example.test>: Recipient address rejected: User unknown in local recipient table
354 End data with <CR><LF>.<CR><LF>
250 2.0.0 Ok: queued as 4F1C2A1234
221 2.0.0 Bye
""")

EXIM = crlf("""
220 mx.example.org ESMTP Exim 4.96 Mon, 30 Nov 2026 10:00:00 +0000
250-mx.example.org Hello client.example.test [192.0.2.1]
250-SIZE 52428800
250-8BITMIME
250-PIPELINING
250-PIPECONNECT
250-AUTH PLAIN LOGIN CRAM-MD5
250-CHUNKING
250 HELP
334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UuZXhhbXBsZS5uZXQ+
235 Authentication succeeded
250 OK
250 Accepted
250 Accepted
354 Enter message, ending with "." on a line by itself
250 OK id=1tQxyz-000ABC-2b
221 mx.example.org closing connection
""")

OPENSMTPD = crlf("""
220 mail.example.net ESMTP OpenSMTPD
250-mail.example.net Hello client.example.test [192.0.2.1], pleased to meet you
250-8BITMIME
250-ENHANCEDSTATUSCODES
250-SIZE 36700160
250-DSN
250 HELP
250 2.0.0 Ok
250 2.1.5 Destination address valid: Recipient ok
451 4.3.0 Temporary failure
354 Enter mail, end with "." on a line by itself
250 2.0.0 5a1b2c3d Message accepted for delivery
221 2.0.0 Bye
""")

OFFICE365 = crlf("""
220 AM0PR01CA0123.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 30 Nov 2026 10:00:00 +0000
250-AM0PR01CA0123.outlook.office365.com Hello [192.0.2.1]
250-SIZE 157286400
250-PIPELINING
250-DSN
250-ENHANCEDSTATUSCODES
250-STARTTLS
250-8BITMIME
250-BINARYMIME
250-CHUNKING
250 SMTPUTF8
220 2.0.0 SMTP server ready
250-AM0PR01CA0123.outlook.office365.com Hello [192.0.2.1]
250-SIZE 157286400
250-PIPELINING
250-DSN
250-ENHANCEDSTATUSCODES
250-AUTH LOGIN XOAUTH2
250-8BITMIME
250-BINARYMIME
250-CHUNKING
250 SMTPUTF8
334 VXNlcm5hbWU6
334 UGFzc3dvcmQ6
535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [AM0PR01CA0123.eurprd01.prod.exchangelabs.com 2026-11-30T10:00:00.000Z 08DC0000AAAA0000]
""")

OFFICE365_OK = crlf("""
220 AM0PR01CA0123.outlook.office365.com Microsoft ESMTP MAIL Service ready at Mon, 30 Nov 2026 10:00:00 +0000
250-AM0PR01CA0123.outlook.office365.com Hello [192.0.2.1]
250-SIZE 157286400
250-PIPELINING
250-ENHANCEDSTATUSCODES
250-AUTH LOGIN XOAUTH2
250-CHUNKING
250 SMTPUTF8
235 2.7.0 Authentication successful
250 2.1.0 Sender OK
250 2.1.5 Recipient OK
250 2.1.5 Recipient OK
250 2.6.0 <4d2f@client.example.test> [InternalId=123456789, Hostname=AM0PR01MB1234.eurprd01.prod.outlook.com] 1234 bytes in 0.042, 28.4 KB/sec Queued mail for delivery
250 2.0.0 OK <4d2f@client.example.test> [Hostname=AM0PR01MB1234.eurprd01.prod.outlook.com]
221 2.0.0 Service closing transmission channel
""")

GMAIL = crlf("""
220 smtp.gmail.com ESMTP a1-20020a170906000000b00123456789sm1234567ejb.12 - gsmtp
250-smtp.gmail.com at your service, [192.0.2.1]
250-SIZE 35882577
250-8BITMIME
250-STARTTLS
250-ENHANCEDSTATUSCODES
250-PIPELINING
250-CHUNKING
250 SMTPUTF8
220 2.0.0 Ready to start TLS
250-smtp.gmail.com at your service, [192.0.2.1]
250-SIZE 35882577
250-8BITMIME
250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH
250-ENHANCEDSTATUSCODES
250-PIPELINING
250-CHUNKING
250 SMTPUTF8
334 eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ==
535-5.7.8 Username and Password not accepted. For more information, go to
535 5.7.8  https://support.google.com/mail/?p=BadCredentials a1-20020a170906000000b00123456789sm1234567ejb.12 - gsmtp
""")

GMAIL_OK = crlf("""
220 smtp.gmail.com ESMTP a1-20020a170906000000b00123456789sm1234567ejb.12 - gsmtp
250-smtp.gmail.com at your service, [192.0.2.1]
250-SIZE 35882577
250-8BITMIME
250-AUTH LOGIN PLAIN XOAUTH2 PLAIN-CLIENTTOKEN OAUTHBEARER XOAUTH
250-ENHANCEDSTATUSCODES
250-PIPELINING
250-CHUNKING
250 SMTPUTF8
235 2.7.0 Accepted
250 2.1.0 OK a1-20020a17090600 - gsmtp
250 2.1.5 OK a1-20020a17090600 - gsmtp
550-5.1.1 The email account that you tried to reach does not exist. Please try
550-5.1.1 double-checking the recipient's email address for typos or
550-5.1.1 unnecessary spaces. For more information, go to
550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1-20020a17090600 - gsmtp
250 2.0.0 OK  1764496800 a1-20020a17090600 - gsmtp
421-4.7.0 Try again later, closing connection. (EHLO)
421 4.7.0  For more information, go to https://support.google.com/mail/answer/7000 - gsmtp
""")

ODD = crlf("""
220 odd.example ESMTP
250-odd.example
250-AUTH=LOGIN PLAIN
250-SIZE
250 STARTTLS
250
250 
554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org
421 4.4.2 odd.example Error: timeout exceeded
""") + b"250-bare LF line\n250 end\n500 no CR at the end"

REPLIES = {
    "postfix": POSTFIX,
    "exim": EXIM,
    "opensmtpd": OPENSMTPD,
    "office365-auth-disabled": OFFICE365,
    "office365": OFFICE365_OK,
    "gmail-bad-credentials": GMAIL,
    "gmail": GMAIL_OK,
    "odd-forms": ODD,
}

# ---- client commands, as a server reads them

PLAIN = b64("\0alice@example.test\0pw")
CLIENTS = {
    "submission": crlf(f"""
EHLO client.example.test
AUTH PLAIN {PLAIN}
MAIL FROM:<alice@example.test> SIZE=321 BODY=8BITMIME
RCPT TO:<bob@example.org>
RCPT TO:<carol@example.net>
DATA
From: Alice <alice@example.test>
To: bob@example.org
Subject: Quarterly report
Message-ID: <20261130100000.1@client.example.test>

Hello Bob,
..this line started with a dot.
.
QUIT
"""),
    "auth-login-starttls": crlf(f"""
EHLO [192.0.2.1]
STARTTLS
EHLO [192.0.2.1]
AUTH LOGIN
{b64("alice@example.test")}
{b64("pw")}
MAIL FROM:<> 
RCPT TO:<Postmaster>
DATA
Subject: bounce

delivery failed
.
RSET
NOOP
VRFY bob
QUIT
"""),
    "bdat": crlf("""
EHLO client.example.test
MAIL FROM:<alice@example.test> BODY=BINARYMIME SMTPUTF8
RCPT TO:<jörg@exämple.test>
""") + b"BDAT 12\r\nSubject: x\r\n" + b"BDAT 4 LAST\r\nhi\r\n" + b"QUIT\r\n",
    "smuggling-lf-dot-crlf": crlf("""
EHLO attacker.example
MAIL FROM:<a@attacker.example>
RCPT TO:<victim@example.test>
DATA
Subject: first
""") + b"first\n.\r\nMAIL FROM:<admin@example.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsecond\r\n.\r\nQUIT\r\n",
    "smuggling-crlf-dot-lf": crlf("""
EHLO attacker.example
MAIL FROM:<a@attacker.example>
RCPT TO:<victim@example.test>
DATA
""") + b"first\r\n.\nMAIL FROM:<admin@example.test>\r\nRCPT TO:<v@example.test>\r\nDATA\r\nsecond\r\n.\r\n",
    "header-injection": crlf("""
HELO legacy.example
MAIL FROM:<a@b\rX-Injected: 1>
MAIL FROM:<a@example.test>
RCPT TO:<b@example.test\rBcc: evil@example.org>
RCPT TO:<@relay.example,@r2.example:c@example.test>
RCPT TO:<"john q. public"@example.test>
RCPT TO:<x@[IPv6:2001:db8::1]>
DATA
.
QUIT
"""),
    "errors": crlf("""
XYZZY
EHLO
MAIL FROM:nobody
RCPT TO:<>
DATA extra
BDAT many
AUTH
AUTH CRAM-MD5
AUTH PLAIN
*
EHLO c
AUTH PLAIN =
""") + b"NOOP\n" + b"X" * 600 + b"\r\nQUIT\r\n",
}

ADDRESSES = [
    "alice@example.test", "", "Postmaster", "postmaster@example.test",
    "\"john q. public\"@example.test", "\"a\\\"b\"@example.test",
    "jörg@exämple.test", "x@[192.0.2.1]", "x@[IPv6:2001:db8::1]",
    "x@[tag:content]", "@relay.example,@r2.example:c@example.test",
    "first.last+tag@sub-1.example.co.uk", "o'brien!x@example.test",
    "a@b\rX-Injected: 1", "a..b@example.test", ".a@example.test",
    "a@-example.test", "a@example.test.", "a b@example.test",
    "alice@example.test,bob@example.org,carol@example.net",
    "a" * 65 + "@example.test", "a@" + "b" * 64 + ".test",
]

BODIES = {
    "plain": b"From: a@example.test\r\nSubject: hi\r\n\r\nHello\r\n",
    "dots": b".leading dot\n.\n..two\r\n.\r\nend",
    "bare-endings": b"a\rb\nc\r\n\r\n\n\r.\r\n.\n",
    "smuggling": b"text\n.\r\nMAIL FROM:<x@example.test>\r\n.\r\n",
    "long-line": b"x" * 1100 + b"\r\n." + b"y" * 1005 + b"\r\n",
    "utf8-8bit": "Grüße, Jörg — ½ €\r\n".encode() + bytes(range(256)),
    "empty": b"",
}


# ---- header values: subjects and display names as people write them

SUBJECTS = [
    "Hello",
    "Re: [list] Quarterly report (draft 3) -- please review by Friday",
    "Grüße aus Köln",
    "Fwd: 会議の議事録 / minutes",
    "Ünïcödé and a very long word: " + "x" * 120,
    "=?UTF-8?B?aGk=?= looks encoded but is not",
    "tab\tseparated   and  spaced ",
    "Re: Re: Re: Re: " + "word " * 40,
    "emoji 📬✉️ mail",
    "",
]

NAMES = [
    "Jörg Müller",
    "Smith, J.",
    'Alice "Al" Example',
    "Bob\\Backslash",
    "O'Brien",
    "Ремонт и сервис",
    "name with\ttab",
    "x" * 100,
    "   ",
    "Team <team@example.com>",
]

# ---- ready-made messages (--message FILE, sendmail)

MESSAGES = {
    "cron-lf": b"From: root@host.example (Cron Daemon)\nTo: admin@example.com\nSubject: Cron <root@host> run-parts /etc/cron.daily\nContent-Type: text/plain; charset=UTF-8\n\n/etc/cron.daily/logrotate:\nerror: skipping \"/var/log/app.log\"\n",
    "thunderbird": crlf("""
Message-ID: <3c1f6a2e-8b1d-4f0e-9d33-6a1b2c3d4e5f@example.com>
Date: Sat, 28 Nov 2026 17:00:00 +0100
MIME-Version: 1.0
User-Agent: Mozilla Thunderbird
Content-Language: en-GB
To: Bob <bob@example.com>, "Carol, C." <carol@example.org>
Cc: team: dave@example.com, erin@example.com;
Bcc: hidden@example.net,
 also-hidden@example.net
From: Alice <alice@example.com>
Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= and the
 agenda for Monday
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

Hi Bob,

.hidden dot line
.
-- 
Alice
"""),
    "outlook-multipart": crlf("""
From: =?utf-8?B?SsO2cmc=?= <jorg@contoso.com>
To: undisclosed-recipients:;
Resent-Bcc: audit@contoso.com
Subject: Report
Thread-Topic: Report
Content-Type: multipart/mixed;
\tboundary="_004_DB7PR0"
MIME-Version: 1.0

--_004_DB7PR0
Content-Type: text/plain; charset="us-ascii"

See attached.
--_004_DB7PR0
Content-Type: application/pdf; name="r.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQKJcOkw7zDtsOfCjIgMCBvYmoKPDwvTGVuZ3RoIDMgMCBSL0ZpbHRlci9GbGF0ZURl
--_004_DB7PR0--
"""),
    "headers-only": b"Subject: only a header\n",
    "utf8-header": "Subject: Grüße\r\nTo: jörg@example.com\r\n\r\nbody\r\n".encode(),
    "latin1-header": b"Subject: Gr\xfc\xdfe\r\nTo: a@example.com\r\n\r\nbody\r\n",
    "bare-cr": b"Subject: hi\rBcc: hidden@example.com\nTo: a@example.com\n\nbody\rmore\n",
    "mixed-ends": b"To: a@example.com\r\nSubject: x\n\r\nline1\r\nline2\nline3\rline4",
    "blank-first": b"\r\nno header at all\r\n",
    "long-header": b"X-Long: " + b"y" * 990 + b"\nTo: a@example.com\n\nbody\n",
}

# ---- configuration files; secrets carry the marker SECRET

CONFIGS = {
    "password": """
default = "work"
queue = "on-failure"
queue_lifetime = "5d"

[accounts.work]
server = "smtp.example.com:587"
tls = "starttls"
auth = "plain"
user = "alice@example.com"
from = "*@example.com"
password = "Zq7-fuzz-SECRET-pw"
""",
    "oauth": """
[accounts.o365]
preset = "office365"
user = "alice@contoso.com"
from = "alice@contoso.com"

[accounts.o365.oauth]
provider = "microsoft"
client_id = "00000000-aaaa-bbbb-cccc-123456789abc"
client_secret = "abc~SECRET~def"
tenant = "organizations"
flow = "device"
""",
    "inline": """
[accounts]
gmail = { preset = "gmail", user = "bob@gmail.com", password = "SECRET app pw", auth = "xoauth2" }
work = { server = "mx.example.org", port = 465, tls = "implicit", password = 12345678901 }
""",
    "wrong-types": """
[accounts.default]
server = "smtp.example.net"
port = "587"
password = ["SECRET"]
timeout = -1
""",
    "numeric-password": """
[accounts.work]
user = "u"
password = 20261128
""",
    "escaped": """
[accounts.work]
password = "SEC\\"RET\\\\SECRET\\u0041"
keyring = "SECRET-not-bool"
from = 'literal "quoted" SECRET'
""",
    "dkim-queue": """
queue_dir = "/var/spool/missive"
queue_backoff = "1m"
queue_backoff_max = "1h"
notify_failures = true

[accounts.work]
server = "smtp.example.com"
password_cmd = "pass show mail/work"
proxy = "socks5h://127.0.0.1:1080"
log = "syslog"
require_tls = true

[[accounts.work.dkim]]
domain = "example.com"
selector = "s2026"
key_file = "/etc/missive/dkim.pem"
algorithm = "ed25519"
headers = ["From", "To", "Subject"]
""",
    "multiline": """
[accounts.x]
password = '''
SECRET line one
line two'''
client_secret = 'SECRET'
unknown_key = 1
""",
}


def write(target, name, data):
    d = os.path.join(SEEDS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    shutil.rmtree(SEEDS, ignore_errors=True)
    for name, r in REPLIES.items():
        for seed in (0, 1, 2, 7):
            write("reply_parser", f"{name}-{seed}", bytes([seed]) + r)
        # flags: tls mode (2 bits), credentials (2), forced mechanism, plaintext
        # auth allowed, certificate verified, chunking; choice: mechanism/chunking
        # choice 0x20: send_envelope (0x10: with RCPTs); 0x40: quit_early
        # after read (choice >> 2) & 7 (--quit-after)
        for flags, choice in ((0x45, 0), (0x4A, 3), (0x4E, 1), (0x07, 130), (0xDB, 4), (0x24, 9),
                              (0x45, 0x34), (0x4A, 0x48), (0x07, 0x64)):
            write("client_session", f"{name}-{flags:02x}-{choice}", bytes([flags, choice]) + r)
    for name, c in CLIENTS.items():
        for seed in (0, 1, 2, 5):
            write("command_parser", f"{name}-{seed}", bytes([seed]) + c)
        for flags, choice, seed in ((0x80, 0, 0), (0x9A, 0x85, 0x80), (0x13, 0x0B, 3), (0x7F, 0x22, 0x81)):
            write("server_session", f"{name}-{flags:02x}-{choice:02x}-{seed}",
                  bytes([flags, choice, seed]) + c)
    for i, a in enumerate(ADDRESSES):
        write("envelope", f"address-{i:02}", a.encode())
    for name, b in BODIES.items():
        for seed in (0, 1, 2, 9):
            write("data_codec", f"{name}-{seed}", bytes([seed]) + b)
    for i, v in enumerate(SUBJECTS):
        write("header_encoder", f"subject-{i:02}", b"\x00" + v.encode())
    for i, v in enumerate(NAMES):
        write("header_encoder", f"name-{i:02}", b"\x01" + v.encode())
    for name, m in MESSAGES.items():
        for flags in (0, 1):
            write("ready_reader", f"{name}-{flags}", bytes([flags]) + m)
    for name, c in CONFIGS.items():
        for mode in (0, 2, 5):
            write("config_loader", f"{name}-{mode}", bytes([mode]) + c.lstrip("\n").encode())
    for t in sorted(os.listdir(SEEDS)):
        print(f"{t}: {len(os.listdir(os.path.join(SEEDS, t)))} seeds")


if __name__ == "__main__":
    main()
