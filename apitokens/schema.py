"""The token authentication in the OpenAPI schema (/api/docs/ offers "Authorize: Bearer")."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PersonalAccessTokenScheme(OpenApiAuthenticationExtension):
    target_class = "apitokens.auth.PersonalAccessTokenAuthentication"
    name = "personalAccessToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A personal access token (Settings → API tokens)."}
