#!/usr/bin/python3
"""keystone's OAuth1 delegation against `gpucloud up`, driven by keystoneclient's own OAuth1
client and keystoneauth1's oauth1 plugin (both sign with oauthlib, an implementation other than
gpucloud's): a consumer gets a request token, a user authorizes it for one role, the consumer
exchanges it for an access token and gets keystone tokens that carry that role only. Then the
attacks: a replayed signed request, a wrong secret, a second exchange, re-scoping the delegated
token, and the user deleting the access token. Prints 'N passed, N failed'; exits 1 on a failure.
"""
import os
import re
import sys
import tempfile

import requests
from keystoneauth1 import session as ks_session
from keystoneauth1.extras.oauth1 import v3 as oauth1_plugin
from keystoneauth1.identity import v3 as identity
from keystoneclient.v3 import client as ks_client
from oauthlib import oauth1

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "support"))
import gpucloud_up  # noqa: E402  (tests/support)

GPUCLOUD = sys.argv[1]
results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(("PASS " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)), flush=True)
    return ok


def password_session(auth_url, user, password, project):
    auth = identity.Password(auth_url=auth_url, username=user, password=password,
                             user_domain_id="default", project_name=project,
                             project_domain_id="default")
    return ks_session.Session(auth=auth)


def walk(base, admin_password):
    auth_url = base + "/identity/v3"
    admin = ks_client.Client(session=password_session(auth_url, "admin", admin_password, "admin"))
    lab = admin.projects.create(name="lab", domain="default")
    carol = admin.users.create(name="carol", password="carol-secret", domain="default")
    roles = {r.name: r for r in admin.roles.list()}
    admin.roles.grant(roles["member"], user=carol, project=lab)
    carol_ks = ks_client.Client(session=password_session(auth_url, "carol", "carol-secret", "lab"))

    consumer = admin.oauth1.consumers.create(description="ci consumer")
    check("an admin creates a consumer and sees its secret once",
          consumer.secret and consumer.description == "ci consumer", consumer)
    shown = admin.oauth1.consumers.get(consumer.id)
    check("the secret is not shown again", not hasattr(shown, "secret"), shown)

    rt = admin.oauth1.request_tokens.create(consumer.id, consumer.secret, lab.id)
    check("the consumer gets a request token for the project", rt.key and rt.secret, rt)
    try:
        carol_ks.oauth1.request_tokens.authorize(rt.key, [roles["admin"].id])
        check("a user cannot delegate a role it does not hold", False, "authorized")
    except Exception as e:  # keystoneclient raises Unauthorized
        check("a user cannot delegate a role it does not hold", "401" in str(e) or
              "Unauthorized" in type(e).__name__, e)
    verifier = carol_ks.oauth1.request_tokens.authorize(rt.key, [roles["reader"].id])
    verifier = verifier.oauth_verifier
    check("the user authorizes it for reader and gets a verifier", len(verifier) > 0, verifier)

    at = admin.oauth1.access_tokens.create(consumer.id, consumer.secret, rt.key, rt.secret,
                                           verifier)
    check("the consumer exchanges it for an access token", at.key and at.secret, at)
    try:
        admin.oauth1.access_tokens.create(consumer.id, consumer.secret, rt.key, rt.secret,
                                          verifier)
        check("a request token is exchanged once only", False, "exchanged twice")
    except Exception as e:
        check("a request token is exchanged once only", "401" in str(e) or
              "Unauthorized" in type(e).__name__, e)

    plugin = oauth1_plugin.OAuth1(auth_url=auth_url, consumer_key=consumer.id,
                                  consumer_secret=consumer.secret, access_key=at.key,
                                  access_secret=at.secret)
    delegated = ks_session.Session(auth=plugin)
    token = delegated.get_token()
    check("the consumer gets a keystone token with the oauth1 method", bool(token))
    r = requests.get(auth_url + "/auth/tokens",
                     headers={"X-Auth-Token": token, "X-Subject-Token": token})
    body = r.json()["token"] if r.status_code == 200 else {}
    check("the token is carol's on lab with the delegated role only",
          body.get("user", {}).get("id") == carol.id and body.get("project", {}).get("id") ==
          lab.id and [x["name"] for x in body.get("roles", [])] == ["reader"] and
          body.get("methods") == ["oauth1"] and
          body.get("OS-OAUTH1", {}).get("access_token_id") == at.key, r.text)

    compute = base + "/compute/v2.1"
    r = requests.get(compute + "/servers", headers={"X-Auth-Token": token})
    check("the delegated token reads the project's servers", r.status_code == 200, r.text)
    r = requests.post(compute + "/os-keypairs", headers={"X-Auth-Token": token},
                      json={"keypair": {"name": "k", "public_key": "ssh-ed25519 AAAA x"}})
    check("but cannot do what only a member may (403)", r.status_code == 403, r.text)
    r = requests.post(auth_url + "/auth/tokens",
                      json={"auth": {"identity": {"methods": ["token"],
                                                  "token": {"id": token}}}})
    check("the delegated token cannot make another token (403)", r.status_code == 403, r.text)

    # A signed request sent twice: the second is a replay.
    client = oauth1.Client(consumer.id, client_secret=consumer.secret,
                           signature_method=oauth1.SIGNATURE_HMAC, callback_uri="oob")
    url, headers, _ = client.sign(auth_url + "/OS-OAUTH1/request_token", http_method="POST",
                                  headers={"Requested-Project-Id": lab.id})
    first = requests.post(url, headers=headers)
    second = requests.post(url, headers=headers)
    check("a signed request is accepted once", first.status_code == 201, first.text)
    check("and its replay is refused (401)", second.status_code == 401, second.text)
    wrong = oauth1.Client(consumer.id, client_secret="not-the-secret",
                          signature_method=oauth1.SIGNATURE_HMAC, callback_uri="oob")
    url, headers, _ = wrong.sign(auth_url + "/OS-OAUTH1/request_token", http_method="POST",
                                 headers={"Requested-Project-Id": lab.id})
    r = requests.post(url, headers=headers)
    check("a wrong consumer secret is refused (401)", r.status_code == 401, r.text)
    check("and the secret is in no answer", "not-the-secret" not in r.text and
          consumer.secret not in r.text, r.text)

    mine = auth_url + "/users/%s/OS-OAUTH1/access_tokens" % carol.id
    carol_token = {"X-Auth-Token": carol_ks.session.get_token()}
    r = requests.get(mine, headers=carol_token)
    listed = [a["id"] for a in r.json().get("access_tokens", [])] if r.status_code == 200 else r
    check("carol lists her access token", listed == [at.key], r.text)
    r = requests.get(mine + "/" + at.key + "/roles", headers=carol_token)
    check("with the role it delegates", r.status_code == 200 and
          [x["name"] for x in r.json()["roles"]] == ["reader"], r.text)
    r = requests.get(mine, headers={"X-Auth-Token": token})
    check("a delegated token cannot list access tokens (403)", r.status_code == 403, r.text)
    r = requests.delete(mine + "/" + at.key, headers=carol_token)
    check("and deletes it", r.status_code == 204, r.text)
    r = requests.get(compute + "/servers", headers={"X-Auth-Token": token})
    check("the token made from it is refused at once (401)", r.status_code == 401, r.text)
    try:
        oauth1_plugin.OAuth1(auth_url=auth_url, consumer_key=consumer.id,
                             consumer_secret=consumer.secret, access_key=at.key,
                             access_secret=at.secret).get_token(ks_session.Session())
        check("and no new token is made with it", False, "token issued")
    except Exception as e:
        check("and no new token is made with it", "401" in str(e) or
              "Unauthorized" in type(e).__name__, e)

    admin.oauth1.consumers.delete(consumer.id)
    check("the consumer is deleted", consumer.id not in
          [c.id for c in admin.oauth1.consumers.list()])


def main():
    tmp = tempfile.mkdtemp(prefix="gpucloud-oauth1-")
    data = os.path.join(tmp, "data")
    up, base = gpucloud_up.start(GPUCLOUD, data)
    if not check("gpucloud up starts", base is not None):
        up.kill()
        sys.exit(1)
    password = None
    with open(os.path.join(data, "openrc")) as f:
        for line in f:
            m = re.match(r"export OS_PASSWORD='?([^'\n]*)'?", line)
            if m:
                password = m.group(1)
    try:
        walk(base, password)
    except Exception as e:  # an unexpected refusal is a failure, not a crash
        check("the walk runs to its end", False, repr(e))
    finally:
        up.terminate()
        up.wait(timeout=15)
    print("%d passed, %d failed" % (results["passed"], results["failed"]))
    sys.exit(1 if results["failed"] else 0)


if __name__ == "__main__":
    main()
