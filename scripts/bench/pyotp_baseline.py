"""pyotp's TOTP.verify(valid_window=1) on one core: the baseline for the OTP core.
Prints nanoseconds per verification for a valid and a wrong code."""
import timeit

import pyotp

SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"  # RFC 6238's "12345678901234567890"
T = 1_800_000_015
totp = pyotp.TOTP(SECRET)
valid = totp.at(T)
wrong = "111111" if valid == "000000" else "000000"

for name, code in (("valid", valid), ("wrong", wrong)):
    assert totp.verify(code, for_time=T, valid_window=1) == (name == "valid")
    n = 20000
    best = min(timeit.repeat(lambda: totp.verify(code, for_time=T, valid_window=1), number=n, repeat=5))
    print(f"pyotp verify {name}: {best / n * 1e9:.0f} ns")
