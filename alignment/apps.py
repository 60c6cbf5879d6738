"""The alignment app's start-up: registers the job kinds (alignment.kinds), the guardian's suggestions for
reviewers, and the retrain-after-new-labels hook on accepted labels."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlignmentConfig(AppConfig):
    name = "alignment"
    verbose_name = _("Alignment")

    def ready(self) -> None:
        # imported here, not at the top: these import models, which Django loads only after the app registry
        from django.db import transaction
        from django.db.models.signals import post_save

        from alignment.kinds import (  # noqa: F401 - registers the job kinds
            evaluate,
            judge,
            pairs,
            policy,
            prompt_judge,
            targeted,
            train_guardian,
        )
        from alignment.services import maybe_retrain, suggestions
        from annotation import suggestions as annotation_suggestions
        from annotation.models import AcceptedLabel

        annotation_suggestions.register(suggestions)  # shown to an annotator only after they submitted

        def accepted(sender: object, created: bool = False, **kwargs: object) -> None:
            if created:  # annotation knows nothing of the guardian: it listens here
                transaction.on_commit(maybe_retrain)

        post_save.connect(accepted, sender=AcceptedLabel, dispatch_uid="guardian-retrain", weak=False)
