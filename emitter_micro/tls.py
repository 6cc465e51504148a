"""TLS for secure=True: verified against a CA by default, never silently unverified."""
import ssl


def context(options):
    """Return the SSLContext for the options 'ca' (DER bytes or a file path) and 'verify'."""
    ca = options.get("ca")
    verify = options.get("verify", True)
    if verify and not ca:
        raise ValueError("secure=True needs 'ca': the broker's CA certificate (DER bytes or a file path), "
                         "as MicroPython has no CA store; or verify=False for an unverified link")
    if not hasattr(ssl, "SSLContext"):
        raise ValueError("this firmware's ssl has no SSLContext and cannot verify: update it")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        if isinstance(ca, str):
            with open(ca, "rb") as f:
                ca = f.read()
        ctx.load_verify_locations(cadata=ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.verify_mode = ssl.CERT_NONE
    return ctx
