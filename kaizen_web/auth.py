"""Login throttling: django-axes counts failed logins per username and per client address.

Axes' backend refuses to authenticate without a request. A call without one is not a login over
the network (a management command, the test client's ``login()``), so this backend lets it pass
to the next backend instead of failing; every login through a page or the API has a request and
is counted.
"""

from __future__ import annotations

from axes.backends import AxesStandaloneBackend


class LoginThrottleBackend(AxesStandaloneBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
