#!/usr/bin/env python3
"""Writes the seed corpus under fuzz/corpus/<target>/: one real request per route
of http::ROUTES (read from shared/src/http/mod.rs, so indices follow the table),
real pushes, a real multipart upload, each /v1 body. Run from anywhere; rerun
after adding a route (a route without an entry below still gets a bare seed)."""
import hashlib
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SEP = b"\xff"

# Content types, by index (fuzz/src/http.rs CONTENT_TYPES).
JSON, MULTIPART, XML, NO_CT = 0, 1, 2, 3
KEY, NO_KEY = 0, 170
SEAL = 1

TICKET_PUSH = (b"<xml><AppId><![CDATA[wx134c8103faa5a59e]]></AppId>\n<CreateTime>1767225600</CreateTime>\n"
               b"<InfoType><![CDATA[component_verify_ticket]]></InfoType>\n<ComponentVerifyTicket><![CDATA["
               b"ticket@@@lEHjsBEi_TPDey0IZxw4Zbb7JRYLOtEf9ksvDpSwzkwog3R6xEpdaK0yIee7JOyOXM0V7cp0dpM58GKmb8FSKA]]>"
               b"</ComponentVerifyTicket>\n</xml>")
AUTHORIZED_PUSH = (b"<xml>\n<AppId>wx134c8103faa5a59e</AppId>\n<CreateTime>1767225600</CreateTime>\n"
                   b"<InfoType>authorized</InfoType>\n<AuthorizerAppid>wxba5fad812f8e6fb9</AuthorizerAppid>\n"
                   b"<AuthorizationCode>queryauthcode@@@cNt5Rj2-Lu4x0</AuthorizationCode>\n"
                   b"<AuthorizationCodeExpiredTime>1767229200</AuthorizationCodeExpiredTime>\n"
                   b"<PreAuthCode>preauthcode@@@O0pNMvCzH2N</PreAuthCode>\n</xml>")
TEXT_MESSAGE = (b"<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA["
                b"o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName><CreateTime>1767225600</CreateTime><MsgType>"
                b"<![CDATA[text]]></MsgType><Content><![CDATA[TESTCOMPONENT_MSG_TYPE_TEXT]]></Content>"
                b"<MsgId>1234567890123456</MsgId></xml>")
JOB_FINISHED = (b"<xml><ToUserName><![CDATA[gh_7f083739789a]]></ToUserName><FromUserName><![CDATA["
                b"oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName><CreateTime>1767225600</CreateTime><MsgType>"
                b"<![CDATA[event]]></MsgType><Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>200163836"
                b"</MsgID><Status><![CDATA[failed:user block]]></Status></xml>")

TEMPLATE = (b'{"touser":["oSbx01Follower00000000000001"],"template_id":"SimTpl01OrderShipped",'
            b'"url":"https://shop.example.com/orders/1042","data":{"first":{"value":"Your order shipped",'
            b'"color":"#173177"},"keyword1":"A-1001"}}')
MASS = b'{"tag_id":100,"msgtype":"text","text":{"content":"Hello"}}'
CUSTOM = b'{"touser":"oSbx01Follower00000000000001","msgtype":"text","text":{"content":"Thanks!"}}'
NEWS = (b'{"type":"news","articles":[{"title":"Spring sale","thumb_media_id":"MEDIA_ID",'
        b'"content":"<p>20% off</p>"}]}')
LINK = b'{"tenant":"acme","return_url":"https://erp.example.com/wechat/done"}'
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8ffff3f0005fe02fea7d6a4e40000000049454e44ae426082")
UPLOAD = (b'--fuzzboundary\r\nContent-Disposition: form-data; name="type"\r\n\r\nimage\r\n'
          b'--fuzzboundary\r\nContent-Disposition: form-data; name="media"; filename="a.png"\r\n'
          b'Content-Type: image/png\r\n\r\n' + PNG + b'\r\n--fuzzboundary--\r\n')

