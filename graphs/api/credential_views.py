"""/api/credentials/: names and hints only; the key goes in, never out."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..credentials import credential_set
from ..models import Credential
from .serializers import StrictSerializer


class CredentialInSerializer(StrictSerializer):
    name = serializers.RegexField(r"^[A-Za-z0-9_.\-]{1,100}$")
    api_key = serializers.CharField(min_length=1, max_length=4000, trim_whitespace=True, write_only=True)
    base_url = serializers.URLField(required=False, allow_blank=True, default="")


class CredentialRotateSerializer(StrictSerializer):
    api_key = serializers.CharField(min_length=1, max_length=4000, write_only=True)


class CredentialOutSerializer(serializers.ModelSerializer):
    class Meta:
        model = Credential
        fields = ["name", "hint", "base_url", "created_at", "rotated_at"]


class CredentialListView(APIView):
    @extend_schema(responses=CredentialOutSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(CredentialOutSerializer(Credential.objects.filter(owner_id=request.user.pk).order_by("name"), many=True).data)

    @extend_schema(request=CredentialInSerializer, responses={201: CredentialOutSerializer})
    def post(self, request: Request) -> Response:
        data = CredentialInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential, created = credential_set(owner=request.user, **data.validated_data)
        return Response(CredentialOutSerializer(credential).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CredentialDetailView(APIView):
    @extend_schema(request=CredentialRotateSerializer, responses=CredentialOutSerializer)
    def put(self, request: Request, name: str) -> Response:
        get_object_or_404(Credential, owner=request.user, name=name)
        data = CredentialRotateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        credential, _ = credential_set(owner=request.user, name=name, api_key=data.validated_data["api_key"])
        return Response(CredentialOutSerializer(credential).data)

    def delete(self, request: Request, name: str) -> Response:
        get_object_or_404(Credential, owner=request.user, name=name).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
