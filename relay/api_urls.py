from __future__ import annotations

from django.urls import path, re_path
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import serializers
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.authtoken.views import ObtainAuthToken

from management import api_views as models_api
from novels import api_views as novels_api
from relay.common.api import LoginAccountThrottle, LoginThrottle, errors, not_found
from voting import api_views as voting_api


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Authorization: Token <token> 헤더로 보내세요")


class TokenView(ObtainAuthToken):
    """Trade a username and password for an API token (scripts)."""

    # Per address, and per account at every door (the log-in page and the admin count the same attempts).
    throttle_classes = [LoginThrottle, LoginAccountThrottle]

    @extend_schema(
        summary="API 토큰 받기",
        request=AuthTokenSerializer,
        responses={200: TokenSerializer, **errors(400)},
        auth=[],
    )
    def post(self, request, *args, **kwargs):
        return super().post(request, *args, **kwargs)


urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file of its own: no inline script under the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("auth/token/", TokenView.as_view(), name="api-token"),
    path("novels/", voting_api.NovelListView.as_view(), name="api-novels"),
    path("novels/<int:pk>/", voting_api.NovelDetailView.as_view(), name="api-novel"),
    path("novels/<int:pk>/turns/", voting_api.NovelTurnsView.as_view(), name="api-novel-turns"),
    path("novels/<int:pk>/revert/", voting_api.NovelRevertView.as_view(), name="api-novel-revert"),
    path("novels/<int:pk>/finish/", voting_api.NovelFinishView.as_view(), name="api-novel-finish"),
    path("novels/<int:pk>/round/", voting_api.CurrentRoundView.as_view(), name="api-novel-round"),
    path("novels/<int:pk>/cast/", voting_api.NovelCastView.as_view(), name="api-novel-cast"),
    path(
        "novels/<int:pk>/cast/<int:change>/undo/",
        voting_api.CastChangeUndoView.as_view(),
        name="api-novel-cast-undo",
    ),
    path("turns/<int:pk>/", novels_api.TurnDetailView.as_view(), name="api-turn"),
    path("turns/<int:pk>/explanation/", novels_api.TurnExplanationView.as_view(), name="api-turn-explanation"),
    path("turns/<int:pk>/approve/", voting_api.TurnApproveView.as_view(), name="api-turn-approve"),
    path("turns/<int:pk>/reject/", voting_api.TurnRejectView.as_view(), name="api-turn-reject"),
    path("review/turns/", novels_api.ReviewQueueView.as_view(), name="api-review-turns"),
    path("rounds/<int:pk>/", voting_api.RoundDetailView.as_view(), name="api-round"),
    path("rounds/<int:pk>/proposals/", voting_api.ProposalListView.as_view(), name="api-round-proposals"),
    path("rounds/<int:pk>/vote/", voting_api.VoteView.as_view(), name="api-round-vote"),
    path("rounds/<int:pk>/candidate-vote/", voting_api.CandidateVoteView.as_view(), name="api-round-candidate-vote"),
    path("rounds/<int:pk>/close/", voting_api.RoundCloseView.as_view(), name="api-round-close"),
    path("jobs/<int:pk>/", voting_api.JobDetailView.as_view(), name="api-job"),
    path("sources/", novels_api.SourceListView.as_view(), name="api-sources"),
    path("sources/<int:pk>/", novels_api.SourceDetailView.as_view(), name="api-source"),
    path("sources/<int:pk>/vote/", novels_api.SourceVoteView.as_view(), name="api-source-vote"),
    path("sources/<int:pk>/approve/", novels_api.SourceApproveView.as_view(), name="api-source-approve"),
    path("sources/<int:pk>/reject/", novels_api.SourceRejectView.as_view(), name="api-source-reject"),
    path("models/", models_api.ModelListView.as_view(), name="api-models"),
    path("models/active/", models_api.ActiveModelView.as_view(), name="api-model-active"),
    path("models/<int:pk>/", models_api.ModelDetailView.as_view(), name="api-model"),
    path("training-runs/", models_api.TrainingRunListView.as_view(), name="api-training-runs"),
    path("training-runs/start/", models_api.TrainingRunStartView.as_view(), name="api-training-run-start"),
    path("training-runs/<int:pk>/stop/", models_api.TrainingRunStopView.as_view(), name="api-training-run-stop"),
    path("blind-rounds/", models_api.BlindRoundListView.as_view(), name="api-blind-rounds"),
    path("blind-rounds/<int:pk>/", models_api.BlindRoundDetailView.as_view(), name="api-blind-round"),
    path("blind-rounds/<int:pk>/vote/", models_api.BlindRoundVoteView.as_view(), name="api-blind-round-vote"),
    path("training-runs/<int:pk>/", models_api.TrainingRunDetailView.as_view(), name="api-training-run"),
    re_path(r"^[\s\S]*$", not_found),  # [\s\S], not ".": an address with a newline in it too
]