# (method, pattern) -> list of (auth, content type, flags, params, query, headers, body)
REQUESTS = {
    ("GET", "/wechat/component/events"): [(NO_KEY, NO_CT, SEAL, b"", b"echostr=3858712384", b"", b"")],
    ("POST", "/wechat/component/events"): [(NO_KEY, XML, SEAL, b"", b"", b"", TICKET_PUSH),
                                           (NO_KEY, XML, SEAL, b"", b"", b"", AUTHORIZED_PUSH)],
    ("GET", "/wechat/authorizers/{appid}/events"): [(NO_KEY, NO_CT, SEAL, b"", b"echostr=1", b"", b"")],
    ("POST", "/wechat/authorizers/{appid}/events"): [(NO_KEY, XML, SEAL, b"", b"", b"", TEXT_MESSAGE),
                                                     (NO_KEY, XML, SEAL, b"", b"", b"", JOB_FINISHED)],
    ("GET", "/authorize/{link_id}"): [(NO_KEY, NO_CT, 0, b"", b"",
                                       b"user-agent: Mozilla/5.0 (iPhone) MicroMessenger/8.0.47", b"")],
    ("GET", "/authorize/{link_id}/callback"): [(NO_KEY, NO_CT, 0, b"",
                                                b"auth_code=queryauthcode@@@cNt5Rj2&expires_in=3600", b"", b"")],
    ("POST", "/v1/authorization-links"): [(KEY, JSON, 0, b"", b"", b"", LINK)],
    ("GET", "/v1/authorizers"): [(KEY, NO_CT, 0, b"", b"tenant=acme&limit=10", b"", b"")],
    ("GET", "/v1/authorizers/{appid}"): [(KEY, NO_CT, 0, b"", b"", b"", b"")],
    ("GET", "/v1/authorizers/{appid}/access-token"): [(KEY, NO_CT, 0, b"", b"", b"", b"")],
    ("POST", "/v1/authorizers/{appid}/template-messages"): [(KEY, JSON, 0, b"", b"", b"idempotency-key: order-1042", TEMPLATE)],
    ("POST", "/v1/authorizers/{appid}/mass-messages"): [(KEY, JSON, 0, b"", b"", b"", MASS)],
    ("GET", "/v1/authorizers/{appid}/mass-messages/{msg_id}"): [(KEY, NO_CT, 0, b"", b"", b"", b"")],
    ("POST", "/v1/authorizers/{appid}/custom-messages"): [(KEY, JSON, 0, b"", b"", b"", CUSTOM)],
    ("POST", "/v1/authorizers/{appid}/media"): [(KEY, MULTIPART, 0, b"", b"", b"", UPLOAD),
                                                (KEY, JSON, 0, b"", b"", b"", NEWS)],
    ("GET", "/v1/jobs/{job_id}"): [(KEY, NO_CT, 0, b"", b"cursor=0&limit=100", b"", b"")],
    ("GET", "/healthz"): [(NO_KEY, NO_CT, 0, b"", b"", b"", b"")],
    ("GET", "/v1/openapi.json"): [(NO_KEY, NO_CT, 0, b"", b"", b"", b"")],
}


def sealed(message):
    """A push body as WeChat sends it, under the key fuzz/src/envelope.rs uses
    (AES-256-CBC, IV = key[:16], PKCS#7 to 32 bytes; random, length, message, appid)."""
    import base64
    import struct
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    key = base64.b64decode("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG=")
    appid = b"wx134c8103faa5a59e"
    plain = b"0123456789abcdef" + struct.pack(">I", len(message)) + message + appid
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypt = base64.b64encode(enc.update(plain) + enc.finalize())
    return b"<xml><ToUserName><![CDATA[" + appid + b"]]></ToUserName><Encrypt><![CDATA[" + encrypt + b"]]></Encrypt></xml>"


def routes():
    text = open(os.path.join(ROOT, "shared/src/http/mod.rs"), encoding="utf-8").read()
    return re.findall(r'Route \{ method: "(\w+)", pattern: "([^"]+)"', text)


def write(target, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def main():
    for index, (method, pattern) in enumerate(routes()):
        for auth, ct, flags, params, query, headers, body in REQUESTS.get((method, pattern), [(KEY, NO_CT, 0, b"", b"", b"", b"")]):
            # Choices: route, method (0 = the route's own), auth, content type, flags.
            head = bytes([index, 0, auth, ct, flags])
            write("http", head + params + SEP + query + SEP + headers + SEP + body)
    write("multipart", b"multipart/form-data; boundary=fuzzboundary\n" + UPLOAD)
    for body in (TEMPLATE, MASS, CUSTOM, NEWS, LINK):
        write("bodies", body)
    write("callbacks", b"auth_code=queryauthcode@@@cNt5Rj2&expires_in=3600")
    write("callbacks", b"no-such-link\nauth_code=x")
    for push in (TICKET_PUSH, AUTHORIZED_PUSH, TEXT_MESSAGE, JOB_FINISHED):
        write("push_xml", push)
        write("envelope", sealed(push))


if __name__ == "__main__":
    main()
