from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView

from annotate.views import account

# Redoc (the API docs page, not our code) styles itself with injected <style> elements and
# runs its search in a blob: worker; the rest of the site keeps the strict policy.
_redoc_csp = csp_update({"style-src": [UNSAFE_INLINE], "worker-src": ["blob:"], "img-src": ["data:"]})

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="annotate:home", permanent=False)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/token/", account.api_token, name="api-token"),
    path("accounts/token/revoke/", account.api_token_revoke, name="api-token-revoke"),
    path("admin/", admin.site.urls),
    path("annotate/", include("annotate.urls")),
    path("alignment/", include("alignment.urls")),
    path("api/", include("annotate.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", _redoc_csp(SpectacularRedocView.as_view(url_name="schema")), name="api-docs"),
]
