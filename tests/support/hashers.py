"""A password hasher for users the tests create.

Django 6 hashes with PBKDF2 at 1,500,000 iterations: 0.35 s a user on this 2-core machine,
and the common project fixture makes four users, so hashing took ~1.4 s of every live
test's set-up. The iteration count is stored in the hash, so a server on Django's stock
hasher verifies these (and re-hashes at full strength when such a user signs in).
"""

from django.contrib.auth.hashers import PBKDF2PasswordHasher


class OneIterationPBKDF2(PBKDF2PasswordHasher):
    iterations = 1
