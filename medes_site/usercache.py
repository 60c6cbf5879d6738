"""The signed-in user and their roles, read from the shared cache instead of the database on every request.

Django's session middleware and authentication read the session, the user and (for the role checks) the user's
groups: three queries before a view runs. With ``MEDES_CACHE_URL`` set (a Redis every web process shares), the
session engine is ``cached_db`` and this backend keeps each user, roles included, in that cache. A change that
matters is seen at once by every process: saving or deleting a user, and changing who is in a group, forget the
cached copy (the receivers below); a password change also changes the session hash Django checks against the
cached user. An entry lives at most ``TTL`` seconds, a bound for a change made around the ORM's signals (a raw
``UPDATE``). Without a shared cache nothing is cached (``MEDES_CACHE_USERS`` is off): a process-local copy could
not be forgotten by the other processes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, User
from django.core.cache import cache
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.dispatch import receiver

from medes_site.roles import user_roles

TTL = 300


def _key(user_id: Any) -> str:
    return f"user:{user_id}"


class CachedModelBackend(ModelBackend):
    """ModelBackend whose ``get_user`` (the per-request read of the signed-in user) goes through the cache."""

    def get_user(self, user_id: Any) -> Any:
        if not settings.MEDES_CACHE_USERS:
            return super().get_user(user_id)
        user = cache.get(_key(user_id))
        if user is None:
            user = super().get_user(user_id)
            if user is None:
                return None
            user_roles(user)  # read once and kept on the object, so the cached copy carries the roles
            cache.set(_key(user_id), user, TTL)
        return user


def forget(*user_ids: Any) -> None:
    if settings.MEDES_CACHE_USERS and user_ids:
        cache.delete_many([_key(pk) for pk in user_ids])


@receiver(post_save, sender=User)
@receiver(post_delete, sender=User)
def _user_changed(sender: Any, instance: User, **kwargs: Any) -> None:
    forget(instance.pk)


@receiver(m2m_changed, sender=User.groups.through)
def _groups_changed(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: set[Any] | None, **kwargs: Any
) -> None:
    if not action.startswith("post_") and action != "pre_clear":
        return
    if not reverse:  # user.groups.…: this user
        forget(instance.pk)
    elif pk_set:  # group.user_set.add/remove(…): those users
        forget(*pk_set)
    else:  # group.user_set.clear(): everyone in it (read before the rows go)
        forget(*instance.user_set.values_list("pk", flat=True))


@receiver(post_save, sender=Group)
@receiver(pre_delete, sender=Group)  # before: a deleted group's memberships go first
def _group_changed(sender: Any, instance: Group, **kwargs: Any) -> None:
    """A renamed or deleted group changes its members' roles."""
    forget(*User.objects.filter(groups=instance.pk).values_list("pk", flat=True))
