from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

# Accounts: log in and out, and the one-time link an invited member sets a password with (no
# "forgot password" form that mails: installs may have no mail server; admins send a new invite).
accounts = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("reset/<uidb64>/<token>/", auth_views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("reset/done/", auth_views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include(accounts)),
    path("api/", include("audit.api_urls")),
    path("api/", include("graphs.api.urls")),
    path("api/", include("triggers.api_urls")),
    path("audit/", include("audit.urls")),
    path("metrics", include("audit.metrics_urls")),
    path("", include("apitokens.urls")),
    path("workspaces/", include("workspaces.urls")),
    path("", include("graphs.views.urls")),
    path("", include("triggers.urls")),  # /hooks/t/<id>/ and the graph page's triggers panel
]
