"""Test key material for the uplink tests: never used outside them, never secret.

A self-signed P-256 certificate (CN=vmsgw-test-uplink, valid until 2126) with its
key, a key that does not match it, and its key encrypted with the passphrase
``test``.  Made once with openssl; kept as text so no test needs openssl.
"""

CERT = """\
-----BEGIN CERTIFICATE-----
MIIBjzCCATWgAwIBAgIUESvQxt2NJxRaXQoJV/63CtUxutUwCgYIKoZIzj0EAwIw
HDEaMBgGA1UEAwwRdm1zZ3ctdGVzdC11cGxpbmswIBcNMjYxMTIxMDYwNTE0WhgP
MjEyNjEwMjgwNjA1MTRaMBwxGjAYBgNVBAMMEXZtc2d3LXRlc3QtdXBsaW5rMFkw
EwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEyvciFT0pFjzL93ytUjXRwXblefoGnrS9
6EsLNZwBruOlsCbuCxA6cdBX7nbPqBVC3InkGSMi0TyI8/5gIbQfa6NTMFEwHQYD
VR0OBBYEFLDTZMIIpi2gksexBmfkR4/yslv8MB8GA1UdIwQYMBaAFLDTZMIIpi2g
ksexBmfkR4/yslv8MA8GA1UdEwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIh
AICfaFtg1arD/5inZ5sGnFch0qGI3iWes2IpM6FIminMAiBzn02C8wRIAFLN05sc
H2vCB15V3foiIJf9PhYJUp412w==
-----END CERTIFICATE-----
"""

KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgpuTFeYbFFLhIvXB0
gkUjClsI9js6CDRKx1+b0YwI2ZihRANCAATK9yIVPSkWPMv3fK1SNdHBduV5+gae
tL3oSws1nAGu46WwJu4LEDpx0Ffuds+oFULcieQZIyLRPIjz/mAhtB9r
-----END PRIVATE KEY-----
"""

OTHER_KEY = """\
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg1kkrpsaquVW1kfbd
kL2nA9W7bM1l94B+88OmHZ3YGhehRANCAATcv/pEfzOa3CkaE0fp30x4r7+JoRam
MWj0lOqFAVCEu6KNGsvryz3V4kbKA9J0WDxkMd9yxdBJafcElg/Tlpbg
-----END PRIVATE KEY-----
"""

ENCRYPTED_KEY = """\
-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiCZOs67jNpiQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEAloM2ZO8jOiYuJvKE5V7fMEgZDk
ojQpLPBG8tGoa1aX7fHVFRz8umN3zNXoIt/P3yNQQKjonfdBOm/m1dZeHobNLqxq
Ta5lPKQaUfB8LPSFbf8NxoOZmNvMF0vAKU5SCAPT+1T38y26Z/bNbYJXEMVkrDQe
4QMu27HjDeqfcHyIFhG3U4pCSW+l6prv6ffkmXomKVfeBYZEoio539GYLO/7TJc=
-----END ENCRYPTED PRIVATE KEY-----
"""
