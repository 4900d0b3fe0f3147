#!/usr/bin/env python3
"""Writes the seed corpora, dictionaries' companions and regression inputs under tests/fuzz/.

Seeds are real valid inputs (OpenSSL ClientHellos from Python's ssl module over a memory
BIO, the unit tests' packets and bodies, the shipped example configs) plus edge cases.
Re-run after changing it: python3 tests/fuzz/seeds.py (deterministic except ClientHello
randoms). Files are small; each name says what it is.
"""
import os
import ssl
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def write(kind, target, name, data):
    d = os.path.join(HERE, kind, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def seed(target, name, data):
    write("corpus", target, name, data)


def client_hello(sni, tls13_only=False, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls13_only:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    if alpn:
        ctx.set_alpn_protocols(alpn)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def u32(v):
    return struct.pack(">I", v)


def startup(params, version=0x00030000):
    body = u32(version) + b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in params) + b"\0"
    return u32(len(body) + 4) + body


def msg(t, body):
    return t.encode() + u32(len(body) + 4) + body


def sasl_body(mechs):
    return u32(10) + b"".join(m.encode() + b"\0" for m in mechs) + b"\0"


def error_body(fields):
    return b"".join(t.encode() + v.encode() + b"\0" for t, v in fields) + b"\0"


def main():
    # --- client_hello
    for name, sni in [("db.example.com", "db.example.com"), ("long-label", "a" * 63 + ".example.org"),
                      ("idn", "xn--bcher-kva.example")]:
        seed("client_hello", "openssl-sni-" + name, client_hello(sni))
    seed("client_hello", "openssl-no-sni", client_hello(None))
    seed("client_hello", "openssl-tls13-alpn", client_hello("pg.internal", True, ["postgresql"]))
    h = client_hello("split.example.com")
    # The same hello split over two TLS records (the parser reassembles them).
    body = h[5:]
    cut = 40
    seed("client_hello", "two-records",
         h[:3] + struct.pack(">H", cut) + body[:cut] + h[:3] + struct.pack(">H", len(body) - cut) + body[cut:])
    seed("client_hello", "truncated-header", h[:4])
    seed("client_hello", "not-handshake", b"\x17\x03\x03\x00\x05hello")

    # --- proxy_header
    seed("proxy_header", "v1-tcp4", "PROXY TCP4 198.51.100.7 10.0.0.5 51234 5432\r\nrest")
    seed("proxy_header", "v1-tcp6", "PROXY TCP6 2001:db8::1 2001:db8::2 4000 5432\r\n")
    seed("proxy_header", "v1-unknown", "PROXY UNKNOWN\r\n")
    seed("proxy_header", "v1-max-length", "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n")
    sig = b"\x0d\x0a\x0d\x0a\x00\x0d\x0a\x51\x55\x49\x54\x0a"
    v4 = bytes([192, 0, 2, 80, 10, 0, 0, 5]) + struct.pack(">HH", 51253, 5432)
    tlv = b"\x04\x00\x04xyzw"
    seed("proxy_header", "v2-tcp4-tlv", sig + b"\x21\x11" + struct.pack(">H", len(v4) + len(tlv)) + v4 + tlv)
    v6 = bytes(range(16)) + bytes(range(16, 32)) + struct.pack(">HH", 4000, 5432)
    seed("proxy_header", "v2-tcp6", sig + b"\x21\x21" + struct.pack(">H", len(v6)) + v6)
    seed("proxy_header", "v2-local", sig + b"\x20\x00\x00\x00")
    seed("proxy_header", "v2-unix", sig + b"\x21\x31" + struct.pack(">H", 216) + bytes(216))
    seed("proxy_header", "startup-not-proxy", startup([("user", "app")]))

    # --- first_packet
    seed("first_packet", "startup", startup([("user", "app"), ("database", "orders"),
                                             ("application_name", "psql"), ("client_encoding", "UTF8")]))
    seed("first_packet", "startup-options", startup([("user", "u"), ("options", "-c search_path=x")]))
    seed("first_packet", "startup-3.2", startup([("user", "u"), ("_pq_.x", "1")], 0x00030002))
    seed("first_packet", "ssl-request", u32(8) + u32(80877103))
    seed("first_packet", "gssenc-request", u32(8) + u32(80877104))
    seed("first_packet", "cancel-3.0", u32(16) + u32(80877102) + u32(4242) + b"\x01\x02\x03\x04")
    seed("first_packet", "cancel-3.2", u32(12 + 32) + u32(80877102) + u32(4242) + bytes(range(32)))
    seed("first_packet", "protocol-2", u32(8) + u32(0x00020000))
    seed("first_packet", "tls-direct", b"\x16\x03\x01\x00\x05")

    # --- backend_messages (first byte: frame limit selector)
    auth = (msg("R", sasl_body(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]))
            + msg("R", u32(11) + b"r=abc,s=c2FsdA==,i=4096")
            + msg("R", u32(12) + b"v=dmVyaWZpZXI=")
            + msg("R", u32(0)) + msg("S", b"server_version\x0016.1\x00")
            + msg("K", u32(77) + b"\x0a\x0b\x0c\x0d") + msg("Z", b"I"))
    seed("backend_messages", "scram-login", b"\x01" + auth)
    seed("backend_messages", "error-fatal", b"\x20" + msg("E", error_body(
        [("S", "FATAL"), ("V", "FATAL"), ("C", "28P01"), ("M", "password authentication failed"),
         ("D", "detail"), ("H", "hint")])))
    seed("backend_messages", "notice-and-key-3.2", b"\x01" + msg("N", error_body([("S", "NOTICE"), ("M", "x")]))
         + msg("K", u32(1) + bytes(range(32))))
    seed("backend_messages", "auth-md5", b"\x01" + msg("R", u32(5) + b"salt"))

    # --- sasl: authentication request bodies
    seed("sasl", "sasl-plus-and-plain", sasl_body(["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]))
    seed("sasl", "sasl-plain", sasl_body(["SCRAM-SHA-256"]))
    seed("sasl", "sasl-empty-list", sasl_body([]))
    seed("sasl", "sasl-continue", u32(11) + b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
    seed("sasl", "sasl-final", u32(12) + b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    seed("sasl", "auth-ok", u32(0))

    # --- frame_tracker (first byte: chunking seed)
    seed("frame_tracker", "query-result", b"\x05" + msg("T", b"\x00\x01a\x00" + bytes(18))
         + msg("D", b"\x00\x01\x00\x00\x00\x011") + msg("C", b"SELECT 1\x00") + msg("Z", b"I"))
    seed("frame_tracker", "terminate", b"\x00" + msg("Q", b"select 1\x00") + msg("X", b""))
    seed("frame_tracker", "bad-length", b"\x09" + b"D\x00\x00\x00\x02" + msg("Z", b"I"))

    # --- batch
    seed("batch", "ndjson-sequence", "{\"sequence\": 7}\n"
         "{\"collection\":\"customer\",\"id\":\"c1\",\"op\":\"upsert\",\"version\":3,"
         "\"data\":{\"name\":\"A\",\"id\":\"c1\"}}\n\n"
         "{\"collection\":\"customer\",\"id\":42,\"op\":\"delete\",\"version\":4}\n")
    seed("batch", "array", '[{"collection":"c","id":"1","version":1,"data":{}}]')
    seed("batch", "object-types", '{"sequence": 3, "records": [{"collection":"c","id":"1","version":1,'
         '"data":{"x":1, "t":"2024-01-02T03:04:05Z"}, "types": {"x": "numeric", "t": "timestamptz"}}]}')
    seed("batch", "crlf-pretty", "{\r\n  \"records\": [\r\n    {\"collection\": \"c\", \"id\": 2, \"version\": 5,\r\n"
         "     \"data\": {\"a\": [1, {\"b\": null}]}}\r\n  ],\r\n  \"sequence\": 9\r\n}\r\n")
    seed("batch", "escapes-unicode", '[{"collection":"c\\u00e9","id":"\\ud83d\\ude00","version":2,'
         '"data":{"s":"tab\\t nl\\n quote\\" bs\\\\ \\/","n":-1.5e+10,"b":false,"z":null,"big":123456789012345678901}}]')
    seed("batch", "dedupe", '[{"collection":"c","id":"1","version":2,"data":{"x":1}},'
         '{"collection":"c","id":"1","version":1,"data":{"x":2}},{"collection":"c","id":"1","version":2,"op":"delete"},'
         '{"collection":"d","id":"1","version":1,"data":{"x":"a"}}]')
    seed("batch", "deep", "[" * 130 + "]" * 130)
    seed("batch", "empty", "  \n")
    seed("batch", "number-beyond-double", " \n 1e6108\n")

    # --- cidr_allowlist: lines
    seed("cidr_allowlist", "mixed", "10.0.0.0/8\n192.168.1.0/24\n2001:db8::/32\n::ffff:10.1.0.0/112\n"
         "10.1.2.3\n192.168.2.1\n2001:db8::1\n::ffff:192.168.1.7\n0.0.0.0/0\n")
    seed("cidr_allowlist", "hosts", "127.0.0.1\n::1\n[::1]\n198.51.100.7/32\n2001:db8::1/128\n")
    seed("cidr_allowlist", "bad", "10.0.0.1/8\n1.2.3.4/33\n::/129\n1.2.3.4/\n/8\nfe80::1%eth0\n")

    # --- config_yaml: whole files
    for f in sorted(os.listdir(os.path.join(ROOT, "config", "examples"))):
        if f.endswith(".yaml"):
            with open(os.path.join(ROOT, "config", "examples", f), "rb") as src:
                seed("config_yaml", "example-" + f, src.read())
    seed("config_yaml", "minimal", "region: test\nlisteners:\n  - name: pg\n    listen: 127.0.0.1:6432\n"
         "    client_tls: disabled\nroutes:\n  - name: db\n    upstream: {host: 127.0.0.1, port: 5432}\n")
    seed("config_yaml", "anchors-flow", "defaults: &d {host: 127.0.0.1, port: 5432}\nroutes:\n"
         "  - {name: a, upstream: *d}\n  - name: b\n    upstream:\n      <<: *d\n      port: 5433\n")
    seed("config_yaml", "typos", "listners: []\nroutes: 3\nworkers: -1\nshutdown_grace: 5 parsecs\n")

    # --- http_ingest / http_admin (first byte: read size selector)
    ingest = ("POST /v1/sync/orders/batches?sequence=7 HTTP/1.1\r\nHost: 127.0.0.1:8443\r\n"
              "Authorization: Bearer s3cret\r\nContent-Type: application/x-ndjson\r\nContent-Length: 47\r\n\r\n"
              '{"collection":"c","id":"1","version":1,"data":{}}'[:47])
    seed("http_ingest", "post-batch", b"\x07" + ingest.encode())
    seed("http_ingest", "post-chunked", b"\x85" + (
        "POST /v1/sync/orders/batches HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer t\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\n[{}]\n\r\n0\r\n\r\n").encode())
    seed("http_ingest", "too-large", b"\x3f" + b"POST /v1/sync/a/batches HTTP/1.1\r\nContent-Length: 99999999999\r\n\r\n")
    seed("http_ingest", "pipelined-keepalive", b"\x01" + b"GET /v1/sync/a HTTP/1.1\r\nHost: x\r\n\r\n"
         b"POST /v1/sync/a/batches HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n[]")
    seed("http_admin", "get-metrics", b"\x10" + b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9187\r\nAccept: */*\r\n\r\n")
    seed("http_admin", "post-reload", b"\x02" + b"POST /v1/reload HTTP/1.1\r\nHost: x\r\n"
         b"Authorization: Bearer abc\r\nContent-Length: 0\r\n\r\n")
    seed("http_admin", "head-healthz", b"\x40" + b"HEAD /healthz HTTP/1.0\r\n\r\n")
    seed("http_admin", "folded-header", b"\x03" + b"GET /v1/status HTTP/1.1\r\nX-A: 1\r\n  continued\r\n\r\n")

    # --- sasl: SCRAM server messages terminate mode's server leg parses (RFC 7677's example)
    seed("sasl", "server-first-rfc7677", u32(11) + b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
         b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
    seed("sasl", "server-first-our-nonce", u32(11) + b"r=fyko+d2lbbFgONRv9qkxdawLabc,s=QSXCR+Q6sek8bf92,i=1")
    seed("sasl", "server-first-extension", u32(11) + b"r=fyko+d2lbbFgONRv9qkxdawLx,s=c2FsdA==,i=2,x=y")
    seed("sasl", "server-final-rfc7677", u32(12) + b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
    seed("sasl", "server-final-error", u32(12) + b"e=invalid-proof")

    # --- pool_watch (first byte: chunking seed): backend replies and client requests
    status = msg("S", b"application_name\x00psql\x00") + msg("S", b"TimeZone\x00UTC\x00")
    seed("pool_watch", "reset-reply", b"\x03" + msg("C", b"DISCARD ALL\x00") + status + msg("Z", b"I"))
    seed("pool_watch", "query-result", b"\x11" + msg("T", b"\x00\x01a\x00" + bytes(18))
         + msg("D", b"\x00\x01\x00\x00\x00\x011") + msg("C", b"SELECT 1\x00") + msg("Z", b"T"))
    seed("pool_watch", "error-then-ready", b"\x07" + msg("E", error_body([("S", "ERROR"), ("C", "42601"),
         ("M", "syntax error")])) + msg("Z", b"E"))
    seed("pool_watch", "copy-in", b"\x02" + msg("G", b"\x00\x00\x00") + msg("c", b"") + msg("Z", b"I"))
    seed("pool_watch", "copy-both", b"\x05" + msg("W", b"\x00\x00\x00") + msg("d", b"xyz"))
    seed("pool_watch", "client-extended-then-terminate", b"\x09" + msg("P", b"\x00select 1\x00\x00\x00")
         + msg("B", bytes(8)) + msg("E", b"\x00\x00\x00\x00\x00") + msg("S", b"") + msg("Q", b"select 2\x00")
         + msg("F", bytes(10)) + msg("X", b""))
    seed("pool_watch", "short-length", b"\x01" + b"Z\x00\x00\x00\x02" + msg("Z", b"I"))
    seed("pool_watch", "ready-two-bytes", b"\x04" + msg("Z", b"II") + msg("S", b"a\x00b"))

    # --- scram_login: flags (bits 0-1 secret: 0 SCRAM, 1 unknown user, 2 md5; bit 2 TLS),
    # 2-byte length and SASLInitialResponse (or md5 PasswordMessage), then SASLResponse.
    def login(flags, first, second=b""):
        return bytes([flags]) + struct.pack(">H", len(first)) + first + second

    def initial(mech, data):
        return mech.encode() + b"\0" + u32(len(data)) + data

    cnonce = b"rOprNGfwEbeRWgbNEkqO"
    final = b"c=biws,r=" + cnonce + b"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    seed("scram_login", "scram-n", login(0, initial("SCRAM-SHA-256", b"n,,n=,r=" + cnonce), final))
    seed("scram_login", "scram-y-no-tls", login(0, initial("SCRAM-SHA-256", b"y,,n=alice,r=" + cnonce),
                                               final.replace(b"c=biws", b"c=eSws")))
    seed("scram_login", "scram-plus-tls", login(4, initial("SCRAM-SHA-256-PLUS",
         b"p=tls-server-end-point,,n=,r=" + cnonce), b"c=cD10bHMtc2VydmVyLWVuZC1wb2ludCwsq6ur,r=x,p=AAAA"))
    seed("scram_login", "scram-y-downgrade-tls", login(4, initial("SCRAM-SHA-256", b"y,,n=,r=" + cnonce)))
    seed("scram_login", "scram-extension", login(0, initial("SCRAM-SHA-256", b"n,,n=,r=abc,x=1,y=2"),
                                                b"c=biws,r=abcdef,x=z,p=" + b"A" * 43 + b"="))
    seed("scram_login", "scram-authzid", login(0, initial("SCRAM-SHA-256", b"n,a=bob,n=,r=abc")))
    seed("scram_login", "unknown-user", login(1, initial("SCRAM-SHA-256", b"n,,n=,r=" + cnonce), final))
    seed("scram_login", "bad-length", login(0, b"SCRAM-SHA-256\0\x00\x00\x00\x09n,,n=,r=x"))
    seed("scram_login", "md5-response", login(2, b"md5" + b"0123456789abcdef" * 2 + b"\0"))

    # --- auth_file: PgBouncer's format
    seed("auth_file", "pgbouncer-example", '"alice" "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$'
         'WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPZ'
         'd6+Zs="\n"bob" "md5' + "0123456789abcdef" * 2 + '"\n; comment\n# another\n\n'
         '"carol" "plain ""quoted"" password" trailing words ignored\n')
    seed("auth_file", "errors", '"dup" "a"\n"dup" "b"\n"" "x"\n"y" ""\nnoquotes x\n"open\n"a""b"\n'
         '"u" "SCRAM-SHA-256$0:xx$yy:zz"\n"t"\t"tab"\r\n')
    seed("auth_file", "crlf-and-blanks", ' \t "u1"  "p1" \r\n\r\n\v; c\r\n"u2" "p2"')

    # --- regressions: the defects issue 16 reported
    hello = bytes.fromhex("1603010038010000340303" + "11" * 32 + "00000213010100000900000005ffff00fff0")
    assert len(hello) == 61
    write("regressions", "client_hello", "issue16-server-name-list-overrun", hello)
    # Lengths near 2^32 (an early harness bug looped on them).
    write("regressions", "frame_tracker", "huge-lengths", b"\x7f" + b"\xff" * 25)
    # Accepted before issue 16's fixes; the targets' invariants refuse them now.
    write("regressions", "proxy_header", "issue16-v1-nul-in-address",
          b"PROXY TCP4 127.0.0.1\0zz 10.0.0.5 51234 5432\r\n")
    write("regressions", "cidr_allowlist", "issue16-nul-and-negative-prefix", b"127.0.0.1\0zz\n10.0.0.0/-0\n")
    # Aborted the process before issue 16's fix (a key that is not a string).
    write("regressions", "config_yaml", "issue16-sequence-as-key", "[a, b]: 1\n")


if __name__ == "__main__":
    sys.exit(main())
